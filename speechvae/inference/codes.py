"""Latent codes as files: ``speechvae encode`` writes what a model keeps of each utterance's spectral
envelope, ``speechvae decode`` turns it back into a feature folder that ``resynth`` and ``evaluate`` take.

A code folder holds ``code.json`` (the model's fingerprint, what the codes are, their rate), ``manifest.tsv``,
``analysis.yaml`` and per utterance ``codes/<utt>.npz`` with

- a VQ-VAE: ``codes (T', n)``, code indices in the smallest unsigned integer dtype that holds K - 1;
- a Gaussian VAE: ``z (T', latent)`` float32, the posterior means;
- the streams the envelope code does not carry, as analysed (float64): ``f0 (T,)`` Hz, ``c0 (T,)``,
  ``bap (T, B)`` dB and ``power_db (T,)``. The rate a model reports counts the envelope code only.

T' = ceil(T / stride). Decoding with another model than the one that encoded is refused (fingerprint).

A speaker-conditioned model: the manifest keeps each utterance's speaker, and ``decode`` decodes each code with
its own speaker's code, or with ``speaker=`` another known speaker's (the envelope decoded as that speaker and
log-F0 moved to its statistics, as ``speechvae convert`` does: stored codes, converted at decode time).
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from speechvae.analysis.featdir import (
    feature_path,
    read_manifest,
    utt_file,
    utterance_speakers,
    write_featdir_analysis,
    write_manifest,
)
from speechvae.analysis.features import Features, check_compatible
from speechvae.console import progress_bar
from speechvae.inference.model import Model, codes_to_latents, encode, encode_codes, with_latents
from speechvae.inference.rate import bits_to_kbit_s
from speechvae.models.prosody import f0_map
from speechvae.store import StoreError, load_npz, save_npz, write_json

log = logging.getLogger(__name__)

CODE_JSON = "code.json"
CODES_SUBDIR = "codes"
FORMAT = "speechvae-codes-1"


def code_path(codedir: str | Path, utt_id: str) -> Path:
    """``CODEDIR/codes/<utt_id>.npz``, the id checked (:func:`speechvae.analysis.featdir.utt_file`)."""
    return utt_file(Path(codedir) / CODES_SUBDIR, utt_id, ".npz")


def model_fingerprint(tm: Model) -> str:
    """sha256 (first 16 hex digits) of the model's weights and buffers: codes only mean something to
    the model that wrote them."""
    h = hashlib.sha256()
    for k, v in sorted(tm.model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def describe(tm: Model) -> dict:
    """What a model's code is: ``kind`` ("vq" or "gaussian"), shape, ``bits_per_frame`` (VQ, exact)."""
    m, vq = tm.cfg.model, tm.model.vq
    out = {"format": FORMAT, "model": model_fingerprint(tm), "stride": tm.model.stride, "latent": m.latent,
           "frame_period_ms": tm.cfg.analysis.frame_period}
    if vq is not None:
        bits = tm.model.bits_per_frame
        out.update(kind="vq", quantizer=vq.kind, codebooks=vq.n, entries=vq.size, bits_per_frame=bits,
                   kbit_per_s=bits_to_kbit_s(bits, tm.cfg.analysis.frame_period))
    else:
        out.update(kind="gaussian", dtype="float32")
    return out


def encode_utterance(tm: Model, feats: Features, speaker: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of one code file (see the module docstring); ``speaker``: who speaks (needed by a model
    whose encoder is speaker-conditioned)."""
    code = ({"codes": encode_codes(tm, feats, speaker)} if tm.model.vq is not None
            else {"z": encode(tm, feats, speaker)[0].astype(np.float32)})
    return {**code, "f0": feats.f0, "c0": feats.mcep[:, 0], "bap": feats.bap, "power_db": feats.power_db,
            **{k: np.asarray(v) for k, v in feats.spec().items() if k != "order"}, "order": np.int64(feats.order)}


def decode_utterance(tm: Model, arrays: dict[str, np.ndarray], postfilter: bool | None = None,
                     what: str = "code file", speaker: str | None = None, f0: np.ndarray | None = None) -> Features:
    """One code file's arrays -> Features with the model's decoded c1..c39 (as ``reconstruct`` gives), decoded
    as ``speaker`` by a speaker-conditioned model. F0 as stored, or ``f0`` (Hz, same frames: a conversion's mapped
    F0), which a decoder that takes prosody also decodes with."""
    if tm.model.vq is not None:
        if "codes" not in arrays:
            raise StoreError(f"{what}: holds latent means, but this model is a VQ-VAE (needs code indices)")
        z = codes_to_latents(tm, arrays["codes"])
    else:
        if "z" not in arrays:
            raise StoreError(f"{what}: holds code indices, but this model has a continuous latent")
        z = arrays["z"]
    frames = len(arrays["f0"])
    mcep = np.zeros((frames, int(arrays["order"]) + 1))
    mcep[:, 0] = arrays["c0"]
    side = Features(f0=arrays["f0"] if f0 is None else f0, mcep=mcep, bap=arrays["bap"], power_db=arrays["power_db"],
                    fs=int(arrays["fs"]),
                    frame_period=float(arrays["frame_period"]), alpha=float(arrays["alpha"]),
                    fft_size=int(arrays["fft_size"]))
    check_compatible(side, tm.cfg.analysis, what)
    if len(z) != -(-frames // tm.model.stride):
        raise StoreError(f"{what}: {len(z)} latent vectors for {frames} frames (stride {tm.model.stride})")
    return with_latents(tm, side, z, postfilter, speaker)


def encode_folder(tm: Model, featdir: str | Path, utt_ids: list[str], codedir: str | Path,
                  progress: bool = True) -> dict:
    """Write the code folder of ``utt_ids``; returns code.json's content (with ``utterances``, ``frames``,
    ``code_bytes``: bytes of the envelope codes as stored in memory, before npz framing)."""

    codedir = Path(codedir)
    info, rows, frames, nbytes = describe(tm), [], 0, 0
    spk = utterance_speakers(featdir)
    tm.checkpoint.check_encoder_speakers(spk[u] for u in utt_ids)  # a both-conditioned model: before any file
    for u in progress_bar(utt_ids, desc="encode", unit="utt", enabled=progress):
        path = feature_path(featdir, u)
        f = Features.load(path)
        check_compatible(f, tm.cfg.analysis, str(path))
        arrays = encode_utterance(tm, f, spk[u] if tm.conditioned else None)
        save_npz(code_path(codedir, u), arrays)
        code = arrays.get("codes", arrays.get("z"))
        frames, nbytes = frames + f.frames, nbytes + code.nbytes
        rows.append({"utt_id": u, "speaker": spk[u], "path": str(path), "frames": f.frames,
                     "seconds": f.frames * f.frame_period / 1000})
    info.update(utterances=len(rows), frames=frames, code_bytes=nbytes)
    write_manifest(codedir, rows)
    write_featdir_analysis(codedir, tm.cfg.analysis)
    write_json(codedir / CODE_JSON, info)
    return info


def read_code_info(codedir: str | Path) -> dict:
    path = Path(codedir) / CODE_JSON
    try:
        info = json.loads(path.read_text())
    except OSError:
        raise StoreError(f"{codedir} is not a code folder (no {CODE_JSON}): write one with "
                         "`speechvae encode FEATDIR --model EXPDIR -o CODEDIR`") from None
    except json.JSONDecodeError as e:
        raise StoreError(f"{path}: unreadable ({e})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise StoreError(f"{path}: not a speechvae code folder description")
    return info


def decode_folder(tm: Model, codedir: str | Path, outdir: str | Path, postfilter: bool | None = None,
                  progress: bool = True, speaker: str | None = None) -> int:
    """Code folder -> feature folder (features/, manifest.tsv, analysis.yaml); returns the utterance count.
    Refuses a code folder written by another model. A speaker-conditioned model decodes each code as its own
    speaker, or as ``speaker`` with log-F0 moved from the source speaker's statistics to its (both must be
    known to the model; an unknown source: use ``speechvae convert``, which measures its statistics)."""

    info = read_code_info(codedir)
    mine = model_fingerprint(tm)
    if info["model"] != mine:
        raise StoreError(f"{codedir}: written by model {info['model']}, not by this one ({mine}): decode with the "
                         "model that encoded it")
    manifest, stats = read_manifest(codedir), tm.checkpoint.speaker_stats
    if speaker is not None:
        tm.checkpoint.speaker_index(speaker)  # refuses an unconditioned model or an unknown speaker before any work
    unknown = sorted({r["speaker"] for r in manifest} - set(stats)) if tm.conditioned else []
    if unknown:  # each code needs its speaker's code (own decode) or statistics (F0 map): refuse before any file
        raise ValueError(f"{codedir}: speaker(s) {', '.join(unknown)} unknown to this model (its speakers: "
                         f"{', '.join(tm.cfg.model.speakers)}); another speaker's features convert with "
                         "`speechvae convert`")
    rows = []
    for r in progress_bar(manifest, desc="decode", unit="utt", enabled=progress):
        path = code_path(codedir, r["utt_id"])
        own = r["speaker"] if tm.conditioned else None
        arrays = load_npz(path)
        f0 = None if speaker is None else f0_map(arrays["f0"], stats[own], stats[speaker])
        f = decode_utterance(tm, arrays, postfilter, str(path), speaker or own, f0)
        f.save(feature_path(outdir, r["utt_id"]))
        rows.append({**r, "speaker": speaker or r["speaker"], "path": str(path)})
    write_manifest(outdir, rows)
    write_featdir_analysis(outdir, tm.cfg.analysis)
    return len(rows)

