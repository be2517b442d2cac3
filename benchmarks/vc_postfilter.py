"""The GV post-filter toward the target speaker on conversions (issue 26, item 1), chosen on dev sentences.

    python benchmarks/vc_postfilter.py [--weights 0,0.5,1] [--n 15] [--eval]

The two-speaker vc.yaml of benchmarks/vc.py (run that first: it trains the model and analyses CMU ARCTIC bdl/slt)
converts the first --n dev sentences (arctic_a0301...) of each direction with the GV post-filter at each weight
(postfilter.gv_weight: 0 = off, 1 = each converted utterance's per-dimension variance set to the target speaker's
GV, 0.5 half way in log variance), and each is scored by evaluate-vc --quality: DTW MCD, F0 RMSE, speaker
similarity to the target (centroid of its held-out recordings of other sentences), the share nearer the target,
DNSMOS P.808, and the GV ratio of the conversions against the target's recordings of the same sentences. --eval: the
50 eval sentences instead (for the final table, once a weight is chosen on dev).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import speechvae  # noqa: F401
from speechvae.conversion import convert_folder, evaluate_conversion
from speechvae.featdir import feature_path, read_id_list
from speechvae.features import Features
from speechvae.reconstruct import load_model, with_postfilter

from _common import ROOT, table
from vc_many import TWO

PAIRS = (("bdl", "slt"), ("slt", "bdl"))


def gv_ratio(converted: Path, feat: Path, pairs: list[list[str]]) -> float:
    """Mean over c1..c39 of (mean per-utterance variance of the conversions) / (the same of the target's recordings
    of the same sentences): 1 = as varied as the target speaker."""
    conv = np.mean([Features.load(feature_path(converted, u)).mcep[:, 1:].var(axis=0) for u, _ in pairs], axis=0)
    ref = np.mean([Features.load(feature_path(feat, t)).mcep[:, 1:].var(axis=0) for _, t in pairs], axis=0)
    return float(np.mean(conv / ref))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="0,0.5,1")
    ap.add_argument("--n", type=int, default=15, help="dev sentences per direction")
    ap.add_argument("--eval", action="store_true", help="score the eval sentences (the final table) instead of dev")
    args = ap.parse_args()
    exp = ROOT / "data" / "bench" / "vc" / TWO
    feat = ROOT / "data" / "bench" / "arctic_bdl_slt"
    if not (exp / "checkpoint.pt").is_file():
        raise SystemExit(f"{exp}: run benchmarks/vc.py first")
    tm = load_model(exp)
    part = "eval" if args.eval else "dev"
    if args.eval:
        from vc import features, split
        ids = split(features(2))["eval"]
    else:
        ids = read_id_list(exp / "dev.list")
    rows, t0 = [], time.time()
    for s, t in PAIRS:
        src = [u for u in ids if u.startswith(s + "/")][: (None if args.eval else args.n)]
        for w in [float(x) for x in args.weights.split(",")]:
            out = exp / f"pf_{part}_{w:g}_{s}_{t}"
            convert_folder(with_postfilter(tm, gv=w > 0, weight=w if w > 0 else None), feat, src, t, out,
                           progress=False)
            m = evaluate_conversion(out, feat, outdir=out / "vc.json", quality=True, progress=False)
            q = m["quality"]["systems"]
            if w == 0:
                for name, label in (("none", "no conversion"), ("meanstd", "mean/std matching"),
                                    ("target_copy", "target copy synthesis")):
                    r = m.get(name, {})
                    rows.append([f"{s} -> {t}", label, r.get("mcd_db", "-"), r.get("mcd_c0_voiced_db", "-"),
                                 r.get("f0_rmse_cents", "-"), "-",
                                 q[name]["similarity_target"], q[name]["nearer_target"], q[name]["dnsmos_p808"]])
            rows.append([f"{s} -> {t}", f"vc.yaml, GV weight {w:g}", m["model"]["mcd_db"],
                         m["model"]["mcd_c0_voiced_db"], m["model"]["f0_rmse_cents"], gv_ratio(out, feat, m["scored"]),
                         q["model"]["similarity_target"], q["model"]["nearer_target"], q["model"]["dnsmos_p808"]])
            print(rows[-1], f"({time.time() - t0:.0f} s)", flush=True)
    print(f"\n## GV post-filter toward the target, {len(src)} {part} sentences per direction\n")
    print(table(["direction", "system", "DTW MCD dB", "MCD c0 voiced dB", "F0 RMSE cents", "GV ratio vs target", "similarity to target",
                 "nearer target", "DNSMOS P.808"], rows))


if __name__ == "__main__":
    main()
