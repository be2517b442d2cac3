"""Conversion to a target speaker with few recordings: CMU ARCTIC bdl -> slt with the recipe's
vc.yaml trained on all 300 of bdl's training sentences and only the first N of slt's (N = 5, 20, 50), beside the
same model trained on all 300 of slt's (benchmarks/vc.py's vc.yaml cell).

    python benchmarks/vc_few.py [--out data/bench/vc] [--sizes 5 20 50] [--judged 15] [--threads 1] [--no-full]

The split and features of benchmarks/vc.py (a0001-a0300 train, a0301-a0350 dev, a0351-a0400 eval; the recipe's F0
ranges). Everything the target contributes comes from its N training recordings only: its frames, and the statistics
the checkpoint keeps (log-F0 map, mean/std matching, GV), so mean/std matching is re-measured per N too.
Per N, on the 50 eval sentences: DTW MCD (dB, c1..c39, speech frames) and F0 RMSE (cents) of bdl -> slt against
slt's recordings, beside no conversion and mean/std matching with the same N-recording statistics; the reverse
direction slt -> bdl (a source the model saw little of) by MCD. On the first --judged eval sentences, bdl -> slt is
also judged as listeners judge it: speaker similarity to slt and to bdl (Resemblyzer centroids of held-out
recordings of other sentences, which differ with N since fewer are trained on: up to 50 of them each time), the
share nearer slt, and DNSMOS P.808, beside slt's WORLD copy synthesis. Re-runs skip trained models and models
already scored (``few_scores.json`` in each model's folder), so sizes can be run in separate processes (--no-full in
all but one, since they would write the full model's scores at once) and gathered by a last run with every size.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import ROOT, table, trained
from vc import VC_YAML, _list, cell_config, cell_folder, features, split

import speechvae  # noqa: F401
from speechvae.inference.model import load_model
from speechvae.vc.convert import convert_folder
from speechvae.vc.evaluate import evaluate_conversion

FULL = VC_YAML


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "bench" / "vc")
    ap.add_argument("--sizes", nargs="+", type=int, default=[5, 20, 50], help="slt training utterances per model")
    ap.add_argument("--judged", type=int, default=15, help="eval sentences judged by similarity and DNSMOS")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--no-full", action="store_true", help="leave out the 300-utterance model (scored by another run)")
    ap.add_argument("-j", type=int, default=2, help="analysis processes")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    feat = features(args.j)
    ids = split(feat)
    slt_train = [u for u in ids["train"] if u.startswith("slt/")]
    bdl_train = [u for u in ids["train"] if u.startswith("bdl/")]
    cfg = cell_config(FULL)
    models = {}
    for n in sorted(args.sizes):
        if not 1 <= n <= len(slt_train):
            raise SystemExit(f"--sizes: {n} is not between 1 and {len(slt_train)}")
        exp = args.out / f"few-slt-{n}"
        t0 = time.time()
        trained(
            feat, exp, cfg, _list(exp / "train.list", bdl_train + slt_train[:n]), _list(exp / "dev.list", ids["dev"])
        )
        print(f"  slt {n}: trained ({time.time() - t0:.0f} s)", flush=True)
        models[n] = exp
    if not args.no_full:
        full = cell_folder(args.out, FULL)
        trained(feat, full, cfg, _list(full / "train.list", ids["train"]), _list(full / "dev.list", ids["dev"]))
        models[len(slt_train)] = full
    judged_ids = [u for u in ids["eval"] if u.startswith("bdl/")][: args.judged]
    mcd_rows, q_rows = [], []
    for n, exp in models.items():
        done = exp / "few_scores.json"
        if done.is_file() and json.loads(done.read_text())["judged_ids"] == judged_ids:
            d = json.loads(done.read_text())
            mcd_rows += d["mcd"]
            q_rows += d["judged"]
            continue
        first_mcd, first_q = len(mcd_rows), len(q_rows)
        tm = load_model(exp)
        label = f"slt: {n} training utterances"
        for s, t in (("bdl", "slt"), ("slt", "bdl")):
            conv = exp / f"few_convert_{s}_{t}"
            convert_folder(
                tm, feat, [u for u in ids["eval"] if u.startswith(s + "/")], t, conv, wav=False, progress=False
            )
            m = evaluate_conversion(conv, feat, outdir=exp / f"few_vc_{s}_{t}.json", progress=False)
            mcd_rows.append([label, f"{s} -> {t}", m["none"]["mcd_db"], m["meanstd"]["mcd_db"], m["model"]["mcd_db"],
                             m["model"]["mcd_db"] - m["meanstd"]["mcd_db"], m["meanstd"]["f0_rmse_cents"],
                             m["model"]["f0_rmse_cents"]])
        conv = exp / "few_judged_bdl_slt"
        convert_folder(tm, feat, judged_ids, "slt", conv, progress=False)
        m = evaluate_conversion(conv, feat, outdir=exp / "few_judged_bdl_slt.json", quality=True, progress=False)
        q = m["quality"]["systems"]
        for key, what in (
            ("none", "no conversion"),
            ("meanstd", "mean/std matching"),
            ("model", "vc.yaml"),
            ("target_copy", "slt WORLD copy synthesis"),
        ):
            x = q[key]
            q_rows.append([label, what, m.get(key, {}).get("mcd_db", "-"), x["similarity_target"],
                           x["similarity_source"], x["nearer_target"], x["dnsmos_p808"]])
        done.write_text(
            json.dumps({"judged_ids": judged_ids, "mcd": mcd_rows[first_mcd:], "judged": q_rows[first_q:]}, indent=1)
        )
        print(f"  slt {n}: scored", flush=True)
    print("\nbdl -> slt and slt -> bdl, 50 eval sentences per direction (DTW MCD dB, F0 RMSE cents):\n")
    print(table(["model", "direction", "no conversion", "mean/std", "vc.yaml", "vc.yaml - mean/std",
                 "F0 RMSE mean/std", "F0 RMSE vc.yaml"], mcd_rows))
    print(f"\nbdl -> slt judged as listeners judge it ({len(judged_ids)} eval sentences):\n")
    print(table(["model", "system", "DTW MCD dB", "similarity to slt", "similarity to bdl", "nearer slt",
                 "DNSMOS P.808"], q_rows))
    (args.out / "vc_few.json").write_text(json.dumps({"mcd": mcd_rows, "judged": q_rows}, indent=1))


if __name__ == "__main__":
    main()
