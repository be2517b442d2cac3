"""DTW-aligned frame pairs of the sentences that two training speakers both read, for ``loss.parallel``.

A parallel corpus (CMU ARCTIC: every speaker reads the same sentences) can teach a speaker-conditioned model its
conversions directly, not only through the cycle term's round trip: each speech frame of one speaker's sentence is
paired with the frame of another speaker's reading of it that dynamic time warping puts against it, and training
asks the conversion of the first (its posterior mean decoded with the second speaker's code) to be the second.

The alignment runs on the source's c1..c39 moved to the target speaker's mean and std (the ``meanstd`` reference
of :mod:`speechvae.vc.convert`, with each speaker's statistics over its training utterances) against the target's
own, so that it matches content and not the two voices' average spectra, in mel-cepstral units (standardising both
sides instead weighs the noisy high quefrencies as much as the formants: on CMU ARCTIC that alignment was far worse),
over speech frames only (within :data:`speechvae.analysis.align.SILENCE_DB` of the utterance's loudest frame:
pauses differ in length between readers and carry no conversion to learn). ``loss.parallel_realign`` aligns again,
every so many epochs, on the model's own conversion of the source (as sprocket refines its GMM's alignment): nearer
the target than mean/std matching, so the pairs it gives match content better (on CMU ARCTIC, a trained model
fine-tuned on pairs aligned on its conversions converted 0.10-0.15 dB better than on pairs aligned by mean/std).
Pairs are index pairs into the training frames in the order :func:`speechvae.training.data.load_frames` concatenates
them (8 bytes each, no copy of a frame).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from speechvae.analysis.align import dtw_path, speech_frames
from speechvae.analysis.featdir import feature_path, read_manifest, sentence_name
from speechvae.analysis.features import Features
from speechvae.analysis.stats import Stats

log = logging.getLogger(__name__)


@dataclass
class FramePairs:
    """``src``, ``tgt``: ``(P,)`` int64 indices into the training frames of each pair's source frame and the target
    frame aligned to it; ``sentences``: the (source, target) readings aligned; ``skipped``: those whose lengths DTW's
    slope limit cannot align (the target's speech more than twice as long)."""

    src: np.ndarray
    tgt: np.ndarray
    sentences: int
    skipped: int


# (source reading's features, source speaker, target speaker) -> (T, D) c1..cD: the source as the target would say it
Converter = Callable[[Features, str, str], np.ndarray]


def meanstd_converter(speaker_stats: dict[str, Stats]) -> Converter:
    """The source's c1..cD moved from its speaker's mean/std to the target's (the first alignment)."""
    def convert(f: Features, s: str, t: str) -> np.ndarray:
        a, b = speaker_stats[s], speaker_stats[t]
        return (f.mcep[:, 1:] - a.mcep_mean) / a.mcep_std * b.mcep_std + b.mcep_mean
    return convert


def aligned_pairs(featdir: str | Path, utt_ids: list[str], speaker_stats: dict[str, Stats],
                  convert: Converter | None = None) -> FramePairs:
    """The frame pairs of every sentence two or more speakers of ``utt_ids`` read (matched by
    :func:`~speechvae.analysis.featdir.sentence_name`), in both directions for every two of them: each speech frame of
    the source reading, the target's frame DTW aligns to it: ``convert`` of the source against the target's c1..c39
    (None: :func:`meanstd_converter` of ``speaker_stats``, each speaker's statistics over its training
    utterances). Indices count frames of ``utt_ids`` in that order. Refuses a set where no sentence is read by two
    speakers (a non-parallel corpus)."""
    rows = {r["utt_id"]: r for r in read_manifest(featdir)}
    offset = dict(zip(utt_ids, np.cumsum([0] + [rows[u]["frames"] for u in utt_ids[:-1]])))
    readings: dict[str, list[str]] = {}
    for u in utt_ids:
        readings.setdefault(sentence_name(u), []).append(u)
    shared = {n: us for n, us in readings.items() if len({rows[u]["speaker"] for u in us}) > 1}
    if not shared:
        raise ValueError("loss.parallel needs sentences read by two or more training speakers (a parallel corpus, "
                         "utterances named alike across speaker folders); these training utterances share none")
    convert = convert or meanstd_converter(speaker_stats)
    src, tgt, done, skipped = [], [], 0, 0
    for name in sorted(shared):
        side = {}
        for u in shared[name]:
            f = Features.load(feature_path(featdir, u))
            side[u] = (f, np.flatnonzero(speech_frames(f.power_db)))
        for a in shared[name]:
            for b in shared[name]:
                if rows[a]["speaker"] == rows[b]["speaker"]:
                    continue
                (fa, ia), (fb, ib) = side[a], side[b]
                if len(ib) > 2 * len(ia) - 1:
                    skipped += 1
                    continue
                path = dtw_path(convert(fa, rows[a]["speaker"], rows[b]["speaker"])[ia], fb.mcep[ib, 1:])
                src.append(offset[a] + ia)
                tgt.append(offset[b] + ib[path])
                done += 1
    if not src:
        raise ValueError(f"loss.parallel: none of the {skipped} readings of shared sentences could be aligned")
    pairs = FramePairs(np.concatenate(src).astype(np.int64), np.concatenate(tgt).astype(np.int64), done, skipped)
    log.info("loss.parallel: %d frame pairs from %d aligned readings of %d shared sentences (%d not alignable)",
             len(pairs.src), done, len(shared), skipped)
    return pairs
