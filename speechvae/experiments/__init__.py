"""Grids of training runs: a sweep over config keys (:mod:`~speechvae.experiments.sweep`) and rate-distortion beside
PCA of the same shape (:mod:`~speechvae.experiments.rd`).
"""
