"""Using a trained model: load it and reconstruct, encode, decode or convert (:mod:`~speechvae.inference.model`),
the post-filters toward a speaker's statistics (:mod:`~speechvae.inference.postfilter`), the rate of a code
(:mod:`~speechvae.inference.rate`) and code folders on disk (:mod:`~speechvae.inference.codes`).
"""
