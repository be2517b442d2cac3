"""How speech sounds, beyond MCD: the field's perceptual and speaker measures, from well-kept libraries whose
weights ship inside their wheels (nothing is fetched at run time). ``pip install 'speechvae[quality]'``.

- PESQ wideband (ITU-T P.862.2, ``pesq``): intrusive, a degraded waveform against its reference; MOS-LQO 1.04..4.64.
- STOI (``pystoi``): intrusive intelligibility index, 0..1 (the library works at 10 kHz internally).
- DNSMOS (``speechmos``): non-intrusive MOS predictors, P.808 (overall, 1..5) and P.835 (SIG speech, BAK
  background, OVRL overall). Its window is 9.01 s: a shorter clip is repeated to fill it, as the library and
  Microsoft's reference script do (ARCTIC sentences are 2-5 s), and the result says so (``repeated``).
- Speaker embeddings (Resemblyzer, GE2E, 256 dims, unit norm): speaker similarity is the cosine between an
  utterance's embedding and the normalised mean of a speaker's embeddings (the centroid).

Every measure takes 16 kHz audio: another rate is resampled (``scipy.signal.resample_poly``) and the result
says from what. Each model is loaded once per process (:func:`measures`). A waveform that cannot be measured
(empty, silent, under :data:`MIN_SECONDS`) raises :class:`BadAudio` naming it and the cause; callers record
that line per file and go on.

>>> import numpy as np
>>> round(cosine(np.array([1.0, 0.0]), np.array([1.0, 1.0])), 4)
0.7071
"""
from __future__ import annotations

import logging
import warnings
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from speechvae.analysis.audio import AudioError, read_audio, resample
from speechvae.analysis.featdir import feature_path, read_manifest
from speechvae.analysis.features import Features, vocode
from speechvae.console import progress_bar

log = logging.getLogger(__name__)

FS = 16000  # every measure here is defined (PESQ-WB, DNSMOS, Resemblyzer) or run (STOI) at 16 kHz
MIN_SECONDS = 1.0  # below this a DNSMOS window would be one clip repeated many times, a GE2E embedding noise
SILENT_PEAK = 1e-4  # a waveform whose peak is below this (-80 dBFS) has nothing to measure
DNSMOS_WINDOW_S = 9.01
EXTRA = "pip install 'speechvae[quality]'  (pesq, pystoi, speechmos, onnxruntime, resemblyzer)"


class QualityUnavailable(RuntimeError):
    """The ``quality`` extra is not installed."""


class BadAudio(ValueError):
    """A waveform that a measure cannot score (one line naming it and why)."""


def require() -> None:
    """Refuse in one line, naming the extra, when its libraries are missing (call before any work)."""
    missing = []
    for mod in ("pesq", "pystoi", "speechmos.dnsmos", "onnxruntime", "resemblyzer"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                __import__(mod)
        except ImportError:
            missing.append(mod.split(".")[0])
    if missing:
        raise QualityUnavailable(f"quality measures need {', '.join(missing)}: {EXTRA}")


def to_16k(x: np.ndarray, fs: int, what: str = "audio") -> np.ndarray:
    """Mono float64 at 16 kHz; :class:`BadAudio` for an empty, non-finite, silent or too short waveform."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise BadAudio(f"{what}: expected one channel, got shape {x.shape}")
    if not len(x):
        raise BadAudio(f"{what}: empty waveform")
    if not np.all(np.isfinite(x)):
        raise BadAudio(f"{what}: NaN or infinite samples")
    if np.max(np.abs(x)) < SILENT_PEAK:
        raise BadAudio(f"{what}: silent (peak below {20 * np.log10(SILENT_PEAK):.0f} dBFS): nothing to measure")
    if len(x) < MIN_SECONDS * fs:
        raise BadAudio(f"{what}: {len(x) / fs:.2f} s, too short to measure (at least {MIN_SECONDS:g} s; DNSMOS "
                       f"repeats clips under its {DNSMOS_WINDOW_S} s window, but not a fragment)")
    return resample(x, fs, FS)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


class Measures:
    """The measures, their models loaded on first use and kept (one instance per process: :func:`measures`)."""

    def __init__(self) -> None:
        require()
        self._encoder = None

    # -- intrusive: a processed waveform against the recording it came from ------------------------------
    def pesq_wb(self, ref: np.ndarray, deg: np.ndarray, fs: int, what: str = "audio") -> float:
        """PESQ wideband MOS-LQO of ``deg`` against ``ref`` (same length after trimming to the shorter)."""
        return self._pesq(ref, deg, fs, what, "wb")

    def pesq_nb(self, ref: np.ndarray, deg: np.ndarray, fs: int, what: str = "audio") -> float:
        """PESQ narrowband MOS-LQO (P.862, 16 kHz input filtered to telephone band) of ``deg`` against ``ref``."""
        return self._pesq(ref, deg, fs, what, "nb")

    @staticmethod
    def _pesq(ref: np.ndarray, deg: np.ndarray, fs: int, what: str, mode: str) -> float:
        from pesq import pesq

        r, d = _common(to_16k(ref, fs, f"{what} (reference)"), to_16k(deg, fs, what))
        try:
            return float(pesq(FS, r, d, mode))
        except Exception as e:  # the library's own errors: no utterance found, buffer too short
            raise BadAudio(f"{what}: PESQ failed ({type(e).__name__}: {e})") from None

    def stoi(self, ref: np.ndarray, deg: np.ndarray, fs: int, what: str = "audio") -> float:
        """STOI (0..1) of ``deg`` against ``ref``."""
        from pystoi import stoi

        r, d = _common(to_16k(ref, fs, f"{what} (reference)"), to_16k(deg, fs, what))
        return float(stoi(r, d, FS, extended=False))

    # -- non-intrusive ----------------------------------------------------------------------------------
    def dnsmos(self, x: np.ndarray, fs: int, what: str = "audio") -> dict:
        """DNSMOS: ``p808`` (P.808 overall), ``sig``, ``bak``, ``ovrl`` (P.835), and ``repeated`` (the clip was
        shorter than the 9.01 s window and was repeated to fill it)."""
        from speechmos import dnsmos

        y = to_16k(x, fs, what)
        peak = np.max(np.abs(y))
        if peak > 1.0:  # the library refuses samples outside [-1, 1]: scale, as a player would have to
            y = y / peak
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = dnsmos.run(y.astype(np.float32), FS)
        return {"p808": float(r["p808_mos"]), "sig": float(r["sig_mos"]), "bak": float(r["bak_mos"]),
                "ovrl": float(r["ovrl_mos"]), "repeated": len(y) < DNSMOS_WINDOW_S * FS}

    def embedding(self, x: np.ndarray, fs: int, what: str = "audio") -> np.ndarray:
        """Resemblyzer's GE2E speaker embedding ``(256,)`` (unit norm) of the waveform, after its own
        preprocessing (loudness normalisation, long silences trimmed)."""
        from resemblyzer import preprocess_wav

        y = preprocess_wav(to_16k(x, fs, what), source_sr=FS)
        if len(y) < 0.5 * FS:
            raise BadAudio(f"{what}: under 0.5 s of speech after the speaker encoder's silence trimming")
        return self.encoder.embed_utterance(y)

    @property
    def encoder(self):
        # on the CPU whatever the machine: a 1.4 M-parameter LSTM gains nothing from a GPU at one utterance a call,
        # and its numbers stay those of a direct call of the library on the CPU
        if self._encoder is None:
            import torch
            from resemblyzer import VoiceEncoder

            self._encoder = VoiceEncoder(device=torch.device("cpu"), verbose=False)
        return self._encoder


def _common(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(a), len(b))
    return a[:n], b[:n]


@lru_cache(maxsize=1)
def measures() -> Measures:
    """The process's one :class:`Measures` (models loaded once, not per utterance)."""
    return Measures()


def centroid(embeddings: list[np.ndarray]) -> np.ndarray:
    """A speaker's centroid: the normalised mean of unit-norm utterance embeddings ``(256,)``."""
    c = np.mean(np.stack(embeddings), axis=0)
    return c / np.linalg.norm(c)


def mean_of(per: dict[str, dict], key: str) -> float | None:
    """Mean of ``per[u][key]`` over the utterances that have it (None when none does)."""
    vals = [p[key] for p in per.values() if isinstance(p.get(key), (int, float)) and np.isfinite(p[key])]
    return float(np.mean(vals)) if vals else None


VERSION_KEYS = ("pesq_wb", "stoi", "dnsmos_p808", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")


def score_version(m: Measures, x: np.ndarray, fs: int, what: str, ref: np.ndarray | None = None) -> dict:
    """DNSMOS of ``x`` and, with a reference recording ``ref``, PESQ-WB and STOI against it: a flat dict of
    :data:`VERSION_KEYS` (a measure that fails is absent, its line in ``errors``)."""
    out: dict = {"errors": []}
    steps = [("dnsmos", lambda: {f"dnsmos_{k}": v for k, v in m.dnsmos(x, fs, what).items()})]
    if ref is not None:
        steps += [("pesq", lambda: {"pesq_wb": m.pesq_wb(ref, x, fs, what)}),
                  ("stoi", lambda: {"stoi": m.stoi(ref, x, fs, what)})]
    for _, step in steps:
        try:
            out.update(step())
        except BadAudio as e:
            out["errors"].append(str(e))
    if not out["errors"]:
        del out["errors"]
    return out


def pool_versions(per: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """Per version, the mean of each measure over the utterances that have it, and how many did."""
    names = dict.fromkeys(v for p in per.values() for v in p if isinstance(p[v], dict))
    out = {}
    for v in names:
        rows = {u: p[v] for u, p in per.items() if isinstance(p.get(v), dict)}
        out[v] = {k: mean_of(rows, k) for k in VERSION_KEYS if any(k in r for r in rows.values())}
        out[v]["utterances"] = len(rows)
    return out


def reconstruction_quality(featdir, utt_ids: list[str], rebuild, progress: bool = True,
                           versions: tuple[str, ...] = ("original", "copy", "model")) -> dict:
    """How a reconstruction sounds beside the vocoder's ceiling, per utterance and overall: DNSMOS of the
    ``original`` recording (the manifest's path), of WORLD ``copy`` synthesis and of the ``model``'s
    resynthesis (``rebuild(utt_id, features)`` -> Features), and PESQ-WB / STOI of the last two against
    the original. A recording that cannot be read leaves only the DNSMOS of the other two (its line in
    ``failures``). ``versions``: which of the three to measure (e.g. only ``model`` when several systems are
    judged on the same utterances). Returns ``{"overall": {version: {measure: mean}}, "per_utterance": {utt: {version:
    {...}}}, "failures": [...], "conventions": {...}}``."""

    m = measures()
    src = {r["utt_id"]: r["path"] for r in read_manifest(featdir)}
    per, failures = {}, []
    for u in progress_bar(utt_ids, desc="quality", unit="utt", enabled=progress):
        f = Features.load(feature_path(featdir, u))
        row = {}
        try:
            ref = read_audio(src[u], f.fs)
        except (AudioError, KeyError) as e:
            ref = None
            failures.append(f"{u}: original recording not usable ({e}): PESQ and STOI skipped")
        if ref is not None and "original" in versions:
            row["original"] = score_version(m, ref, f.fs, f"{u} (original)")
        if "copy" in versions:
            row["copy"] = score_version(m, vocode(f), f.fs, f"{u} (copy synthesis)", ref)
        if "model" in versions:
            row["model"] = score_version(m, vocode(rebuild(u, f)), f.fs, f"{u} (through the model)", ref)
        failures += [e for v in row.values() for e in v.get("errors", [])]
        per[u] = row
    for line in failures:
        log.warning("%s", line)
    return {"overall": pool_versions(per), "per_utterance": per, "failures": failures, "conventions": conventions()}


def conventions() -> dict:
    """What the quality figures are, for the JSON beside them."""

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {"fs_hz": FS, "resampling": "scipy.signal.resample_poly to 16 kHz when the audio is at another rate",
            "pesq": f"ITU-T P.862.2 wideband MOS-LQO (pesq {v('pesq')}), against the original recording",
            "stoi": f"STOI, not extended (pystoi {v('pystoi')}), against the original recording",
            "dnsmos": f"DNSMOS P.808 and P.835 SIG/BAK/OVRL (speechmos {v('speechmos')}); clips under "
                      f"{DNSMOS_WINDOW_S} s repeated to fill the window, as the library does",
            "speaker_embedding": f"Resemblyzer GE2E, 256 dims (resemblyzer {v('resemblyzer')}); similarity = cosine "
                                 "with the normalised mean embedding of the speaker's reference recordings"}
