"""What a person looks at: listening pages of a model (:mod:`~speechvae.report.listening`) and of a conversion
(:mod:`~speechvae.report.conversion_page`), the many-speaker matrix page (:mod:`~speechvae.report.matrix_page`), a
model's plots (:mod:`~speechvae.report.model_plots`), latent views (:mod:`~speechvae.report.latent_views`) and the
HTML they share (:mod:`~speechvae.report.html`).
"""
