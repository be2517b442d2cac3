"""speechvae: learn compact latent codes of speech spectra.

audio -> features (WORLD + mel-cepstra) -> stats -> model (VAE) -> reconstruction -> vocoder / metrics / plots.
"""
__version__ = "0.1.0"

import warnings as _warnings

# pyworld 0.3.5 and pysptk 1.0.1 import pkg_resources, which warns on every import; this one
# message says nothing to a speechvae user (setuptools<81 is pinned), so only it is hidden.
_warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
