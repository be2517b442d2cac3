"""The codec on folders: ``speechvae codec encode`` writes one bitstream per utterance (``BITDIR/<utt_id>.svc`` and
``BITDIR/manifest.tsv``: id, speaker, source wav, frames, seconds), ``speechvae codec decode`` one wav per bitstream.

Ids come from the inputs (file names; ``<speaker>/<name>`` where speaker folders share names, as
:func:`speechvae.analysis.inputs.collect_inputs` makes them) and become paths only through
:func:`speechvae.analysis.featdir.utt_file`, which keeps them inside the output folder.
"""
from __future__ import annotations

import logging
from pathlib import Path

import soundfile as sf

from speechvae.analysis.audio import write_wav
from speechvae.analysis.featdir import read_manifest, utt_file, write_manifest
from speechvae.analysis.inputs import collect_inputs
from speechvae.codec.bitstream import BitstreamError
from speechvae.codec.codec import Codec
from speechvae.console import progress_bar
from speechvae.store import atomic_write_bytes

log = logging.getLogger(__name__)

SUFFIX = ".svc"


def bitstream_path(bitdir: str | Path, utt_id: str) -> Path:
    """``BITDIR/<utt_id>.svc``, the id checked to stay inside ``bitdir``."""
    return utt_file(bitdir, utt_id, SUFFIX)


def encode_files(codec: Codec, inputs: list[str | Path], bitdir: str | Path, bitrate: float | None = None,
                 progress: bool = True, **analysis) -> dict:
    """Encode wav files, folders or ``utt_id path`` lists into ``bitdir`` (``analysis``: overrides of the model's
    analysis settings, e.g. ``f0_floor=60``); returns ``utterances``, ``seconds`` (of
    the inputs), ``bytes`` (the files, headers included), ``kbit_per_s`` (bytes x 8 / seconds / 1000, measured)
    ``codebooks`` (the envelope codebooks the rate allowed) and ``failures`` (one line per input that could not be
    encoded; the others are written)."""
    utts = collect_inputs(list(inputs))
    alloc = codec.allocation(bitrate)
    rows, total, seconds, failures = [], 0, 0.0, []
    for u in progress_bar(utts, desc="codec encode", unit="utt", enabled=progress):
        try:
            feats = codec.analyze(u.path, **analysis)
            data = codec.encode_features(feats, bitrate)
        except (ValueError, OSError, RuntimeError) as e:  # an unreadable or too short wav: named, the rest goes on
            failures.append(f"{u.path}: {e.strerror if isinstance(e, OSError) and e.strerror else e}")
            continue
        atomic_write_bytes(bitstream_path(bitdir, u.utt_id), data)  # an interrupted run leaves no half file
        dur = sf.info(u.path).duration
        total, seconds = total + len(data), seconds + dur
        rows.append({"utt_id": u.utt_id, "speaker": u.speaker, "path": u.path, "frames": feats.frames,
                     "seconds": dur})
    write_manifest(bitdir, rows)
    return {"utterances": len(rows), "seconds": seconds, "bytes": total,
            "kbit_per_s": total * 8 / seconds / 1000 if seconds else 0.0, "codebooks": alloc.codebooks,
            "failures": failures}


def decode_files(codec: Codec, bitdir: str | Path, wavdir: str | Path, postfilter: bool | None = None,
                 progress: bool = True) -> tuple[int, list[str]]:
    """Decode every bitstream ``bitdir`` holds (its manifest, else every ``*.svc`` in it; or ``bitdir`` is one
    bitstream file) into ``wavdir/<utt_id>.wav``; returns (decoded count, one line per file that could not be
    decoded)."""
    bitdir = Path(bitdir)
    if bitdir.is_file():  # one bitstream: WAVDIR/<its name>.wav
        files = [(bitdir.stem, bitdir)]
    elif not bitdir.is_dir():
        raise ValueError(f"{bitdir}: no such bitstream or folder of bitstreams (`speechvae codec encode` writes one)")
    elif (bitdir / "manifest.tsv").is_file():
        files = [(r["utt_id"], bitstream_path(bitdir, r["utt_id"])) for r in read_manifest(bitdir)]
    else:
        ids = sorted(p.relative_to(bitdir).with_suffix("").as_posix() for p in bitdir.rglob(f"*{SUFFIX}"))
        files = [(u, bitstream_path(bitdir, u)) for u in ids]
    if not files:
        raise ValueError(f"{bitdir}: no {SUFFIX} bitstreams in it")
    failures, done = [], 0
    for utt, path in progress_bar(files, desc="codec decode", unit="utt", enabled=progress):
        try:
            y, fs = codec.decode(path.read_bytes(), postfilter)
        except (BitstreamError, OSError) as e:
            failures.append(f"{path}: {e.strerror if isinstance(e, OSError) else e}")
            continue
        write_wav(utt_file(wavdir, utt, ".wav"), y, fs)
        done += 1
    return done, failures
