"""Voice conversion: a speaker-conditioned model's conversion (``speechvae convert``), the references every
converter stands beside, and the scoring of any converter against the target speaker's parallel recordings
(``speechvae evaluate-vc``).

Conversion (:func:`convert`): the source's c1..c39 encoded to z (posterior mean) and decoded with the target
speaker's code; log-F0 moved from the source speaker's mean/std to the target's (:func:`f0_map`); c0 (power) and
aperiodicity kept, so the converted utterance has the source's frames, length and loudness contour.

References (``speechvae baseline vc``):

- ``none``: the source utterance unchanged (how far apart the two voices are to begin with);
- ``meanstd``: each of c1..c39 moved from the source speaker's mean and std to the target's, and log-F0
  likewise (the speakers' :class:`~speechvae.stats.Stats` over their training utterances); c0 (power) and
  aperiodicity kept. A converter that does not beat this has learned nothing a global affine map does not.

Scoring (:func:`score_conversion`): for each source utterance, its conversion against the target speaker's
recording of the same sentence with :func:`speechvae.metrics.dtw_mcd` under both MCD protocols (c1..c39 over speech
frames; c0..c39 over voiced frames), F0 RMSE in cents over frames voiced in both; overall figures are weighted by
aligned frames (MCD) and by voiced pairs (F0). How they sound (speaker similarity, DNSMOS): :mod:`speechvae.vc_quality`.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Callable

import numpy as np

from .features import Features
from .featdir import (check_speaker, feature_path, inside, read_featdir_analysis, sentence_name, speaker_stats_path,
                      speakers, utt_file, utterance_speakers, write_featdir_analysis, write_manifest)
from .metrics import MCD_PROTOCOLS, dtw_mcd
from .stats import Stats

log = logging.getLogger(__name__)


def f0_map(f0: np.ndarray, src: Stats, tgt: Stats) -> np.ndarray:
    """Voiced F0 (Hz) moved from the source's log-F0 mean/std to the target's; unvoiced (0) stays 0.

    >>> s = Stats.from_arrays({"mcep_mean": [0.0], "mcep_std": [1.0], "mcep_gv": [1.0], "lf0_mean": np.log(100),
    ...                        "lf0_std": 0.1, "frames": 1, "utterances": 1})
    >>> t = dataclasses.replace(s, lf0_mean=float(np.log(200)), lf0_std=0.2)
    >>> f0_map(np.array([0.0, 100.0, 110.0]), s, t).round(1).tolist()   # 100 -> 200; 10% up -> 2 x the log step
    [0.0, 200.0, 242.0]
    """
    f0 = np.asarray(f0, dtype=np.float64)
    out = np.zeros_like(f0)
    v = f0 > 0
    out[v] = np.exp((np.log(f0[v]) - src.lf0_mean) / src.lf0_std * tgt.lf0_std + tgt.lf0_mean)
    return out


def meanstd_convert(f: Features, src: Stats, tgt: Stats) -> Features:
    """The ``meanstd`` reference: c1..c39 and F0 moved from the source speaker's statistics to the target's."""
    mcep = f.mcep.copy()
    mcep[:, 1:] = (mcep[:, 1:] - src.mcep_mean) / src.mcep_std * tgt.mcep_std + tgt.mcep_mean
    return dataclasses.replace(f.replace_mcep(mcep), f0=f0_map(f.f0, src, tgt))


def by_sentence(featdir: str | Path, speaker: str) -> dict[str, str]:
    """Sentence name -> utterance id of ``speaker`` in ``featdir`` (empty when the folder lacks the speaker)."""
    return {sentence_name(u): u for u in speakers(featdir).get(speaker, [])}


def parallel_pairs(featdir: str | Path, src: str, tgt: str, src_ids: list[str] | None = None) -> list[tuple[str, str]]:
    """(source id, target id) of the sentences both speakers read, matched by name (``<speaker>/<name>``
    ids), restricted to ``src_ids`` when given. Refuses a speaker the folder does not hold."""
    by_spk = {s: {sentence_name(u): u for u in ids} for s, ids in speakers(featdir).items()}  # name -> id
    for s in (src, tgt):
        if s not in by_spk:
            raise ValueError(f"{featdir}: no speaker {s!r} (speakers: {', '.join(sorted(by_spk))})")
    keep = None if src_ids is None else {sentence_name(u) for u in src_ids}
    names = sorted(n for n in by_spk[src] if n in by_spk[tgt] and (keep is None or n in keep))
    if not names:
        raise ValueError(f"{featdir}: {src} and {tgt} share no sentence names" + (" in the list" if keep else ""))
    return [(by_spk[src][n], by_spk[tgt][n]) for n in names]


def score_conversion(featdir: str | Path, pairs: list[tuple[str, str]], convert: Callable[[Features], Features],
                     target_dir: str | Path | None = None) -> dict:
    """DTW MCD and F0 RMSE of ``convert(source features)`` against each target recording (``target_dir``:
    default ``featdir``). Returns overall ``mcd_db``, ``f0_rmse_cents``, ``utterances`` and ``per_utterance``."""
    target_dir = target_dir or featdir
    per = {}
    for s, t in pairs:
        ref, est = Features.load(feature_path(target_dir, t)), convert(Features.load(feature_path(featdir, s)))
        v = dtw_mcd(ref, est, "c0_voiced")
        per[s] = {"target": t, **dtw_mcd(ref, est), "mcd_c0_voiced_db": v["mcd_db"], "frames_c0_voiced": v["frames"]}
    return pool_scores(per)


def pool_scores(per: dict[str, dict]) -> dict:
    """Overall figures of per-utterance :func:`~speechvae.metrics.dtw_mcd` results: MCD weighted by aligned
    frames (each protocol by its own), F0 RMSE pooled over voiced pairs."""
    w = np.array([m["frames"] for m in per.values()], dtype=float)
    v = np.array([m["voiced_pairs"] for m in per.values()], dtype=float)
    f0 = np.array([m["f0_rmse_cents"] for m in per.values()])
    ok = v > 0
    extra = {}
    if all("mcd_c0_voiced_db" in m for m in per.values()):
        wv = np.array([m["frames_c0_voiced"] for m in per.values()], dtype=float)
        mv = np.nan_to_num([m["mcd_c0_voiced_db"] for m in per.values()])
        extra["mcd_c0_voiced_db"] = float(np.sum(wv * mv) / wv.sum()) if wv.sum() else float("nan")
    return {**extra, "mcd_db": float(np.sum(w * [m["mcd_db"] for m in per.values()]) / w.sum()),
            "f0_rmse_cents": float(np.sqrt(np.sum(v[ok] * f0[ok] ** 2) / v[ok].sum())) if ok.any() else float("nan"),
            "utterances": len(per), "per_utterance": per}


def run_references(featdir: str | Path, outdir: str | Path, src: str, tgt: str, *, train_ids: list[str],
                   eval_ids: list[str] | None = None) -> list[dict]:
    """Score ``none`` and ``meanstd`` for ``src`` -> ``tgt`` on the sentences of ``eval_ids`` (source ids; None:
    every shared sentence), the speakers' statistics over their utterances in ``train_ids``; write
    ``outdir/vc_<src>_<tgt>_<reference>.json`` and ``vc.csv``. Returns the table rows."""
    from .corpus import stats_for
    from .store import write_csv, write_json

    pairs = parallel_pairs(featdir, src, tgt, eval_ids)  # refuses a speaker the folder lacks, naming those it has
    spk = speakers(featdir, train_ids)
    stats = {}
    for s in (src, tgt):
        if not spk.get(s):
            raise ValueError(f"no training utterances of speaker {s!r} for its statistics")
        stats[s] = stats_for(featdir, spk[s])
    seen = sorted({u for p in pairs for u in p} & set(train_ids))
    rows = []
    for name, fn in (("none", lambda f: f), ("meanstd", lambda f: meanstd_convert(f, stats[src], stats[tgt]))):
        m = {**score_conversion(featdir, pairs, fn), "reference": name, "source": src, "target": tgt,
             "held_out": not seen, "training_utterances": seen}
        write_json(inside(outdir, f"vc_{check_speaker(src)}_{check_speaker(tgt)}_{name}.json"), m)
        rows.append({"source": src, "target": tgt, "reference": name, "utterances": m["utterances"],
                     "mcd_db": m["mcd_db"], "mcd_c0_voiced_db": m["mcd_c0_voiced_db"],
                     "f0_rmse_cents": m["f0_rmse_cents"], "held_out": m["held_out"]})
        log.info("%s -> %s, %s: DTW MCD %.2f dB, F0 RMSE %.0f cents over %d sentences", src, tgt, name, m["mcd_db"],
                 m["f0_rmse_cents"], m["utterances"])
    write_csv(Path(outdir) / "vc.csv", rows)
    return rows


CONVERT_JSON = "convert.json"  # what a converted folder came from: model, source folder, speakers
PEAK = 0.99  # a converted waveform louder than full scale is scaled to this peak (never clipped)


def convert(tm, feats: Features, src: str | None, tgt: str, src_stats: Stats) -> Features:
    """``feats`` of speaker ``src`` converted to ``tgt`` by the speaker-conditioned model ``tm``
    (:class:`speechvae.reconstruct.TrainedModel`): c1..c39 decoded from the posterior mean with ``tgt``'s code
    (``src`` goes to the encoder of a ``both``-conditioned model), F0 mapped with ``src_stats`` and the
    target's statistics from the checkpoint; c0 and aperiodicity kept. Same frames as ``feats``. A decoder that
    takes prosody (``model.prosody``) decodes with the mapped F0, the one the conversion is voiced with."""
    from .reconstruct import encode, with_latents

    mu, _ = encode(tm, feats, src)
    mapped = dataclasses.replace(feats, f0=f0_map(feats.f0, src_stats, tm.checkpoint.speaker_stats[tgt]))
    return with_latents(tm, mapped, mu, speaker=tgt)


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
    from .audio import write_wav
    from .console import progress_bar
    from .corpus import stats_for
    from .features import check_compatible, synthesize
    from .store import write_json

    tm.checkpoint.speaker_index(tgt)  # refuses an unconditioned model or an unknown target before any work
    featdir, outdir = Path(featdir), Path(outdir)
    spk_of = utterance_speakers(featdir)
    tm.checkpoint.check_encoder_speakers(spk_of[u] for u in utt_ids)  # a both-conditioned model: before any work
    stats = dict(tm.checkpoint.speaker_stats)
    for s in sorted({spk_of[u] for u in utt_ids} - set(stats)):
        own = [u for u in utt_ids if spk_of[u] == s]
        log.info("source speaker %s unknown to the model: its F0 statistics from its %d utterances in %s", s,
                 len(own), featdir)
        stats[s] = stats_for(featdir, own)
    rows, failures, scaled = [], [], []
    for u in progress_bar(utt_ids, desc=f"convert to {tgt}", unit="utt", enabled=progress):
        src = spk_of[u]
        try:
            f = Features.load(feature_path(featdir, u))
            check_compatible(f, tm.cfg.analysis, str(feature_path(featdir, u)))
            out = convert(tm, f, src if src in tm.cfg.model.speakers else None, tgt, stats[src])
        except (ValueError, OSError) as e:
            failures.append(f"{u}: {e}")
            log.error("%s: not converted: %s", u, e)
            continue
        out.save(feature_path(outdir, u))
        if wav:
            y = synthesize(out)
            peak = float(np.abs(y).max(initial=0.0))
            if peak > 32767 / 32768:
                y = y * (PEAK / peak)
                scaled.append(u)
            write_wav(utt_file(outdir / "wav", u, ".wav"), y, out.fs)
        rows.append({"utt_id": u, "speaker": tgt, "path": str(feature_path(featdir, u)), "frames": out.frames,
                     "seconds": out.frames * out.frame_period / 1000})
    if scaled:
        log.warning("%d converted waveform(s) over full scale, scaled to peak %.2f: %s", len(scaled), PEAK,
                    ", ".join(scaled[:5]))
    write_manifest(outdir, rows)
    write_featdir_analysis(outdir, read_featdir_analysis(featdir))
    used = {spk_of[u] for u in utt_ids} | {tgt}
    for s in sorted(used):
        stats[s].save(speaker_stats_path(outdir, s))
    info = {"model": str(Path(tm.checkpoint_path).resolve()), "source_featdir": str(featdir.resolve()),
            "target": tgt, "sources": {u: spk_of[u] for u in utt_ids}, "converted": len(rows),
            "failures": failures, "scaled_to_peak": scaled,
            "postfilter": dataclasses.asdict(tm.cfg.postfilter)}  # the GV post-filter the frames went through
    write_json(outdir / CONVERT_JSON, info)
    return info


def read_convert_info(converted: Path) -> dict:
    """The ``convert.json`` of a folder written by :func:`convert_folder`; ValueError saying so otherwise."""
    import json

    try:
        return json.loads((converted / CONVERT_JSON).read_text())
    except (OSError, ValueError):
        raise ValueError(f"{converted}: no {CONVERT_JSON}: evaluate-vc takes a folder written by "
                         "`speechvae convert`") from None


def evaluate_conversion(converted: str | Path, target_dir: str | Path, *, outdir: str | Path | None = None,
                        quality: bool = False, progress: bool = True) -> dict:
    """Score a folder written by :func:`convert_folder` against the target speaker's recordings of the same
    sentences in ``target_dir`` (matched by name), beside the two references on the same sentences: ``none``
    (the source utterances) and ``meanstd`` (with the statistics the conversion used). Returns
    ``{"model": {...}, "none": {...}, "meanstd": {...}, "pairs": N, "mcd_protocols": {...}}`` (each
    :func:`score_conversion`'s dict: DTW MCD under both protocols of :data:`speechvae.metrics.MCD_PROTOCOLS`,
    F0 RMSE). With ``quality``: ``quality`` (:func:`speechvae.vc_quality.conversion_quality`: speaker
    similarity to the target and the source, the share nearer the target, DNSMOS, for these systems and the
    target's copy synthesis and recordings). ``parallel``: whether the target read the converted sentences; when
    it did not (no name in common), only ``quality`` is measured, with the target's rows on recordings of other
    sentences (:func:`non_parallel_pairs`); ``scored``: the (converted id, target id) pairs."""
    if quality:
        from .quality import require

        require()
    converted = Path(converted)
    info = read_convert_info(converted)
    tgt, source_dir = info["target"], Path(info["source_featdir"])
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
        from .vc_quality import conversion_quality

        out["quality"] = conversion_quality(converted, source_dir, Path(target_dir), pairs, src_of, tgt,
                                            lambda s: lambda f: meanstd_convert(f, stats[s], stats[tgt]), trained,
                                            progress=progress)
    if outdir is not None:
        from .store import write_json
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
    from .mcep import mcep_to_sp
    from .plots import envelope_panels

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
    from .checkpoint import CheckpointError, load_checkpoint

    try:
        return load_checkpoint(model_path).train_utts
    except CheckpointError:
        log.warning("%s: model not readable: cannot tell whether the sentences were held out", model_path)
        return []
