"""``speechvae evaluate-vc``: a converted folder against the target speaker's recordings, beside the references on
the same sentences, and the source / converted / target envelope figure.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from speechvae.analysis.featdir import (
    FeatureFolder,
    feature_path,
    sentence_name,
    speaker_stats_path,
    speakers,
    utterance_speakers,
)
from speechvae.analysis.features import Features
from speechvae.analysis.mcep import mcep_to_sp
from speechvae.analysis.stats import Stats
from speechvae.evaluation.judgements import JudgementCache
from speechvae.evaluation.metrics import MCD_PROTOCOLS
from speechvae.evaluation.quality import require
from speechvae.models.checkpoint import CheckpointError, load_checkpoint
from speechvae.plots import envelope_panels
from speechvae.store import write_json
from speechvae.vc.convert import read_convert_info
from speechvae.vc.quality import conversion_quality
from speechvae.vc.references import by_sentence, meanstd_convert, pool_scores, score_conversion

log = logging.getLogger(__name__)


def evaluate_conversion(converted: str | Path, target_dir: str | Path, *, outdir: str | Path | None = None,
                        quality: bool = False, progress: bool = True, quality_cache: str | Path | None = None) -> dict:
    """Score a folder written by :func:`convert_folder` against the target speaker's recordings of the same
    sentences in ``target_dir`` (matched by name), beside the two references on the same sentences: ``none``
    (the source utterances) and ``meanstd`` (with the statistics the conversion used). Returns
    ``{"model": {...}, "none": {...}, "meanstd": {...}, "pairs": N, "mcd_protocols": {...}}`` (each
    :func:`score_conversion`'s dict: DTW MCD under both protocols of :data:`speechvae.evaluation.metrics.MCD_PROTOCOLS`,
    F0 RMSE). With ``quality``: ``quality`` (:func:`speechvae.vc.quality.conversion_quality`: speaker
    similarity to the target and the source, the share nearer the target, DNSMOS, for these systems and the
    target's copy synthesis and recordings). ``parallel``: whether the target read the converted sentences; when
    it did not (no name in common), only ``quality`` is measured, with the target's rows on recordings of other
    sentences (:func:`non_parallel_pairs`); ``scored``: the (converted id, target id) pairs. ``quality_cache``: a
    folder of judgements (:class:`~speechvae.evaluation.judgements.JudgementCache`): a waveform judged there before,
    as every reference is on the next model's evaluation, is read back, not judged again."""
    if quality:
        require()
    converted, target_dir = FeatureFolder.of(converted), FeatureFolder.of(target_dir)  # each manifest read once
    info = read_convert_info(converted.path)
    tgt, source_dir = info["target"], FeatureFolder(info["source_featdir"])
    by_name = by_sentence(target_dir, tgt)
    if not by_name:
        raise ValueError(f"{target_dir}: no utterances of the target speaker {tgt!r} "
                         f"(speakers: {', '.join(sorted(speakers(target_dir)))})")
    done = utterance_speakers(converted)
    pairs = [(u, by_name[sentence_name(u)]) for u in done if sentence_name(u) in by_name]
    trained = set(_train_utts(info["model"]))
    parallel = bool(pairs)
    if not parallel:
        pairs = non_parallel_pairs(sorted(done), by_name, trained, f"{converted} and {target_dir}", quality)
    elif len(pairs) < len(done):
        log.warning("%d converted utterance(s) have no recording by %s in %s: not scored", len(done) - len(pairs),
                    tgt, target_dir)
    stats = {s: Stats.load(speaker_stats_path(converted, s)) for s in {*info["sources"].values(), tgt}}
    src_of = info["sources"]
    out = {}
    if parallel:
        out = {"model": score_conversion(converted, pairs, lambda f: f, target_dir),
               "none": score_conversion(source_dir, pairs, lambda f: f, target_dir)}
        # the reference needs each utterance's own source speaker: score them speaker by speaker, then pool
        per = {}
        for s in sorted({src_of[u] for u, _ in pairs}):
            sub = [p for p in pairs if src_of[p[0]] == s]
            per.update(score_conversion(source_dir, sub, lambda f: meanstd_convert(f, stats[s], stats[tgt]),
                                        target_dir)["per_utterance"])
        out["meanstd"] = pool_scores(per)
    out.update(parallel=parallel, pairs=len(pairs), scored=[list(p) for p in pairs], target=tgt,
               sources=sorted(set(src_of[u] for u, _ in pairs)),
               held_out=not (set(u for p in pairs for u in p) & trained), mcd_protocols=MCD_PROTOCOLS)
    if quality:
        cache = JudgementCache(quality_cache) if quality_cache is not None else None
        out["quality"] = conversion_quality(converted, source_dir, target_dir, pairs, src_of, tgt,
                                            lambda s: lambda f: meanstd_convert(f, stats[s], stats[tgt]), trained,
                                            progress=progress, cache=cache)
        if cache is not None:
            log.info("judgements: %d read back from %s, %d made", cache.hits, quality_cache, cache.misses)
    if outdir is not None:
        write_json(Path(outdir), out)
    return out


def non_parallel_pairs(converted: list[str], by_name: dict[str, str], trained: set[str], what: str,
                       quality: bool) -> list[tuple[str, str]]:
    """Converted ids paired, in turn, with target recordings of *other* sentences (those not trained on, when there
    are any): for a conversion with no parallel recording, the target's rows (its copy synthesis and recordings)
    are then measured on as many utterances as the conversions. Without ``quality`` there is nothing to measure:
    ValueError saying so."""
    if not quality:
        raise ValueError(f"{what}: no sentence names in common, so no MCD or F0 RMSE; the measures that need no "
                         "parallel recording (speaker similarity, DNSMOS) come with --quality (speechvae[quality])")
    if not by_name:
        raise ValueError(f"{what}: no recording of the target speaker")
    held = [t for t in by_name.values() if t not in trained] or list(by_name.values())
    log.info("%s: no sentence in common: judged by speaker similarity and DNSMOS only (target rows: %d of its "
             "recordings%s)", what, min(len(held), len(converted)),
             "" if set(held) - trained else ", TRAINING ones: none held out")
    return [(u, held[i % len(held)]) for i, u in enumerate(converted)]


def conversion_figure(converted: str | Path, target_dir: str | Path, utt: str | None = None):
    """Source / converted / target spectral envelopes (dB over kHz and time) of one converted utterance
    (default: the first) and the target's recording of its sentence: a matplotlib Figure."""

    converted = Path(converted)
    info = read_convert_info(converted)
    done = list(utterance_speakers(converted))
    utt = utt or done[0]
    if utt not in done:
        raise ValueError(f"{utt}: not among the converted utterances of {converted} (e.g. {done[0]})")
    tgt_id = by_sentence(target_dir, info["target"]).get(sentence_name(utt))
    if tgt_id is None:
        raise ValueError(f"{target_dir}: no recording of {sentence_name(utt)} by {info['target']}")
    versions = [(f"source ({info['sources'][utt]})", Features.load(feature_path(info["source_featdir"], utt))),
                (f"converted (to {info['target']})", Features.load(feature_path(converted, utt))),
                (f"target ({info['target']})", Features.load(feature_path(target_dir, tgt_id)))]
    f = versions[0][1]
    khz = np.arange(f.fft_size // 2 + 1) * f.fs / f.fft_size / 1000.0
    panels = [(label, 10.0 * np.log10(mcep_to_sp(v.mcep, v.alpha, v.fft_size))) for label, v in versions]
    return envelope_panels(panels, khz, f.frame_period, sentence_name(utt))


def _train_utts(model_path: str) -> list[str]:
    try:
        return load_checkpoint(model_path).train_utts
    except CheckpointError:
        log.warning("%s: model not readable: cannot tell whether the sentences were held out", model_path)
        return []
