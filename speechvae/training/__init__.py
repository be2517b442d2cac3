"""Training: the data a run trains on (:mod:`~speechvae.training.data`), the steps of one epoch
(:mod:`~speechvae.training.steps`, with the hand-written step of :mod:`~speechvae.training.fused_step`), the epoch
loop with checkpoints, resume and early stopping (:mod:`~speechvae.training.loop`), the frame store for corpora
larger than memory (:mod:`~speechvae.training.framestore`) and the DTW-aligned frame pairs of parallel sentences
(:mod:`~speechvae.training.pairs`).
"""
