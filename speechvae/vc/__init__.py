"""Voice conversion: convert a folder to a target speaker, the references every converter stands beside (no
conversion, mean/std matching), its scoring against the target's recordings of the same sentences (DTW MCD, F0
RMSE), how it sounds (speaker similarity, DNSMOS) and the many-speaker matrix.

Modules: :mod:`~speechvae.vc.convert` (``speechvae convert``), :mod:`~speechvae.vc.references` (``speechvae baseline
vc``), :mod:`~speechvae.vc.evaluate` (``speechvae evaluate-vc``), :mod:`~speechvae.vc.quality`,
:mod:`~speechvae.vc.matrix` (``speechvae matrix``).
"""
