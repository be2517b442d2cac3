"""The GV and modulation-spectrum post-filters toward the target speaker on conversions, chosen
on dev sentences.

    python benchmarks/vc_postfilter.py [--weights 0,0.5,1] [--ms-weights 0.5,1] [--n 15] [--eval] [--three]
                                       [--cell NAME] [--source SPK] [--high-from K --weight-high W]

The two-speaker vc.yaml of benchmarks/vc.py (run that first: it trains the model and analyses CMU ARCTIC bdl/slt)
converts the first --n dev sentences (arctic_a0301...) of each direction with the GV post-filter at each weight
(postfilter.gv_weight: 0 = off, 1 = each converted utterance's per-dimension variance set to the target speaker's
GV, 0.5 half way in log variance), and each is scored by evaluate-vc --quality: DTW MCD, F0 RMSE, speaker
similarity to the target (centroid of its held-out recordings of other sentences), the share nearer the target,
DNSMOS P.808, and the GV ratio of the conversions against the target's recordings of the same sentences. --eval: the
50 eval sentences instead (for the final table, once a weight is chosen on dev). --ms-weights: the same with the
modulation-spectrum post-filter (postfilter.ms_weight; speechvae.analysis.modspec) instead of the GV one; the model was
trained before its statistics kept a modulation spectrum, so the speakers' statistics are recomputed from its training
utterances with the code training uses (checked equal to the stored ones in everything they share). A folder already
scored with the same post-filter settings is not scored again. --three: the three-speaker model of
benchmarks/vc_many.py (run that first) converting the AISHELL-1 speaker S0913 to bdl and to slt (its 8 dev
utterances; no parallel recording, so no MCD and a GV ratio against the target's recordings of other sentences).
--cell: another model of benchmarks/vc.py (a name of its CELLS, trained by it first) in place of vc.yaml, so that
the conversion model changes are judged as the post-filters are, on the same sentences. --high-from K:
every GV setting goes --weight-high of the way from cK up (the two-band GV post-filter, postfilter.gv_high_from).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from _common import ROOT, table
from vc_many import TWO

import speechvae  # noqa: F401
from speechvae.analysis.featdir import feature_path, read_id_list
from speechvae.analysis.features import Features
from speechvae.inference.model import load_model, with_postfilter
from speechvae.vc.convert import convert_folder
from speechvae.vc.evaluate import evaluate_conversion

PAIRS = (("bdl", "slt"), ("slt", "bdl"))


def gv_ratio_dims(converted: Path, feat: Path, pairs: list[list[str]]) -> np.ndarray:
    """``(39,)``: per dimension c1..c39, (mean per-utterance variance of the conversions) / (the same of the target's
    recordings of the same sentences): 1 = as varied as the target speaker."""
    conv = np.mean([Features.load(feature_path(converted, u)).mcep[:, 1:].var(axis=0) for u, _ in pairs], axis=0)
    ref = np.mean([Features.load(feature_path(feat, t)).mcep[:, 1:].var(axis=0) for _, t in pairs], axis=0)
    return conv / ref


def gv_ratio(converted: Path, feat: Path, pairs: list[list[str]]) -> float:
    """The mean over c1..c39 of :func:`gv_ratio_dims` (the GV ratio of the tables)."""
    return float(np.mean(gv_ratio_dims(converted, feat, pairs)))


def with_ms_stats(tm, feat: Path):
    """``tm`` with each speaker's statistics recomputed over its training utterances (as training computes them), so
    that they hold the modulation spectrum a checkpoint written before it was kept lacks."""
    from speechvae.analysis.featdir import speakers, stats_for

    new = {spk: stats_for(feat, ids) for spk, ids in speakers(feat, tm.checkpoint.train_utts).items()}
    for spk, old in tm.checkpoint.speaker_stats.items():
        for k, v in old.to_arrays().items():
            assert np.allclose(v, new[spk].to_arrays()[k], rtol=1e-9), (spk, k)  # the same statistics
    return dataclasses.replace(tm, checkpoint=dataclasses.replace(tm.checkpoint, speaker_stats=new))


def scored(tm, feat: Path, ids: list[str], t: str, out: Path) -> dict:
    """``ids`` converted to ``t`` into ``out`` and scored with --quality, or the earlier scoring of ``out`` when it
    was made with the same post-filter settings."""
    done = out / "vc.json"
    if done.is_file():
        made = {"ms": False, "ms_weight": 1.0, "gv_high_from": 0, "gv_weight_high": 1.0,
                **json.loads((out / "convert.json").read_text())["postfilter"]}
        m = json.loads(done.read_text())  # (folders from before the MS filter or the bands record fewer settings)
        if made == dataclasses.asdict(tm.cfg.postfilter) and {u for u, _ in m["scored"]} == set(ids):
            return m
    convert_folder(tm, feat, ids, t, out, progress=False)
    return evaluate_conversion(out, feat, outdir=done, quality=True, progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="0,0.5,1", help="GV post-filter weights (0: no post-filter)")
    ap.add_argument("--ms-weights", default="", help="modulation-spectrum post-filter weights")
    ap.add_argument("--n", type=int, default=15, help="dev sentences per direction")
    ap.add_argument("--eval", action="store_true", help="score the eval sentences (the final table) instead of dev")
    ap.add_argument("--three", action="store_true", help="S0913 -> bdl, slt by benchmarks/vc_many.py's model")
    ap.add_argument("--cell", help="a model of benchmarks/vc.py's CELLS instead of vc.yaml (two speakers)")
    ap.add_argument("--source", help="only the direction(s) from this speaker (one process per direction)")
    ap.add_argument("--high-from", type=int, default=0, metavar="K",
                    help="the GV post-filter goes --weight-high of the way from cK up (postfilter.gv_high_from)")
    ap.add_argument("--weight-high", type=float, default=1.0, metavar="W", help="postfilter.gv_weight_high")
    args = ap.parse_args()
    label = "vc.yaml"
    part = "eval" if args.eval else "dev"
    if args.three:
        work = ROOT / "data" / "bench" / "vc_many" / "work"
        exp, feat, pairs = work / "exp" / "vc", work / "feats", (("S0913", "bdl"), ("S0913", "slt"))
        ids = read_id_list(work / "lists" / f"{part}_S0913.list")
    else:
        exp, feat, pairs = ROOT / "data" / "bench" / "vc" / TWO, ROOT / "data" / "bench" / "arctic_bdl_slt", PAIRS
        if args.cell:
            from vc import CELLS, cell_folder
            if args.cell not in CELLS:
                raise SystemExit(f"--cell {args.cell!r}: not one of benchmarks/vc.py's cells")
            exp, label = cell_folder(ROOT / "data" / "bench" / "vc", args.cell), args.cell.split(", ")[-1]
        if args.eval:
            from vc import features, split
            ids = split(features(2))["eval"]
        else:
            ids = read_id_list(exp / "dev.list")
    if not (exp / "checkpoint.pt").is_file():
        raise SystemExit(f"{exp}: run benchmarks/{'vc_many' if args.three else 'vc'}.py first")
    tm = with_ms_stats(load_model(exp), feat)
    rows, t0 = [], time.time()
    for s, t in [p for p in pairs if args.source in (None, p[0])]:
        src = [u for u in ids if u.startswith(s + "/")][: (None if args.eval else args.n)]
        settings = [("GV", float(w)) for w in args.weights.split(",") if w] + \
            [("MS", float(w)) for w in args.ms_weights.split(",") if w]
        for i, (kind, w) in enumerate(settings):
            high = kind == "GV" and args.high_from > 0
            band = f"_c{args.high_from}x{args.weight_high:g}" if high else ""
            out = exp / f"pf_{part}_{'ms' if kind == 'MS' else ''}{w:g}{band}_{s}_{t}"
            gv = kind == "GV" and (w > 0 or high)
            flt = with_postfilter(tm, gv=gv, weight=w if gv else None,
                                  ms=kind == "MS", ms_weight=w if kind == "MS" else None,
                                  high_from=args.high_from if high else None,
                                  weight_high=args.weight_high if high else None)
            m = scored(flt, feat, src, t, out)
            q = m["quality"]["systems"]
            if i == 0:  # the references beside the first setting (their scores are the same in every folder)
                for name, ref in (("none", "no conversion"), ("meanstd", "mean/std matching"),
                                  ("target_copy", "target copy synthesis")):
                    r = m.get(name, {})
                    rows.append([f"{s} -> {t}", ref, r.get("mcd_db", "-"), r.get("mcd_c0_voiced_db", "-"),
                                 r.get("f0_rmse_cents", "-"), "-", q[name]["similarity_target"],
                                 q[name].get("similarity_source", "-"), q[name]["nearer_target"],
                                 q[name]["dnsmos_p808"]])
            r = m.get("model", {})
            name = f"{label}, {kind} weight {w:g}" + (f", c{args.high_from}+ {args.weight_high:g}" if high else "")
            rows.append([f"{s} -> {t}", name, r.get("mcd_db", "-"),
                         r.get("mcd_c0_voiced_db", "-"), r.get("f0_rmse_cents", "-"), gv_ratio(out, feat, m["scored"]),
                         q["model"]["similarity_target"], q["model"]["similarity_source"], q["model"]["nearer_target"],
                         q["model"]["dnsmos_p808"]])
            print(rows[-1], f"({time.time() - t0:.0f} s)", flush=True)
    print(f"\n## Post-filters toward the target, {len(src)} {part} sentences per direction\n")
    print(table(["direction", "system", "DTW MCD dB", "MCD c0 voiced dB", "F0 RMSE cents", "GV ratio vs target",
                 "similarity to target", "to source", "nearer target", "DNSMOS P.808"], rows))


if __name__ == "__main__":
    main()
