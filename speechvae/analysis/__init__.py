"""From recordings to a feature folder: audio in and out (:mod:`~speechvae.analysis.audio`), WORLD analysis and
synthesis (:mod:`~speechvae.analysis.features`), mel-cepstra (:mod:`~speechvae.analysis.mcep`), F0 ranges from the
data (:mod:`~speechvae.analysis.f0range`), the inputs a command is given (:mod:`~speechvae.analysis.inputs`), a
corpus analysed in parallel (:mod:`~speechvae.analysis.corpus`), the feature folder object
(:mod:`~speechvae.analysis.featdir`), normalisation statistics (:mod:`~speechvae.analysis.stats`), train / dev /
eval lists (:mod:`~speechvae.analysis.splits`), the modulation spectrum (:mod:`~speechvae.analysis.modspec`) and DTW
alignment (:mod:`~speechvae.analysis.align`).
"""
