"""Spectral envelope <-> mel-cepstrum, vectorised.

``pysptk.sp2mc`` is log -> inverse FFT -> frequency warping (``freqt``), and ``pysptk.mc2sp`` is
the reverse; every step but the log/exp is linear. So the whole warping is one matrix per
(FFT size, order, alpha), built once by running pysptk itself on the unit basis, and an
utterance is converted with a single matrix product instead of one ``freqt`` call per frame.

>>> import numpy as np
>>> sp = np.ones((3, 513))                       # (T, fft_size // 2 + 1) power spectrum
>>> sp_to_mcep(sp, order=39, alpha=0.42).shape    # order 39 -> 40 coefficients, c0 = power
(3, 40)
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pysptk


@lru_cache(maxsize=16)
def _forward_matrix(fft_size: int, order: int, alpha: float) -> np.ndarray:
    """``(fft_size//2+1, order+1)`` matrix M with mcep = log(sp) @ M."""
    nbins = fft_size // 2 + 1
    # sp2mc takes the log itself, so exp(I) feeds it the unit basis of the log spectrum.
    m = pysptk.sp2mc(np.exp(np.eye(nbins)), order, alpha)
    m.setflags(write=False)
    return m


@lru_cache(maxsize=16)
def _inverse_matrix(fft_size: int, order: int, alpha: float) -> np.ndarray:
    """``(order+1, fft_size//2+1)`` matrix M with log(sp) = mcep @ M."""
    m = np.log(pysptk.mc2sp(np.eye(order + 1), alpha, fft_size))
    m.setflags(write=False)
    return m


def sp_to_mcep(sp: np.ndarray, order: int, alpha: float) -> np.ndarray:
    """Power spectral envelope ``(T, fft_size//2+1)`` -> mel-cepstrum ``(T, order+1)``.

    Equals ``pysptk.sp2mc(sp, order, alpha)`` (to ~1e-12). Column 0 is c0 (log power).
    """
    sp = np.asarray(sp, dtype=np.float64)
    fft_size = (sp.shape[-1] - 1) * 2
    return _product(np.log(sp), _forward_matrix(fft_size, int(order), float(alpha)))


def mcep_to_sp(mcep: np.ndarray, alpha: float, fft_size: int) -> np.ndarray:
    """Mel-cepstrum ``(T, order+1)`` -> power spectral envelope ``(T, fft_size//2+1)``.

    Equals ``pysptk.mc2sp(mcep, alpha, fft_size)``; inverse of :func:`sp_to_mcep` up to the
    truncation to ``order`` coefficients.
    """
    mcep = np.asarray(mcep, dtype=np.float64)
    order = mcep.shape[-1] - 1
    return np.exp(_product(mcep, _inverse_matrix(int(fft_size), order, float(alpha))))


def _product(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``a @ m`` with a summation order that does not depend on BLAS threading.

    A multi-threaded BLAS may round differently from a single-threaded one (seen: 3e-17), which
    would make feature files differ by worker type (a Dask worker runs BLAS on one thread). einsum
    without BLAS is ~4x slower than BLAS here but still ~28x faster than pysptk (benchmarks/analysis.py),
    and bit-stable.
    """
    return np.einsum("...k,kc->...c", a, m, optimize=False)
