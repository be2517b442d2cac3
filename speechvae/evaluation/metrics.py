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

from speechvae.analysis.align import SILENCE_DB, dtw_path, speech_frames
from speechvae.analysis.featdir import feature_path
from speechvae.analysis.features import Features

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


def mcd(ref, est, *, voiced: bool = False) -> float:
    """Mel-cepstral distortion in dB between two versions of one utterance, frame by frame (no alignment), over
    c1..c39: :class:`~speechvae.analysis.features.Features` or ``(T, 40)`` arrays of the same frames (a
    reconstruction and its input, say). ``voiced``: only the frames voiced in ``ref``. The figure ``speechvae
    evaluate`` reports for one utterance (``mcd_db``, ``mcd_voiced_db``).

    >>> a = np.zeros((4, 40)); b = a.copy(); b[:, 1] = 0.1
    >>> round(mcd(a, b), 3)   # 10 / ln 10 * sqrt(2 * 0.1 ** 2)
    0.614
    """
    r = ref.mcep if isinstance(ref, Features) else np.asarray(ref)
    e = est.mcep if isinstance(est, Features) else np.asarray(est)
    if not voiced:
        return mcd_db(r, e)
    if not isinstance(ref, Features):
        raise ValueError("mcd(..., voiced=True) needs the reference's F0: pass Features")
    return mcd_db(r, e, ref.f0 > 0)


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

    per_utt = {}
    for u in utt_ids:
        f = Features.load(feature_path(featdir, u))
        per_utt[u] = utterance_metrics(f.mcep, rebuild(f).mcep, f.f0)
    return {**summarize(per_utt), "per_utterance": per_utt}


# How a DTW MCD between two recordings of one sentence is measured. Published conversion figures differ in
# exactly these settings, so every figure names its protocol and the JSON beside it carries this table.
MCD_PROTOCOLS = {
    "speechvae": {"coefficients": "c1..cD (c0, the power, excluded)",
                  "frames": f"speech frames: within {SILENCE_DB:g} dB of each utterance's loudest frame",
                  "alignment": "DTW on c1..cD (Euclidean), the converted frames aligned to the reference's",
                  "averaged_over": "the reference's frames"},
    "c0_voiced": {"coefficients": "c0..cD (c0 included)",
                  "frames": "voiced frames (F0 > 0) of each utterance",
                  "alignment": "DTW on c1..cD (Euclidean), the converted frames aligned to the reference's",
                  "averaged_over": "the reference's frames"},
}


def dtw_mcd(ref, est, protocol: str = "speechvae") -> dict:
    """MCD (dB) between two utterances of the same text spoken at different times (e.g. a converted
    utterance and the target speaker's recording), under one of :data:`MCD_PROTOCOLS`: by default c1..c39 over
    speech frames (silent frames of each dropped); ``"c0_voiced"``: c0..c39 over voiced frames, as crank and
    others report it. ``est``'s frames are DTW-aligned to ``ref``'s (:func:`speechvae.analysis.align.dtw_path`,
    Euclidean on c1..c39) and the MCD averaged over ``ref``'s; the F0 RMSE in cents over aligned frames voiced
    in both.

    ``ref``, ``est``: :class:`speechvae.analysis.features.Features`. Returns ``{"mcd_db", "frames", "f0_rmse_cents",
    "voiced_pairs"}`` (``f0_rmse_cents`` NaN when no aligned pair is voiced in both; ``mcd_db`` NaN when a
    protocol leaves no frame).
    """

    if protocol == "speechvae":
        r, e = speech_frames(ref.power_db), speech_frames(est.power_db)
    elif protocol == "c0_voiced":
        r, e = ref.f0 > 0, est.f0 > 0
    else:
        raise ValueError(f"MCD protocol {protocol!r}: one of {', '.join(MCD_PROTOCOLS)}")
    if not r.any() or not e.any():
        return {"mcd_db": float("nan"), "frames": 0, "f0_rmse_cents": float("nan"), "voiced_pairs": 0}
    rm, em = ref.mcep[r], est.mcep[e]
    if len(em) > 2 * len(rm) - 1:  # the aligner's slope limit: align the other way round
        path_e = dtw_path(em[:, 1:], rm[:, 1:])
        pairs = (np.asarray(path_e), np.arange(len(em)))
    else:
        pairs = (np.arange(len(rm)), dtw_path(rm[:, 1:], em[:, 1:]))
    if protocol == "c0_voiced":
        d = _K * np.sqrt(2.0 * np.sum((rm[pairs[0]] - em[pairs[1]]) ** 2, axis=1))
    else:
        d = mcd_per_frame(rm[pairs[0]], em[pairs[1]])
    f0r, f0e = ref.f0[r][pairs[0]], est.f0[e][pairs[1]]
    both = (f0r > 0) & (f0e > 0)
    cents = 1200.0 * np.log2(f0e[both] / f0r[both])
    return {"mcd_db": float(d.mean()), "frames": int(len(d)),
            "f0_rmse_cents": float(np.sqrt(np.mean(cents**2))) if both.any() else float("nan"),
            "voiced_pairs": int(both.sum())}
