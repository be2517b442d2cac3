"""WORLD analysis and synthesis as pure functions, and the :class:`Features` they exchange.

Analysis: (optional 70 Hz high-pass) -> F0 (harvest, or dio + stonemask) -> CheapTrick envelope
-> D4C aperiodicity (stored coded as band aperiodicity) -> mel-cepstrum of order 39
(40 coefficients; c0 is power and is kept aside; the VAE sees c1..c39).

>>> import numpy as np
>>> from speechvae.config import AnalysisConfig
>>> fs = 16000; t = np.arange(fs // 2) / fs
>>> x = 0.3 * np.sign(np.sin(2 * np.pi * 120 * t)) + 0.01 * np.random.default_rng(0).standard_normal(t.size)
>>> f = analyze_waveform(x, AnalysisConfig())
>>> f.mcep.shape[1], f.f0.shape == f.power_db.shape == (f.mcep.shape[0],)
(40, True)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysptk
import pyworld
from scipy.signal import butter, sosfiltfilt

from speechvae.analysis.audio import read_audio, resample
from speechvae.analysis.mcep import mcep_to_sp, sp_to_mcep
from speechvae.config import AnalysisConfig
from speechvae.store import StoreError, load_npz, save_npz

# Parameters that must agree between analysis and resynthesis (or model training).
SPEC_KEYS = ("fs", "frame_period", "alpha", "fft_size", "order")


class FeatureMismatchError(ValueError):
    """Features made with other analysis settings than the ones they are used with."""


def resolve_analysis(cfg: AnalysisConfig) -> AnalysisConfig:
    """Fill in the per-sampling-rate defaults: alpha from ``mcepalpha(fs)``, FFT size from
    ``get_cheaptrick_fft_size(fs, f0_floor)`` (the same size is used by CheapTrick, D4C and mc2sp)."""
    alpha = cfg.alpha if cfg.alpha is not None else round(float(pysptk.util.mcepalpha(cfg.fs)), 6)
    fft = cfg.fft_size if cfg.fft_size is not None else int(pyworld.get_cheaptrick_fft_size(cfg.fs, cfg.f0_floor))
    return dataclasses.replace(cfg, alpha=alpha, fft_size=fft)


def min_samples(cfg: AnalysisConfig) -> int:
    """Shortest input accepted: one frame period (samples)."""
    return int(np.ceil(cfg.fs * cfg.frame_period / 1000.0))


@dataclass
class Features:
    """WORLD features of one utterance; all arrays share the frame count T.

    f0: ``(T,)`` Hz, 0 where unvoiced. mcep: ``(T, order+1)``, c0 = log power.
    bap: ``(T, B)`` coded band aperiodicity (dB, ``pyworld.code_aperiodicity``).
    power_db: ``(T,)`` frame power of the envelope in dB (for histograms).
    """

    f0: np.ndarray
    mcep: np.ndarray
    bap: np.ndarray
    power_db: np.ndarray
    fs: int
    frame_period: float
    alpha: float
    fft_size: int

    @property
    def order(self) -> int:
        return self.mcep.shape[1] - 1

    @property
    def frames(self) -> int:
        return self.mcep.shape[0]

    @property
    def vuv(self) -> np.ndarray:
        return self.f0 > 0

    def spec(self) -> dict:
        return {k: getattr(self, k) for k in SPEC_KEYS}

    def replace_mcep(self, mcep: np.ndarray) -> Features:
        if mcep.shape != self.mcep.shape:
            raise ValueError(f"mcep shape {mcep.shape} != {self.mcep.shape}")
        return dataclasses.replace(self, mcep=np.asarray(mcep, dtype=np.float64))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "f0": self.f0, "mcep": self.mcep, "bap": self.bap, "power_db": self.power_db,
            "fs": np.int64(self.fs), "frame_period": np.float64(self.frame_period),
            "alpha": np.float64(self.alpha), "fft_size": np.int64(self.fft_size),
        }

    def save(self, path: str | Path) -> None:
        save_npz(path, self.to_arrays())

    @classmethod
    def load(cls, path: str | Path) -> Features:
        """Load and check shapes; a StoreError names the file when anything is off."""
        a = load_npz(path, required=("f0", "mcep", "bap", "power_db", "fs", "frame_period", "alpha", "fft_size"))
        f0, mcep, bap, pw = a["f0"], a["mcep"], a["bap"], a["power_db"]
        if mcep.ndim != 2 or mcep.shape[1] < 2 or f0.ndim != 1 or bap.ndim != 2 or pw.ndim != 1:
            raise StoreError(f"{path}: wrong array shapes (mcep {mcep.shape}, f0 {f0.shape}, bap {bap.shape})")
        if not (len(f0) == len(mcep) == len(bap) == len(pw)) or len(f0) == 0:
            raise StoreError(
                f"{path}: frame counts differ or are zero (f0 {len(f0)}, mcep {len(mcep)}, bap {len(bap)})"
            )
        return cls(f0=f0, mcep=mcep, bap=bap, power_db=pw, fs=int(a["fs"]), frame_period=float(a["frame_period"]),
                   alpha=float(a["alpha"]), fft_size=int(a["fft_size"]))


def check_compatible(feats: Features, cfg: AnalysisConfig, what: str) -> None:
    """Refuse features whose fs, frame period, alpha, FFT size or order differ from ``cfg``."""
    cfg = resolve_analysis(cfg)
    want = {"fs": cfg.fs, "frame_period": cfg.frame_period, "alpha": cfg.alpha, "fft_size": cfg.fft_size,
            "order": cfg.order}
    bad = [f"{k} {feats.spec()[k]} (expected {v})" for k, v in want.items()
           if not np.isclose(float(feats.spec()[k]), float(v), rtol=0, atol=1e-6)]
    if bad:
        raise FeatureMismatchError(f"{what}: made with other analysis settings: " + ", ".join(bad))


def highpass(x: np.ndarray, fs: int, cutoff_hz: float) -> np.ndarray:
    """Zero-phase 4th-order Butterworth high-pass (removes rumble that confuses F0 estimation)."""
    sos = butter(4, cutoff_hz, btype="highpass", fs=fs, output="sos")
    padlen = min(len(x) - 1, 3 * (2 * len(sos) + 1))
    return np.ascontiguousarray(sosfiltfilt(sos, x, padlen=padlen))  # pyworld needs C order


def analyze_waveform(x: np.ndarray, cfg: AnalysisConfig) -> Features:
    """WORLD analysis of ``(N,)`` float64 samples at ``cfg.fs`` Hz -> :class:`Features`."""
    cfg = resolve_analysis(cfg)
    x = np.ascontiguousarray(x, dtype=np.float64)
    if cfg.highpass_hz > 0:
        x = highpass(x, cfg.fs, cfg.highpass_hz)
    f0, t = extract_f0(x, cfg)
    sp = pyworld.cheaptrick(x, f0, t, cfg.fs, f0_floor=cfg.f0_floor, fft_size=cfg.fft_size)
    ap = pyworld.d4c(x, f0, t, cfg.fs, fft_size=cfg.fft_size)
    return features_from_world(f0, sp, ap, cfg)


def extract_f0(x: np.ndarray, cfg: AnalysisConfig) -> tuple[np.ndarray, np.ndarray]:
    """F0 contour ``(T,)`` Hz and frame times ``(T,)`` s with harvest or dio + stonemask."""
    if cfg.f0_method == "harvest":
        return pyworld.harvest(x, cfg.fs, f0_floor=cfg.f0_floor, f0_ceil=cfg.f0_ceil, frame_period=cfg.frame_period)
    f0, t = pyworld.dio(x, cfg.fs, f0_floor=cfg.f0_floor, f0_ceil=cfg.f0_ceil, frame_period=cfg.frame_period)
    return pyworld.stonemask(x, f0, t, cfg.fs), t


def features_from_world(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, cfg: AnalysisConfig) -> Features:
    """Turn raw WORLD parameters (envelope and aperiodicity ``(T, fft_size//2+1)``) into Features."""
    cfg = resolve_analysis(cfg)
    mcep = sp_to_mcep(sp, cfg.order, cfg.alpha)
    bap = pyworld.code_aperiodicity(np.ascontiguousarray(ap), cfg.fs)
    power_db = 10.0 * np.log10(np.mean(sp, axis=1))
    return Features(f0=f0, mcep=mcep, bap=bap, power_db=power_db, fs=cfg.fs, frame_period=cfg.frame_period,
                    alpha=cfg.alpha, fft_size=cfg.fft_size)


def vocode(feats: Features) -> np.ndarray:
    """WORLD vocoder: Features -> ``(N,)`` float64 waveform at ``feats.fs`` Hz."""
    sp = np.ascontiguousarray(mcep_to_sp(feats.mcep, feats.alpha, feats.fft_size))
    ap = pyworld.decode_aperiodicity(np.ascontiguousarray(feats.bap, dtype=np.float64), feats.fs, feats.fft_size)
    f0 = np.ascontiguousarray(feats.f0, dtype=np.float64)
    return pyworld.synthesize(f0, sp, ap, feats.fs, feats.frame_period)


def wav2features(path: str | Path, cfg: AnalysisConfig) -> Features:
    """One call from a wav file to Features (read, mono, resample, validate, analyse)."""

    return analyze_waveform(read_audio(path, cfg.fs, min_samples=min_samples(cfg)), cfg)


def analyze(
    audio: str | Path | np.ndarray, fs: int | None = None, config: AnalysisConfig | None = None, **settings
) -> Features:
    """WORLD analysis of one utterance: a wav file, or ``(N,)`` samples at ``fs`` Hz -> :class:`Features`.

    The result holds ``f0`` ``(T,)`` in Hz (0 where unvoiced), ``mcep`` ``(T, 40)`` (order 39: c0 is power, kept
    aside; c1..c39 are what a model sees), ``bap`` ``(T, bands)`` coded aperiodicity in dB, ``power_db`` ``(T,)``,
    and the settings that made them (``fs``, ``frame_period`` in ms, ``alpha``, ``fft_size``). ``config``: the
    analysis settings (default :class:`~speechvae.config.AnalysisConfig`); ``settings`` override its fields, e.g.
    ``f0_floor=60``. A file is read as :func:`speechvae.analysis.audio.read_audio` reads it (mono, resampled to the
    analysis rate); samples at another rate than ``config.fs`` are resampled likewise.

    >>> import pysptk
    >>> f = analyze(pysptk.util.example_audio_file())
    >>> f.mcep.shape[1], f.fs, f.frame_period, f.frames == len(f.f0) == len(f.power_db)
    (40, 16000, 5.0, True)
    >>> 85 < float(np.median(f.f0[f.f0 > 0])) < 180   # Hz: within the usual range of a male voice
    True
    """
    cfg = dataclasses.replace(config or AnalysisConfig(), **settings)
    if isinstance(audio, (str, Path)):
        return wav2features(audio, cfg)
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1 or not len(x):
        raise ValueError(f"samples of shape {x.shape}: analyze takes (N,) mono samples or a wav path")
    if fs is None:
        raise ValueError("analyze(samples) needs their sampling rate: analyze(x, fs=16000)")
    x = resample(x, fs, cfg.fs)
    if len(x) < min_samples(cfg):
        raise ValueError(f"{len(x)} samples at {cfg.fs} Hz: too short to analyse (need {min_samples(cfg)})")
    return analyze_waveform(x, cfg)


def synthesize(feats: Features) -> tuple[np.ndarray, int]:
    """WORLD synthesis of :class:`Features` -> ``(samples, fs)``: ``(N,)`` float64 in about [-1, 1] and the rate in
    Hz (copy synthesis of analysed features, or a model's reconstruction: only the mel-cepstra differ).

    >>> f = analyze(np.sin(2 * np.pi * 150 * np.arange(8000) / 16000), fs=16000)
    >>> y, fs = synthesize(f)
    >>> fs, abs(len(y) - 8000) <= f.frame_period * fs / 1000
    (16000, True)
    """
    return vocode(feats), feats.fs
