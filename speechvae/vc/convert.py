"""Voice conversion: a speaker-conditioned model's conversion (``speechvae convert``), the references every
converter stands beside, and the scoring of any converter against the target speaker's parallel recordings
(``speechvae evaluate-vc``).

Conversion (:func:`convert`): the source's c1..c39 encoded to z (posterior mean) and decoded with the target
speaker's code; log-F0 moved from the source speaker's mean/std to the target's (:func:`f0_map`); c0 (power) and
aperiodicity kept, so the converted utterance has the source's frames, length and loudness contour.

References (``speechvae baseline vc``):

- ``none``: the source utterance unchanged (how far apart the two voices are to begin with);
- ``meanstd``: each of c1..c39 moved from the source speaker's mean and std to the target's, and log-F0
  likewise (the speakers' :class:`~speechvae.analysis.stats.Stats` over their training utterances); c0 (power) and
  aperiodicity kept. A converter that does not beat this has learned nothing a global affine map does not.

Scoring (:func:`score_conversion`): for each source utterance, its conversion against the target speaker's
recording of the same sentence with :func:`speechvae.evaluation.metrics.dtw_mcd` under both MCD protocols (c1..c39 over
speech frames; c0..c39 over voiced frames), F0 RMSE in cents over frames voiced in both; overall figures are weighted by
aligned frames (MCD) and by voiced pairs (F0). How they sound (speaker similarity, DNSMOS): :mod:`speechvae.vc.quality`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np

from speechvae.analysis.audio import write_wav
from speechvae.analysis.featdir import (
    FeatureFolder,
    feature_path,
    speaker_stats_path,
    utt_file,
    write_featdir_analysis,
    write_manifest,
)
from speechvae.analysis.features import check_compatible, vocode
from speechvae.console import progress_bar
from speechvae.inference.model import convert
from speechvae.store import write_json

log = logging.getLogger(__name__)


CONVERT_JSON = "convert.json"  # what a converted folder came from: model, source folder, speakers


PEAK = 0.99  # a converted waveform louder than full scale is scaled to this peak (never clipped)


def convert_folder(tm, featdir: str | Path, utt_ids: list[str], tgt: str, outdir: str | Path, *, wav: bool = True,
                   progress: bool = True) -> dict:
    """Convert the utterances ``utt_ids`` of ``featdir`` to speaker ``tgt`` into ``outdir``: ``feats/<id>.npz``
    (ids kept, manifest speaker ``tgt``), ``wav/<id>.wav`` (16-bit; a waveform over full scale is scaled to
    :data:`PEAK`, never clipped), ``stats/<speaker>.npz`` of the two speakers' statistics the F0 map used
    (the reference :func:`meanstd_convert` uses the same) and ``convert.json``.

    A source speaker the model knows uses its checkpoint statistics; another one the statistics of its
    utterances in ``featdir`` (a ``both``-conditioned model refuses one: its encoder needs the speaker's code).
    An utterance that fails (unreadable file, other analysis settings) is logged and named in ``failures``; the
    others are converted. Returns the content of ``convert.json``."""

    tm.checkpoint.speaker_index(tgt)  # refuses an unconditioned model or an unknown target before any work
    source, outdir = FeatureFolder.of(featdir), Path(outdir)
    spk_of = source.speaker_of()
    tm.checkpoint.check_encoder_speakers(spk_of[u] for u in utt_ids)  # a both-conditioned model: before any work
    stats = dict(tm.checkpoint.speaker_stats)
    for s in sorted({spk_of[u] for u in utt_ids} - set(stats)):
        own = [u for u in utt_ids if spk_of[u] == s]
        log.info("source speaker %s unknown to the model: its F0 statistics from its %d utterances in %s", s,
                 len(own), source)
        stats[s] = source.stats(own)
    rows, failures, scaled = [], [], []
    for u in progress_bar(utt_ids, desc=f"convert to {tgt}", unit="utt", enabled=progress):
        src = spk_of[u]
        try:
            f = source.load(u)
            check_compatible(f, tm.cfg.analysis, str(source.feature_path(u)))
            out = convert(tm, f, src if src in tm.cfg.model.speakers else None, tgt, stats[src])
        except (ValueError, OSError) as e:
            failures.append(f"{u}: {e}")
            log.error("%s: not converted: %s", u, e)
            continue
        out.save(feature_path(outdir, u))
        if wav:
            y = vocode(out)
            peak = float(np.abs(y).max(initial=0.0))
            if peak > 32767 / 32768:
                y = y * (PEAK / peak)
                scaled.append(u)
            write_wav(utt_file(outdir / "wav", u, ".wav"), y, out.fs)
        rows.append({"utt_id": u, "speaker": tgt, "path": str(source.feature_path(u)), "frames": out.frames,
                     "seconds": out.frames * out.frame_period / 1000})
    if scaled:
        log.warning("%d converted waveform(s) over full scale, scaled to peak %.2f: %s", len(scaled), PEAK,
                    ", ".join(scaled[:5]))
    write_manifest(outdir, rows)
    write_featdir_analysis(outdir, source.analysis)
    used = {spk_of[u] for u in utt_ids} | {tgt}
    for s in sorted(used):
        stats[s].save(speaker_stats_path(outdir, s))
    info = {"model": str(Path(tm.checkpoint_path).resolve()), "source_featdir": str(source.path.resolve()),
            "target": tgt, "sources": {u: spk_of[u] for u in utt_ids}, "converted": len(rows),
            "failures": failures, "scaled_to_peak": scaled,
            "postfilter": dataclasses.asdict(tm.cfg.postfilter)}  # the GV post-filter the frames went through
    write_json(outdir / CONVERT_JSON, info)
    return info


def read_convert_info(converted: Path) -> dict:
    """The ``convert.json`` of a folder written by :func:`convert_folder`; ValueError saying so otherwise."""
    try:
        return json.loads((converted / CONVERT_JSON).read_text())
    except (OSError, ValueError):
        raise ValueError(f"{converted}: no {CONVERT_JSON}: evaluate-vc takes a folder written by "
                         "`speechvae convert`") from None
