"""Modulation spectrum of mel-cepstral trajectories, and the post-filter that restores it (Takamichi et al., 2016).

A frame-wise decoder regresses to the mean: besides a low global variance, its trajectories lose their fast
fluctuations, which listeners hear as a muffled voice. The modulation spectrum (MS) of a trajectory is the power
of its Fourier transform over time; summed over modulation frequency it is the variance (Parseval), so the GV
post-filter (:func:`speechvae.inference.postfilter.gv_postfilter`) matches only its total, where this one matches it per
modulation frequency.

Conventions (one for statistics and filter alike): each of c1..c39 minus its utterance mean, cut into segments of
:data:`SEGMENT` frames with a periodic Hann window and hop ``SEGMENT // 2`` (scipy's STFT; an utterance shorter than
a segment is zero-padded to one), ``SEGMENT // 2 + 1`` modulation-frequency bins (bin k is ``k / (SEGMENT *
frame_period)`` Hz: 0..100 Hz in steps of 1.56 Hz at 5 ms frames). The utterance's MS is the mean over segments of
the natural log of the power; a speaker's is the mean of its utterances' (:class:`speechvae.analysis.stats.Stats`
``mcep_ms``).
"""
from __future__ import annotations

import numpy as np
from scipy.signal import stft

SEGMENT = 128  # frames: 0.64 s at 5 ms, long enough for syllable-rate (4-8 Hz) modulation, short enough to average


_FLOOR = 1e-12  # power floor before the log (a constant dim has zero power)


def segment_stft(mcep_1: np.ndarray) -> np.ndarray:
    """``(T, D)`` -> ``(D, bins, segments)`` complex STFT of each dim about its utterance mean."""
    x = np.asarray(mcep_1, dtype=np.float64)
    x = x - x.mean(axis=0)
    n = max(len(x), SEGMENT)
    x = np.pad(x, ((0, n - len(x)), (0, 0)))
    return stft(x.T, window="hann", nperseg=SEGMENT, noverlap=SEGMENT // 2, boundary="zeros", padded=True)[2]


def mean_log_power(z: np.ndarray) -> np.ndarray:
    """``(D, bins, segments)`` STFT -> ``(D, bins)`` mean over segments of the natural log of the power."""
    return np.log(np.maximum(np.abs(z) ** 2, _FLOOR)).mean(axis=2)


def modulation_spectrum(mcep_1: np.ndarray) -> np.ndarray:
    """``(T, D)`` trajectories -> ``(D, SEGMENT // 2 + 1)`` mean log power per modulation-frequency bin.

    >>> t = np.arange(1000)
    >>> x = np.stack([np.sin(2 * np.pi * 10 * t / SEGMENT), np.sin(2 * np.pi * 30 * t / SEGMENT)], axis=1)
    >>> modulation_spectrum(x).argmax(axis=1).tolist()   # a sine of 10 (30) cycles per segment peaks in bin 10 (30)
    [10, 30]
    """
    return mean_log_power(segment_stft(mcep_1))
