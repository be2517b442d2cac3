"""Objective measures of reconstructed mel-cepstra.

Conventions (state them with every figure): mel-cepstra of order 39 (c0..c39) at the features'
fs and alpha (16 kHz: alpha 0.41); c0 (power) is excluded, so distortion is over c1..c39.

>>> import numpy as np
>>> a = np.zeros((4, 40)); b = a.copy(); b[:, 1] = 0.1
>>> round(mcd_db(a, b), 3)   # 10/ln10 * sqrt(2 * 0.01)
0.614
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

_K = 10.0 / np.log(10.0)


def mcd_per_frame(ref: np.ndarray, est: np.ndarray) -> np.ndarray:
    """Mel-cepstral distortion per frame, dB: 10/ln10 * sqrt(2 * sum_{d=1..D} (c_d - c'_d)^2).

    ref, est: ``(T, order+1)`` mel-cepstra with c0 in column 0 (excluded). Returns ``(T,)``.
    """
    ref, est = np.asarray(ref), np.asarray(est)
    if ref.shape != est.shape:
        raise ValueError(f"shape mismatch: {ref.shape} vs {est.shape}")
    diff = ref[:, 1:] - est[:, 1:]
    return _K * np.sqrt(2.0 * np.sum(diff**2, axis=1))


def mcd_db(ref: np.ndarray, est: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean MCD (dB) over frames (c0 excluded), optionally over ``mask`` frames only (e.g. voiced)."""
    d = mcd_per_frame(ref, est)
    if mask is not None:
        d = d[np.asarray(mask, dtype=bool)]
    return float(np.mean(d)) if len(d) else float("nan")


def gv(mcep: np.ndarray) -> np.ndarray:
    """Global variance: per-dimension variance over frames of c1..c39, ``(T, 40) -> (39,)``."""
    return np.var(np.asarray(mcep)[:, 1:], axis=0)


def gv_ratio(ref: np.ndarray, est: np.ndarray) -> np.ndarray:
    """Per-dimension GV(est) / GV(ref) for c1..c39 ``(39,)``; 1 = no over-smoothing, < 1 = shrinkage."""
    return gv(est) / np.maximum(gv(ref), 1e-12)


OUTLIER_DB = (2.0, 4.0)  # frames above these MCDs are counted: the outlier criterion of spectral quantisation


def utterance_metrics(ref: np.ndarray, est: np.ndarray, f0: np.ndarray) -> dict:
    """MCD over all and voiced frames (dB), mean GV ratio and frames above 2 / 4 dB of one utterance."""
    d = mcd_per_frame(ref, est)
    return {
        "frames": int(len(ref)),
        "voiced_frames": int(np.sum(np.asarray(f0) > 0)),
        "mcd_db": mcd_db(ref, est),
        "mcd_voiced_db": mcd_db(ref, est, np.asarray(f0) > 0),
        "gv_ratio": float(np.mean(gv_ratio(ref, est))),
        **{f"frames_over_{t:g}db": int(np.sum(d > t)) for t in OUTLIER_DB},
    }


def summarize(per_utt: dict[str, dict]) -> dict:
    """Frame-weighted MCDs (voiced MCD weighted by voiced frames), the utterance-mean GV ratio and the share
    of frames above 2 and 4 dB over utterances."""
    if not per_utt:
        return {"mcd_db": float("nan"), "mcd_voiced_db": float("nan"), "gv_ratio": float("nan"), "frames": 0}
    w = np.array([m["frames"] for m in per_utt.values()], dtype=float)
    mcd = np.array([m["mcd_db"] for m in per_utt.values()])
    mv = np.array([m["mcd_voiced_db"] for m in per_utt.values()])
    wv = np.array([m["voiced_frames"] for m in per_utt.values()], dtype=float)
    ok = np.isfinite(mv) & (wv > 0)
    return {
        "mcd_db": float(np.sum(w * mcd) / w.sum()),
        "mcd_voiced_db": float(np.sum(wv[ok] * mv[ok]) / wv[ok].sum()) if ok.any() else float("nan"),
        "gv_ratio": float(np.mean([m["gv_ratio"] for m in per_utt.values()])),
        "frames": int(w.sum()),
        **{f"share_over_{t:g}db": sum(m.get(f"frames_over_{t:g}db", 0) for m in per_utt.values()) / w.sum()
           for t in OUTLIER_DB},
    }


def score(featdir: str | Path, utt_ids: list[str], rebuild: Callable) -> dict:
    """The one evaluation of a reconstruction, for models and baselines alike: MCD (dB, c1..c39, all and
    voiced frames), GV ratio and the share of frames above 2 / 4 dB of ``rebuild(features)`` vs the input.

    Returns ``{"mcd_db", "mcd_voiced_db", "gv_ratio", "frames", "share_over_2db", "share_over_4db",
    "per_utterance": {utt: {...}}}``.
    """
    from .features import Features
    from .store import feature_path

    per_utt = {}
    for u in utt_ids:
        f = Features.load(feature_path(featdir, u))
        per_utt[u] = utterance_metrics(f.mcep, rebuild(f).mcep, f.f0)
    return {**summarize(per_utt), "per_utterance": per_utt}
