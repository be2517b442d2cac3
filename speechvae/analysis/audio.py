"""Audio in and out: read, mix down to mono, resample, validate; write 16-bit PCM.

Every failure is an :class:`AudioError` whose message is one line naming the file and the cause.
"""
from __future__ import annotations

import logging
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from speechvae.store import atomic_path

log = logging.getLogger(__name__)


class AudioError(ValueError):
    """A file that cannot be used as speech input; the message names the file and the cause."""


def resample(x: np.ndarray, from_fs: int, to_fs: int) -> np.ndarray:
    """``(N,)`` samples at ``from_fs`` Hz -> the same at ``to_fs`` Hz (``scipy.signal.resample_poly`` by the
    reduced ratio; the input itself when the rates agree).

    >>> len(resample(np.zeros(441), 44100, 16000))
    160
    """
    if from_fs == to_fs:
        return x
    g = gcd(int(from_fs), int(to_fs))
    return resample_poly(x, int(to_fs) // g, int(from_fs) // g)


def read_audio(path: str | Path, fs: int, min_samples: int = 1) -> np.ndarray:
    """Read ``path`` as mono float64 samples in [-1, 1] at ``fs`` Hz.

    Multi-channel audio is averaged to mono (with a warning); other rates are resampled with
    ``scipy.signal.resample_poly`` (logged). Integer PCM of any width and float files are accepted.

    Returns:
        x: ``(N,)`` float64 samples at ``fs`` Hz, ``N >= min_samples``.
    Raises:
        AudioError: missing, unreadable, non-audio, empty, too short or non-finite input.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        x, file_fs = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise AudioError(f"{path}: not a readable audio file ({str(e).strip()})") from None
    if x.shape[0] == 0:
        raise AudioError(f"{path}: no audio samples (zero length)")
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{path}: contains NaN or infinite samples")
    if x.shape[1] > 1:
        log.warning("%s: %d channels mixed down to mono", path, x.shape[1])
    x = x.mean(axis=1)
    if file_fs != fs:
        g = gcd(int(file_fs), int(fs))
        log.info("%s: resampled %d Hz -> %d Hz (resample_poly %d/%d)", path, file_fs, fs, fs // g, file_fs // g)
        x = resample(x, file_fs, fs)
    if len(x) < min_samples:
        raise AudioError(
            f"{path}: too short ({len(x)} samples at {fs} Hz; need at least {min_samples})"
        )
    peak = np.max(np.abs(x))
    if peak == 0:
        raise AudioError(f"{path}: silent (all samples are zero)")
    if peak >= 0.999:
        clipped = np.mean(np.abs(x) >= 0.999)
        if clipped > 1e-3:
            log.warning("%s: %.2f%% of samples at full scale (clipped?)", path, 100 * clipped)
    return np.ascontiguousarray(x, dtype=np.float64)


def write_wav(path: str | Path, x: np.ndarray, fs: int) -> None:
    """Write ``(N,)`` float samples as 16-bit PCM, clipping to [-1, 1), atomically."""
    y = np.clip(np.asarray(x, dtype=np.float64), -1.0, 32767 / 32768)
    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), y, fs, subtype="PCM_16", format="WAV")
