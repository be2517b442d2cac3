"""The references every converter stands beside, and the scoring of any converter on parallel sentences.

- ``none``: the source utterance unchanged (how far apart the two voices are to begin with);
- ``meanstd``: each of c1..c39 moved from the source speaker's mean and std to the target's, and log-F0 likewise
  (the speakers' :class:`~speechvae.analysis.stats.Stats` over their training utterances); c0 (power) and
  aperiodicity kept. A converter that does not beat this has learned nothing a global affine map does not.

Scoring (:func:`score_conversion`): each conversion against the target speaker's recording of the same sentence
with :func:`speechvae.evaluation.metrics.dtw_mcd` under both MCD protocols (c1..c39 over speech frames; c0..c39 over
voiced frames) and F0 RMSE in cents over frames voiced in both; overall figures weighted by aligned frames (MCD)
and by voiced pairs (F0).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Callable

import numpy as np

from speechvae.analysis.featdir import FeatureFolder, check_speaker, feature_path, inside, sentence_name, speakers
from speechvae.analysis.features import Features
from speechvae.analysis.stats import Stats
from speechvae.evaluation.metrics import dtw_mcd
from speechvae.models.prosody import f0_map
from speechvae.store import write_csv, write_json

log = logging.getLogger(__name__)


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
    """Overall figures of per-utterance :func:`~speechvae.evaluation.metrics.dtw_mcd` results: MCD weighted by aligned
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
    featdir = FeatureFolder.of(featdir)  # its manifest read once for the pairs, the speakers and the scoring
    pairs = parallel_pairs(featdir, src, tgt, eval_ids)  # refuses a speaker the folder lacks, naming those it has
    spk = featdir.speakers(train_ids)
    stats = {}
    for s in (src, tgt):
        if not spk.get(s):
            raise ValueError(f"no training utterances of speaker {s!r} for its statistics")
        stats[s] = featdir.stats(spk[s])
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
