"""speechvae: learn compact latent codes of speech spectra.

audio -> WORLD features and mel-cepstra (:mod:`speechvae.analysis`) -> a VAE (:mod:`speechvae.models`, trained by
:mod:`speechvae.training`) -> reconstructions, codes and conversions (:mod:`speechvae.inference`, :mod:`speechvae.vc`)
-> WORLD resynthesis, measures (:mod:`speechvae.evaluation`) and listening pages (:mod:`speechvae.report`); a
residual VQ-VAE is also a speech codec (:mod:`speechvae.codec`: wavs to bitstream files and back).

The functions a notebook needs are here, each the same code a ``speechvae`` command runs:

>>> import speechvae as sv
>>> import pysptk
>>> feats = sv.analyze(pysptk.util.example_audio_file())     # Features: f0 (T,) Hz, mcep (T, 40), bap, ...
>>> samples, fs = sv.synthesize(feats)                       # WORLD copy synthesis
>>> round(sv.mcd(feats, feats), 3)                           # dB over c1..c39
0.0

They are loaded on first use, so ``import speechvae`` stays light (no torch until a model is asked for).
"""
from __future__ import annotations

import importlib
import warnings as _warnings

from speechvae.version import __version__

# pyworld 0.3.5 and pysptk 1.0.1 import pkg_resources, which warns on every import; this one
# message says nothing to a speechvae user (setuptools<81 is pinned), so only it is hidden.
_warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

# public name -> (module, name there)
_API = {
    # analysis
    "Features": ("speechvae.analysis.features", "Features"),
    "analyze": ("speechvae.analysis.features", "analyze"),
    "synthesize": ("speechvae.analysis.features", "synthesize"),
    "analyze_folder": ("speechvae.analysis.corpus", "analyze_folder"),
    "FeatureFolder": ("speechvae.analysis.featdir", "FeatureFolder"),
    "Stats": ("speechvae.analysis.stats", "Stats"),
    "sp_to_mcep": ("speechvae.analysis.mcep", "sp_to_mcep"),
    "mcep_to_sp": ("speechvae.analysis.mcep", "mcep_to_sp"),
    # configuration
    "Config": ("speechvae.config", "Config"),
    "load_config": ("speechvae.config", "load_config"),
    # training and inference
    "train": ("speechvae.training.loop", "fit"),
    "Model": ("speechvae.inference.model", "Model"),
    "load_model": ("speechvae.inference.model", "load_model"),
    "encode_folder": ("speechvae.inference.codes", "encode_folder"),
    "decode_folder": ("speechvae.inference.codes", "decode_folder"),
    # the speech codec
    "Codec": ("speechvae.codec.codec", "Codec"),
    "load_codec": ("speechvae.codec.codec", "load_codec"),
    "encode_bitstreams": ("speechvae.codec.folder", "encode_files"),
    "decode_bitstreams": ("speechvae.codec.folder", "decode_files"),
    "evaluate_codecs": ("speechvae.evaluation.codecs", "judge_codecs"),
    # evaluation
    "mcd": ("speechvae.evaluation.metrics", "mcd"),
    "gv_ratio": ("speechvae.evaluation.metrics", "gv_ratio"),
    "evaluate": ("speechvae.evaluation.evaluate", "evaluate"),
    # voice conversion and pages
    "convert_folder": ("speechvae.vc.convert", "convert_folder"),
    "evaluate_conversion": ("speechvae.vc.evaluate", "evaluate_conversion"),
    "build_report": ("speechvae.report.listening", "build_report"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module 'speechvae' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
