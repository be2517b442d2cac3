"""Measures: MCD and GV ratio (:mod:`~speechvae.evaluation.metrics`), how it sounds (PESQ, STOI, DNSMOS, speaker
similarity: :mod:`~speechvae.evaluation.quality`), a model's evaluation (:mod:`~speechvae.evaluation.evaluate`),
the linear baselines of the same shape (PCA, k-means VQ: :mod:`~speechvae.evaluation.baselines`) and speaker
leakage of a code (:mod:`~speechvae.evaluation.leakage`).
"""
