"""One conversion model over three speakers, one of them non-parallel: CMU ARCTIC bdl and slt (the same
400 sentences) and the AISHELL-1 speaker S0913 (other sentences, another language), through recipes/vc.

    python benchmarks/vc_many.py [--out data/bench/vc_many] [-j 2] [--no-quality]

Stages 0-3 of recipes/vc on a folder of links (bdl, slt, S0913): the split by sentence name (bdl/slt: a0351-a0400
eval and a0301-a0350 dev, as recipes/arctic_vc; S0913, who reads none of them: its own last 8 eval, 8 before them
dev), analysis with the hand-set ARCTIC ranges (S0913: the default range), vc.yaml trained on all three. Then, on the
eval utterances: bdl <-> slt by DTW MCD and F0 RMSE against the target's recordings, beside the two-speaker vc.yaml
of benchmarks/vc.py converting the same sentences (trained there, or here when absent); S0913 -> bdl and -> slt by
speaker similarity (share nearer the target than the source) and DNSMOS beside no conversion, mean/std matching and the
target's copy synthesis. Prints the tables and writes the matrix (speechvae matrix) under --out.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, corpus_or_exit, table, trained
from vc import VC_YAML, cell_config, cell_folder

import speechvae  # noqa: F401
from speechvae.analysis.featdir import read_id_list
from speechvae.inference.model import load_model
from speechvae.report.matrix_page import write_matrix
from speechvae.vc.convert import convert_folder
from speechvae.vc.evaluate import evaluate_conversion
from speechvae.vc.matrix import direction_table, matrix_markdown

SPEAKERS = {"bdl": ("cmu_arctic_bdl_slt", "bdl"), "slt": ("cmu_arctic_bdl_slt", "slt"), "S0913": ("aishell1_S0913", "")}
TWO = "mlp-latent-8_beta-0.7_60-epochs-cosine_cycle-1_code-into-encoder-too"  # benchmarks/vc.py's vc.yaml folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "bench" / "vc_many")
    ap.add_argument("-j", type=int, default=2, help="analysis workers")
    ap.add_argument("--no-quality", action="store_true", help="MCD only (no speaker similarity or DNSMOS)")
    ap.add_argument("--unseen", action="store_true",
                    help="also S0913 -> bdl, slt through the two-speaker model with the code in the decoder only "
                         "(benchmarks/vc.py's cell; trained here when absent): a source it never saw")
    args = ap.parse_args()
    out = args.out.resolve()
    db = out / "db"
    db.mkdir(parents=True, exist_ok=True)
    for spk, (corpus, sub) in SPEAKERS.items():
        link = db / spk
        if not link.exists():
            os.symlink(corpus_or_exit(corpus) / sub, link)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    t0 = time.time()
    subprocess.run(["bash", str(ROOT / "recipes/vc/run.sh"), "--db", str(db), "--workdir", str(out / "work"),
                    "--f0-ranges", str(ROOT / "recipes/arctic_vc/conf/f0_ranges.txt"), "--n-dev", "50", "--n-eval",
                    "50", "--nj", str(args.j), "--stop-stage", "3",
                    "--train-args", "--set postfilter.gv=false --set model.prosody=false"],  # vc.py's BASE
                   check=True, env=env, cwd=out)
    print(f"(recipe stages 0-3: {time.time() - t0:.0f} s)", flush=True)
    work, lists = out / "work", out / "work" / "lists"
    feat, exp = work / "feats", work / "exp" / "vc"
    tm = load_model(exp)
    # the two-speaker vc.yaml of benchmarks/vc.py, trained on the same bdl/slt sentences (its folder's lists)
    two = ROOT / "data" / "bench" / "vc" / TWO
    two_feat = ROOT / "data" / "bench" / "arctic_bdl_slt"
    if not (two / "train.list").is_file():
        sys.exit(f"{two}: run benchmarks/vc.py first (it trains the two-speaker model this one is set beside)")
    trained(two_feat, two, cell_config(VC_YAML), two / "train.list", two / "dev.list")
    tm2 = load_model(two)
    rows, jsons = [], []
    for s, t in (("bdl", "slt"), ("slt", "bdl")):
        ids = read_id_list(lists / f"eval_{s}.list")
        conv3, js3 = exp / f"convert_{s}_{t}", exp / f"vc_{s}_{t}.json"  # the recipe's names (with wavs)
        convert_folder(tm, feat, ids, t, conv3, progress=False)
        m3 = evaluate_conversion(conv3, feat, outdir=js3, progress=False)
        jsons.append(js3)
        conv2 = two / f"many_convert_{s}_{t}"
        convert_folder(tm2, feat, ids, t, conv2, wav=False, progress=False)
        m2 = evaluate_conversion(conv2, feat, outdir=two / f"many_vc_{s}_{t}.json", progress=False)
        rows += [[f"{s} -> {t}", "no conversion", m3["none"]["mcd_db"], m3["none"]["f0_rmse_cents"]],
                 [f"{s} -> {t}", "mean/std matching", m3["meanstd"]["mcd_db"], m3["meanstd"]["f0_rmse_cents"]],
                 [f"{s} -> {t}", "vc.yaml, bdl + slt", m2["model"]["mcd_db"], m2["model"]["f0_rmse_cents"]],
                 [f"{s} -> {t}", "**vc.yaml, bdl + slt + S0913**", m3["model"]["mcd_db"], m3["model"]["f0_rmse_cents"]]]
        rows.append([f"{s} -> {t}", "three minus two speakers", m3["model"]["mcd_db"] - m2["model"]["mcd_db"],
                     m3["model"]["f0_rmse_cents"] - m2["model"]["f0_rmse_cents"]])
    print(f"\n## bdl <-> slt, {m3['pairs']} eval sentences per direction\n")
    print(table(["direction", "system", "DTW MCD dB", "F0 RMSE cents"], rows))
    if not args.no_quality:
        t0 = time.time()
        ids = read_id_list(lists / "eval_S0913.list")
        for t in ("bdl", "slt"):
            conv = exp / f"convert_S0913_{t}"
            convert_folder(tm, feat, ids, t, conv, progress=False)
            evaluate_conversion(conv, feat, outdir=exp / f"vc_S0913_{t}.json", quality=True, progress=False)
            jsons.append(exp / f"vc_S0913_{t}.json")
        print(f"\n(S0913 -> bdl, slt judged: {time.time() - t0:.0f} s)")
    if args.unseen:
        unseen(ROOT / "data" / "bench" / "vc", two, feat, read_id_list(lists / "eval_S0913.list"), jsons)
    s = write_matrix(jsons, out / "matrix")
    print("\n## Every direction measured\n\n```\n" + direction_table(s) + "\n```\n")
    print(matrix_markdown(s))
    print(f"matrix: {out / 'matrix'}")


def unseen(vc_out: Path, two: Path, feat: Path, ids: list[str], jsons: list[Path]) -> None:
    """S0913's eval utterances converted to bdl and slt by a model trained on bdl and slt only (decoder-only
    conditioning, so the encoder needs no code for the source), judged like the three-speaker model's."""

    name = "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1"
    exp = cell_folder(vc_out, name)
    t0 = time.time()
    for lst in ("train.list", "dev.list"):
        (exp / lst).parent.mkdir(parents=True, exist_ok=True)
        (exp / lst).write_text((two / lst).read_text())
    trained(ROOT / "data" / "bench" / "arctic_bdl_slt", exp, cell_config(name),
            exp / "train.list", exp / "dev.list")
    tm = load_model(exp)
    print(f"(two-speaker decoder-conditioned model: {time.time() - t0:.0f} s)", flush=True)
    rows = []
    for t in ("bdl", "slt"):
        conv = exp / f"unseen_convert_S0913_{t}"
        convert_folder(tm, feat, ids, t, conv, progress=False)
        m = evaluate_conversion(conv, feat, outdir=conv / "vc.json", quality=True, progress=False)
        seen = json.loads((feat.parent / "exp" / "vc" / f"vc_S0913_{t}.json").read_text())
        for label, mm in (("S0913 seen in training (vc.yaml, three speakers)", seen),
                          ("S0913 never seen (decoder-conditioned, bdl + slt)", m)):
            for key in ("none", "meanstd", "model", "target_copy"):
                if key != "model" and "never" in label:
                    continue
                q = mm["quality"]["systems"][key]
                rows.append([f"S0913 -> {t}", label if key == "model" else key, q["similarity_target"],
                             q["similarity_source"], q["nearer_target"], q["dnsmos_p808"]])
    print(f"\n## A source speaker the model never saw ({len(ids)} S0913 eval utterances per direction)\n")
    print(table(["direction", "system", "similarity to target", "similarity to source", "nearer target",
                 "DNSMOS P.808"], rows))


if __name__ == "__main__":
    main()
