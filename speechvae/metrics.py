"""Objective measures of reconstructed mel-cepstra.

Conventions (state them with every figure): mel-cepstra of order 39 (c0..c39) at the features'
fs and alpha (16 kHz: alpha 0.41); c0 (power) is excluded, so distortion is over c1..c39.

>>> import numpy as np
>>> a = np.zeros((4, 40)); b = a.copy(); b[:, 1] = 0.1
>>> round(mcd_db(a, b), 3)   # 10/ln10 * sqrt(2 * 0.01)
0.614
"""
from __future__ import annotations

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


def utterance_metrics(ref: np.ndarray, est: np.ndarray, f0: np.ndarray) -> dict:
    """MCD over all and voiced frames (dB) and mean GV ratio of one utterance."""
    return {
        "frames": int(len(ref)),
        "voiced_frames": int(np.sum(np.asarray(f0) > 0)),
        "mcd_db": mcd_db(ref, est),
        "mcd_voiced_db": mcd_db(ref, est, np.asarray(f0) > 0),
        "gv_ratio": float(np.mean(gv_ratio(ref, est))),
    }


def summarize(per_utt: dict[str, dict]) -> dict:
    """Frame-weighted MCDs (voiced MCD weighted by voiced frames) and the utterance-mean GV ratio over utterances."""
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
    }
