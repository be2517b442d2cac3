"""Post-filters that undo a decoder's over-smoothing, toward a speaker's statistics: the global-variance (GV) one
and the modulation-spectrum one (Takamichi et al., 2016). Both act on ``(T, 39)`` c1..c39 of one utterance.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import istft

from speechvae.analysis.modspec import SEGMENT, mean_log_power, segment_stft


def gv_weights(pf, dims: int) -> np.ndarray:
    """``(dims,)`` GV post-filter weights of c1..c<dims> under a :class:`~speechvae.config.PostfilterConfig`:
    ``gv_weight``, and ``gv_weight_high`` from c<gv_high_from> up when that is set.

    >>> from speechvae.config import PostfilterConfig
    >>> gv_weights(PostfilterConfig(gv_weight=0.2, gv_high_from=4, gv_weight_high=1.0), 5).tolist()
    [0.2, 0.2, 0.2, 1.0, 1.0]
    >>> gv_weights(PostfilterConfig(gv_weight=0.7), 3).tolist()
    [0.7, 0.7, 0.7]
    """
    w = np.full(dims, pf.gv_weight)
    if pf.gv_high_from:
        w[pf.gv_high_from - 1:] = pf.gv_weight_high
    return w


def gv_postfilter(mcep_1: np.ndarray, target_gv: np.ndarray, weight: float | np.ndarray = 1.0) -> np.ndarray:
    """Scale each dim of ``(T, 39)`` c1..c39 about its utterance mean so that its variance over
    the utterance equals ``target_gv`` ``(39,)`` (the training set's mean per-utterance variance; for a
    conversion, the target speaker's); ``weight`` < 1 goes that share of the way in log variance
    (0.5: the geometric mean of the utterance's variance and the target's); one per dim as ``(39,)``.

    >>> x = np.random.default_rng(0).standard_normal((200, 3)) * [1.0, 0.5, 0.1]
    >>> y = gv_postfilter(0.5 * x, target_gv=x.var(axis=0))   # an over-smoothed copy, restored
    >>> bool(np.allclose(y.var(axis=0), x.var(axis=0))), bool(np.allclose(y.mean(axis=0), 0.5 * x.mean(axis=0)))
    (True, True)
    >>> h = gv_postfilter(0.5 * x, target_gv=x.var(axis=0), weight=0.5)   # variance 1/4 -> 1/2 of the target's
    >>> np.round(h.var(axis=0) / x.var(axis=0), 3).tolist()
    [0.5, 0.5, 0.5]
    """
    mean = mcep_1.mean(axis=0)
    var = np.maximum(mcep_1.var(axis=0), 1e-12)
    return (mcep_1 - mean) * (target_gv / var) ** (weight / 2) + mean


def ms_postfilter(mcep_1: np.ndarray, target_ms: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """``(T, D)`` c1..c39 with each dim's modulation spectrum moved toward ``target_ms`` ``(D, bins)`` (for a
    conversion, the target speaker's: :class:`speechvae.analysis.stats.Stats` ``mcep_ms``): each bin's STFT coefficients
    scaled by ``exp(weight * (target - own) / 2)`` (own: this utterance's MS), resynthesised by overlap-add; the
    utterance mean of each dim and bin 0 (the segments' local means) kept. ``weight`` 1 goes all the way in log
    power, 0.5 half way, 0 returns the input (up to rounding).

    >>> from speechvae.analysis.modspec import modulation_spectrum
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2000, 2))
    >>> smooth = np.stack([np.convolve(c, np.ones(8) / 8, "same") for c in x.T], axis=1)   # fast modulations lost
    >>> y = ms_postfilter(smooth, modulation_spectrum(x))
    >>> gap = lambda a: float(np.abs(modulation_spectrum(a) - modulation_spectrum(x))[:, 1:].mean())   # log power
    >>> round(gap(smooth), 1), round(gap(y), 1)   # 4 nepers below the original on average, then within 0.1
    (4.0, 0.1)
    >>> np.round(y.var(axis=0) / x.var(axis=0), 2).tolist(), np.round(smooth.var(axis=0) / x.var(axis=0), 2).tolist()
    ([0.94, 0.96], [0.14, 0.12])
    >>> bool(np.allclose(y.mean(axis=0), smooth.mean(axis=0)))
    True
    """
    x = np.asarray(mcep_1, dtype=np.float64)
    target_ms = np.asarray(target_ms, dtype=np.float64)
    z = segment_stft(x)
    if target_ms.shape != z.shape[:2]:
        raise ValueError(f"modulation spectrum of shape {target_ms.shape}, expected {z.shape[:2]} "
                         f"({x.shape[1]} dims, {SEGMENT}-frame segments)")
    gain = np.exp(weight * (target_ms - mean_log_power(z)) / 2)
    gain[:, 0] = 1.0
    y = istft(z * gain[:, :, None], window="hann", nperseg=SEGMENT, noverlap=SEGMENT // 2, boundary=True)[1]
    y = y.T[: len(x)]
    return y - y.mean(axis=0) + x.mean(axis=0)  # overlap-add leaks a little into the mean: keep it exactly
