"""Modulation spectrum of mel-cepstral trajectories, and the post-filter that restores it (Takamichi et al., 2016).

A frame-wise decoder regresses to the mean: besides a low global variance, its trajectories lose their fast
fluctuations, which listeners hear as a muffled voice. The modulation spectrum (MS) of a trajectory is the power
of its Fourier transform over time; summed over modulation frequency it is the variance (Parseval), so the GV
post-filter (:func:`speechvae.reconstruct.gv_postfilter`) matches only its total, where this one matches it per
modulation frequency.

Conventions (one for statistics and filter alike): each of c1..c39 minus its utterance mean, cut into segments of
:data:`SEGMENT` frames with a periodic Hann window and hop ``SEGMENT // 2`` (scipy's STFT; an utterance shorter than
a segment is zero-padded to one), ``SEGMENT // 2 + 1`` modulation-frequency bins (bin k is ``k / (SEGMENT *
frame_period)`` Hz: 0..100 Hz in steps of 1.56 Hz at 5 ms frames). The utterance's MS is the mean over segments of
the natural log of the power; a speaker's is the mean of its utterances' (:class:`speechvae.stats.Stats`
``mcep_ms``).
"""
from __future__ import annotations

import numpy as np
from scipy.signal import istft, stft

SEGMENT = 128  # frames: 0.64 s at 5 ms, long enough for syllable-rate (4-8 Hz) modulation, short enough to average
_FLOOR = 1e-12  # power floor before the log (a constant dim has zero power)


def _stft(mcep_1: np.ndarray) -> np.ndarray:
    """``(T, D)`` -> ``(D, bins, segments)`` complex STFT of each dim about its utterance mean."""
    x = np.asarray(mcep_1, dtype=np.float64)
    x = x - x.mean(axis=0)
    n = max(len(x), SEGMENT)
    x = np.pad(x, ((0, n - len(x)), (0, 0)))
    return stft(x.T, window="hann", nperseg=SEGMENT, noverlap=SEGMENT // 2, boundary="zeros", padded=True)[2]


def _mean_log_power(z: np.ndarray) -> np.ndarray:
    """``(D, bins, segments)`` STFT -> ``(D, bins)`` mean over segments of the natural log of the power."""
    return np.log(np.maximum(np.abs(z) ** 2, _FLOOR)).mean(axis=2)


def modulation_spectrum(mcep_1: np.ndarray) -> np.ndarray:
    """``(T, D)`` trajectories -> ``(D, SEGMENT // 2 + 1)`` mean log power per modulation-frequency bin.

    >>> t = np.arange(1000)
    >>> x = np.stack([np.sin(2 * np.pi * 10 * t / SEGMENT), np.sin(2 * np.pi * 30 * t / SEGMENT)], axis=1)
    >>> modulation_spectrum(x).argmax(axis=1).tolist()   # a sine of 10 (30) cycles per segment peaks in bin 10 (30)
    [10, 30]
    """
    return _mean_log_power(_stft(mcep_1))


def ms_postfilter(mcep_1: np.ndarray, target_ms: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """``(T, D)`` c1..c39 with each dim's modulation spectrum moved toward ``target_ms`` ``(D, bins)`` (for a
    conversion, the target speaker's: :class:`speechvae.stats.Stats` ``mcep_ms``): each bin's STFT coefficients
    scaled by ``exp(weight * (target - own) / 2)`` (own: this utterance's MS), resynthesised by overlap-add; the
    utterance mean of each dim and bin 0 (the segments' local means) kept. ``weight`` 1 goes all the way in log
    power, 0.5 half way, 0 returns the input (up to rounding).

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
    z = _stft(x)
    if target_ms.shape != z.shape[:2]:
        raise ValueError(f"modulation spectrum of shape {target_ms.shape}, expected {z.shape[:2]} "
                         f"({x.shape[1]} dims, {SEGMENT}-frame segments)")
    gain = np.exp(weight * (target_ms - _mean_log_power(z)) / 2)
    gain[:, 0] = 1.0
    y = istft(z * gain[:, :, None], window="hann", nperseg=SEGMENT, noverlap=SEGMENT // 2, boundary=True)[1]
    y = y.T[: len(x)]
    return y - y.mean(axis=0) + x.mean(axis=0)  # overlap-add leaks a little into the mean: keep it exactly
