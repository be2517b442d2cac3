"""The codecs a speech codec is judged against: Codec2 (``c2enc`` / ``c2dec``, Debian package ``codec2``) at its
modes and Opus (``opusenc`` / ``opusdec``, Debian package ``opus-tools``) at a bit rate, run as child processes on
one waveform; and the alignment their outputs need before an intrusive measure (codec delay).

Codec2 runs at 8 kHz: the input is resampled to 8 kHz and the output back to the input's rate. Opus runs with
``--speech --hard-cbr``. The bytes counted are the files each tool writes (Opus: its Ogg container included).

>>> available("codec2") in (True, False)
True
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from speechvae.analysis.audio import resample
from speechvae.parallel import die_with_parent

TOOLS = {"codec2": ("c2enc", "c2dec"), "opus": ("opusenc", "opusdec")}
INSTALL = {"codec2": "apt-get install codec2 (c2enc, c2dec)", "opus": "apt-get install opus-tools (opusenc, opusdec)"}
CODEC2_MODES = ("700C", "1300", "2400", "3200")
TIMEOUT_S = 120


class ReferenceCodecError(RuntimeError):
    """A reference codec that is not installed or failed; the message says which and how to install it."""


def available(name: str) -> bool:
    """Whether the tools of reference codec ``name`` (``codec2`` or ``opus``) are on PATH."""
    return all(shutil.which(t) for t in TOOLS[name])


def _run(cmd: list[str]) -> None:
    try:  # the child ends with us (a killed benchmark leaves no encoder running)
        subprocess.run(cmd, check=True, capture_output=True, timeout=TIMEOUT_S, preexec_fn=die_with_parent)
    except FileNotFoundError:
        raise ReferenceCodecError(f"{cmd[0]} not found: {INSTALL['codec2' if cmd[0].startswith('c2') else 'opus']}"
                                  ) from None
    except subprocess.CalledProcessError as e:
        msg = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        raise ReferenceCodecError(f"{' '.join(cmd[:2])} failed: {msg[-1] if msg else e.returncode}") from None


def codec2(x: np.ndarray, fs: int, mode: str) -> tuple[np.ndarray, int]:
    """``x (N,)`` at ``fs`` Hz through Codec2 ``mode`` (e.g. ``"3200"``, ``"700C"``) -> (decoded samples at ``fs``,
    bytes of the bitstream)."""
    if mode not in CODEC2_MODES:
        raise ValueError(f"Codec2 mode {mode!r}: one of {', '.join(CODEC2_MODES)}")
    pcm = np.clip(resample(np.asarray(x, float), fs, 8000), -1, 32767 / 32768)
    with tempfile.TemporaryDirectory() as d:
        raw, bit, out = Path(d, "in.raw"), Path(d, "c.bit"), Path(d, "out.raw")
        raw.write_bytes((pcm * 32768).astype("<i2").tobytes())
        _run(["c2enc", mode, str(raw), str(bit)])
        _run(["c2dec", mode, str(bit), str(out)])
        y = np.frombuffer(out.read_bytes(), dtype="<i2").astype(float) / 32768
        return resample(y, 8000, fs), bit.stat().st_size


def opus(x: np.ndarray, fs: int, kbit_s: float) -> tuple[np.ndarray, int]:
    """``x (N,)`` at ``fs`` Hz through Opus at ``kbit_s`` (speech, hard CBR) -> (decoded samples at ``fs``, bytes
    of the .opus file)."""
    with tempfile.TemporaryDirectory() as d:
        wav, enc, out = Path(d, "in.wav"), Path(d, "c.opus"), Path(d, "out.wav")
        sf.write(wav, np.clip(x, -1, 32767 / 32768), fs, subtype="PCM_16")
        _run(["opusenc", "--quiet", "--speech", "--hard-cbr", "--bitrate", f"{kbit_s:g}", str(wav), str(enc)])
        _run(["opusdec", "--quiet", "--rate", str(fs), str(enc), str(out)])
        y, _ = sf.read(out)
        return (y if y.ndim == 1 else y.mean(axis=1)), enc.stat().st_size


def align(ref: np.ndarray, y: np.ndarray, fs: int, max_ms: float = 60.0) -> np.ndarray:
    """``y`` shifted by the lag (within +-``max_ms``) that maximises its cross-correlation with ``ref``, and cut or
    zero-padded to ``ref``'s length: a codec's delay removed before PESQ and STOI.

    >>> r = np.random.default_rng(0).standard_normal(4000)
    >>> bool(np.array_equal(align(r, np.r_[np.zeros(37), r], 16000), r))
    True
    """
    n, lag_max = len(ref), int(fs * max_ms / 1000)
    m = 1 << int(np.ceil(np.log2(len(ref) + len(y))))
    xc = np.fft.irfft(np.fft.rfft(y, m) * np.conj(np.fft.rfft(ref, m)), m)
    lags = np.r_[np.arange(0, lag_max + 1), np.arange(-lag_max, 0)]
    lag = int(lags[np.argmax(xc[lags])])
    out = np.zeros(n)
    src = y[lag:] if lag >= 0 else np.r_[np.zeros(-lag), y]
    out[:min(n, len(src))] = src[:n]
    return out
