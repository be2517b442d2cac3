"""The speech codec judged beside the codecs people know, on the same recordings in the same run: speechvae at each
bit rate, Codec2 at its modes, Opus at its rates, WORLD copy synthesis of the unquantised features (the ceiling of
any WORLD codec) and the recordings.

Per utterance and system: the decoded wav, its bytes (the files each codec writes: speechvae's header, Opus's Ogg
container included), PESQ-WB, PESQ-NB and STOI against the recording after the codec's delay is removed by
cross-correlation, DNSMOS P.808, and speaker similarity: the cosine of its speaker embedding with the centroid of
the same speaker's other recordings in the set (its own recording when it has no other). Per system: kbit/s measured
as bytes x 8 / seconds over the utterances, and the means of the measures; speechvae rows also their speed, seconds of
speech per wall second of work in the worker (``encode_x_realtime``: WORLD analysis + encode; ``decode_x_realtime``:
decode + WORLD synthesis), one thread each when run with ``OMP_NUM_THREADS=1``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechvae.analysis.audio import read_audio, write_wav
from speechvae.analysis.featdir import utt_file
from speechvae.analysis.features import Features, synthesize
from speechvae.analysis.inputs import Utterance
from speechvae.codec.codec import Codec, load_codec
from speechvae.codec.references import CODEC2_MODES, INSTALL, align, available, codec2, opus
from speechvae.evaluation.quality import BadAudio, centroid, cosine, measures
from speechvae.parallel import task_runner

log = logging.getLogger(__name__)

MEASURES = ("pesq_wb", "pesq_nb", "stoi", "dnsmos_p808", "similarity")
OPUS_RATES = (6.0, 8.0, 10.0)


@dataclass(frozen=True)
class System:
    """One row: ``key`` (a folder name), ``name`` (a label), ``family`` (a line of the figure), ``kind`` and its
    setting (a speechvae bit rate, a Codec2 mode or an Opus bit rate)."""

    key: str
    name: str
    family: str
    kind: str  # recording | copy | speechvae | codec2 | opus
    setting: str = ""


def systems(rates: list[float], codec2_modes: list[str] = CODEC2_MODES, opus_rates: list[float] = OPUS_RATES,
            ) -> list[System]:
    """The rows to judge; reference codecs whose tools are not installed are left out, with a warning saying how
    to install them."""
    out = [System("recording", "recording", "recording", "recording"),
           System("world", "WORLD copy synthesis (unquantised)", "WORLD", "copy")]
    out += [System(f"speechvae_{r:g}k", f"speechvae {r:g}", "speechvae", "speechvae", repr(float(r))) for r in rates]
    for name, rows in (("codec2", [System(f"codec2_{m}", f"Codec2 {m}", "Codec2", "codec2", m)
                                   for m in codec2_modes]),
                       ("opus", [System(f"opus_{r:g}k", f"Opus {r:g}", "Opus", "opus", f"{r:g}")
                                 for r in opus_rates])):
        if rows and not available(name):
            log.warning("%s rows left out: the tools are not installed (%s)", name, INSTALL[name])
        elif rows:
            out += rows
    return out


_CODECS: dict[str, Codec] = {}  # per worker process: the model loaded once


def _codec(model: str) -> Codec:
    if model not in _CODECS:
        _CODECS[model] = load_codec(model)
    return _CODECS[model]


def _run_system(s: System, x: np.ndarray, fs: int, c: Codec, feats: Features | None,
                analysis_s: float) -> tuple[np.ndarray, int | None, tuple[float, float] | None]:
    """One system on ``x (N,)`` at ``fs`` -> (its output at ``fs``, bytes it needed, None for the uncoded rows;
    speechvae rows: (encode s, decode s), the encode including the ``analysis_s`` that made ``feats``)."""
    if s.kind == "recording":
        return x, None, None
    if s.kind == "copy":
        return synthesize(feats)[0], None, None
    if s.kind == "speechvae":
        t0 = time.perf_counter()
        data = c.encode_features(feats, float(s.setting))
        t1 = time.perf_counter()
        y = c.decode(data)[0]
        return y, len(data), (analysis_s + t1 - t0, time.perf_counter() - t1)
    if s.kind == "codec2":
        return (*codec2(x, fs, s.setting), None)
    return (*opus(x, fs, float(s.setting)), None)


def _judge_one(task: tuple) -> dict:
    model, utt, rows, outdir = task
    c = _codec(model)
    fs = c.analysis.fs
    x = read_audio(utt.path, fs)
    m = measures()
    feats, analysis_s = None, 0.0
    if any(s.kind in ("copy", "speechvae") for s in rows):  # one WORLD analysis serves copy synthesis and the codec
        t0 = time.perf_counter()
        feats = c.analyze(x, fs)
        analysis_s = time.perf_counter() - t0
    out: dict = {"utt_id": utt.utt_id, "speaker": utt.speaker, "seconds": len(x) / fs, "systems": {}}
    for s in rows:
        y, nbytes, times = _run_system(s, x, fs, c, feats, analysis_s)
        write_wav(utt_file(Path(outdir) / "wavs" / s.key, utt.utt_id, ".wav"), y, fs)
        r: dict = {"bytes": nbytes}
        if times is not None:  # wall seconds on this worker: analysis + encode, decode + synthesis
            r["encode_s"], r["decode_s"] = times
        try:
            ya = align(x, y, fs)
            r.update(pesq_wb=m.pesq_wb(x, ya, fs), pesq_nb=m.pesq_nb(x, ya, fs), stoi=m.stoi(x, ya, fs),
                     dnsmos_p808=m.dnsmos(y, fs)["p808"])
            r["embedding"] = m.embedding(y, fs).tolist()
        except BadAudio as e:
            r["error"] = str(e)
        out["systems"][s.key] = r
    return out


def judge_codecs(model: str | Path, utts: list[Utterance], outdir: str | Path, rows: list[System], jobs: int = 1,
                 progress: bool = True) -> dict:
    """Every system of ``rows`` on every utterance, judged (module docstring); wavs under ``outdir/wavs/<system>/``.
    Returns ``{"systems": {key: {name, family, kbit_per_s, <measure>: mean, n}}, "utterances": [...]}``. A
    speechvae rate below the model's lowest is refused (ValueError) before any work."""
    for s in rows:
        if s.kind == "speechvae":
            _codec(str(model)).allocation(float(s.setting))
    tasks = [(str(model), u, rows, str(outdir)) for u in utts]
    with task_runner(jobs) as run:
        per = run(_judge_one, tasks, desc="judge codecs", progress=progress)
    _similarities(per)
    summary = {}
    for s in rows:
        res = [p["systems"][s.key] for p in per]
        secs = sum(p["seconds"] for p in per)
        coded = [r["bytes"] for r in res if r.get("bytes") is not None]
        entry = {"name": s.name, "family": s.family, "kind": s.kind, "setting": s.setting,
                 "kbit_per_s": sum(coded) * 8 / secs / 1000 if len(coded) == len(res) and secs else None,
                 "n": sum("error" not in r for r in res)}
        for k in MEASURES:
            vals = [r[k] for r in res if isinstance(r.get(k), float)]
            entry[k] = float(np.mean(vals)) if vals else None
        if all("encode_s" in r for r in res) and secs:  # x real time: seconds of speech per second of work
            entry["encode_x_realtime"] = secs / sum(r["encode_s"] for r in res)
            entry["decode_x_realtime"] = secs / sum(r["decode_s"] for r in res)
        summary[s.key] = entry
    for p in per:
        for r in p["systems"].values():
            r.pop("embedding", None)
    return {"systems": summary, "utterances": per}


def _similarities(per: list[dict]) -> None:
    """Each output's cosine with the centroid of its speaker's other recordings (its own when alone)."""
    own = {p["utt_id"]: np.asarray(p["systems"]["recording"]["embedding"]) for p in per
           if "embedding" in p["systems"].get("recording", {})}
    speaker = {p["utt_id"]: p["speaker"] for p in per}
    for p in per:
        mates = [e for u, e in own.items() if u != p["utt_id"] and speaker[u] == p["speaker"]]
        ref = centroid(mates) if mates else own.get(p["utt_id"])
        for r in p["systems"].values():
            if ref is not None and "embedding" in r:
                r["similarity"] = cosine(np.asarray(r["embedding"]), ref)


def markdown_table(result: dict) -> str:
    """The systems as a markdown table: kbit/s measured, the measures."""
    lines = ["| system | kbit/s (files) | PESQ-WB | PESQ-NB | STOI | DNSMOS P.808 | speaker similarity |",
             "|---|---|---|---|---|---|---|"]

    def f(v, d):
        return "" if v is None else f"{v:.{d}f}"
    for s in result["systems"].values():
        lines.append(f"| {s['name']} | {f(s['kbit_per_s'], 2) or '–'} | {f(s['pesq_wb'], 2)} | {f(s['pesq_nb'], 2)} "
                     f"| {f(s['stoi'], 3)} | {f(s['dnsmos_p808'], 2)} | {f(s['similarity'], 3)} |")
    speed = [f"{s['name']}: encode {s['encode_x_realtime']:.1f}x, decode {s['decode_x_realtime']:.1f}x real time"
             for s in result["systems"].values() if "encode_x_realtime" in s]
    return "\n".join(lines + ([""] + ["Speed (one worker): " + "; ".join(speed)] if speed else []))

