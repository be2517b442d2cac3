"""VQ-VAE codes beside k-means vector quantisation at the same bits, on held-out AISHELL-1 S0913 utterances
(64 train / 8 dev / 8 eval, the split of benchmarks/compact.py), with a continuous (Gaussian) VAE family
on the same rate axis.

    python benchmarks/vq.py [--out data/bench/vq] [-j 1] [--quality]

Prints a markdown table: per bits/frame (codebooks of 16 or 256 entries: 20 or 40 bits per 5 ms frame;
k-means with 5 codebooks), the held-out MCD, GV ratio, frames above 2 dB and codebook use (share of entries the held-out
frames use, per codebook) of each VQ-VAE, beside split and residual k-means VQ fitted on the same
training frames, and the VQ-VAE's MCD relative to the better k-means. Writes vq_rate.png (MCD against
kbit/s: VQ-VAEs, k-means VQs, Gaussian VAEs at their held-out KL rate, PCA-k as levels) under --out.
Re-runs skip finished cells.

--quality (speechvae[quality]) prints only the main rows judged by ear instead: vq.yaml (40 bits per frame) beside
split and residual k-means VQ at the same 40 bits, WORLD copy synthesis and the recordings: PESQ-WB and STOI
against the recording, DNSMOS, on the 8 held-out utterances.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import ROOT, aishell_split, judged, table, trained

import speechvae  # noqa: F401
from speechvae.analysis.featdir import read_id_list
from speechvae.evaluation.baselines import run_vq
from speechvae.experiments.rd import run_rd
from speechvae.plots import rate_distortion_curves, save_figure

CONF = ROOT / "recipes" / "folder" / "conf"
SIZES = [16, 256]  # entries per codebook: 4 or 8 bits -> 20 or 40 bits per frame in every family below
FAMILIES = {  # name -> (config, overrides)
    "VQ-VAE conv k5, stride 2, 10 codebooks (vq.yaml)": ("vq.yaml", []),
    "VQ-VAE mlp, frame-wise, 5 codebooks on 32 dims": (
        "vq.yaml", ["model.kind=mlp", "model.hidden=[256,128]", "model.stride=1", "model.codebooks=5",
                    "model.latent=32",
                    "train.epochs=60"]),
}
GAUSSIAN = ("Gaussian VAE mlp (compact.yaml)", "compact.yaml", [8, 16, 32])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "data" / "bench" / "vq"))
    ap.add_argument("-j", "--jobs", type=int, default=1, help="cells trained at once")
    ap.add_argument("--quality", action="store_true", help="only the main rows, judged by PESQ, STOI and DNSMOS")
    args = ap.parse_args()
    out = Path(args.out)
    feat, lists = aishell_split(out)
    train_ids, eval_ids = read_id_list(lists / "train.list"), read_id_list(lists / "eval.list")
    if args.quality:
        return quality_rows(out, feat, lists, train_ids, eval_ids)
    split = dict(train_list=str(lists / "train.list"), valid_list=str(lists / "dev.list"),
                 eval_list=str(lists / "eval.list"), jobs=args.jobs, progress=False)

    t0 = time.perf_counter()
    km = run_vq(
        feat, out / "kmeans", ["split", "residual"], [5 * (s.bit_length() - 1) for s in SIZES], 5, train_ids, eval_ids
    )
    print(f"(k-means VQ: {time.perf_counter() - t0:.0f} s)", flush=True)
    best_km = {
        b: min(float(r["mcd_db"]) for r in km if r["bits_per_frame"] == b) for b in {r["bits_per_frame"] for r in km}
    }
    rows, curve = [], []
    for r in km:
        rows.append([f"{r['kind']} k-means VQ", r["bits_per_frame"], float(r["mcd_db"]), float(r["gv_ratio"]),
                     float(r["share_over_2db"]), "-", "", ""])
        curve.append({"model": f"{r['kind']} k-means VQ", "cell": f"{r['kind']} k-means VQ",
                      "latent": r["bits_per_frame"], "mcd_db": r["mcd_db"], "gv_ratio": r["gv_ratio"],
                      "kbit_per_s": r["bits_per_frame"] * 0.2})
    for fam, (conf, sets) in FAMILIES.items():
        t0 = time.perf_counter()
        tag = "".join(c for c in fam.split("(")[0] if c.isalnum())
        res = run_rd(feat, out / tag, {"model.codebook_size": SIZES}, config=str(CONF / conf), overrides=sets, **split)
        for r in res:
            if r["model"] == "pca" or r.get("mcd_db") is None:
                continue
            m = json.loads((out / tag / "cells" / r["cell"] / "metrics.json").read_text())
            bits = m["bits_per_frame"]
            used = "/".join(f"{100 * u:.0f}" for u in m["codebooks"]["used"])
            rows.append([fam, bits, m["mcd_db"], m["gv_ratio"], m["share_over_2db"], used,
                         f"{100 * (m['mcd_db'] / best_km[int(bits)] - 1):+.0f}%", m["kbit_per_s"]])
            curve.append({"model": fam, "cell": fam.split(" (")[0], "latent": bits, "mcd_db": m["mcd_db"],
                          "gv_ratio": m["gv_ratio"], "kbit_per_s": m["kbit_per_s"]})
        print(f"({fam}: {time.perf_counter() - t0:.0f} s)", flush=True)
    name, conf, latents = GAUSSIAN
    res = run_rd(feat, out / "gaussian", {"model.latent": latents}, config=str(CONF / conf), **split)
    curve += [{**r, "cell": name if r["model"] != "pca" else r["cell"]} for r in res]
    rows.sort(key=lambda r: (r[1], r[0]))
    print(f"\n## VQ codes: held-out AISHELL-1 S0913 ({len(eval_ids)} utterances), 5 codebooks, 5 ms frames; "
          f"k-means fitted on the same {len(train_ids)} training utterances\n")
    print(table(["model", "bits/frame", "MCD dB", "GV ratio", "frames > 2 dB", "codebook use % (held-out)",
                 "vs better k-means", "kbit/s"], rows))
    print("\n## Gaussian VAE on the same axis (rate = held-out KL)\n")
    print(table(["cell", "latent", "MCD dB", "GV ratio", "KL kbit/s"],
                [[r["cell"], r["latent"], float(r["mcd_db"]), float(r["gv_ratio"]),
                  float(r["kbit_per_s"]) if r.get("kbit_per_s") not in (None, "") else "-"] for r in res]))
    fig = rate_distortion_curves(curve)["rd_rate.png"]
    print("figure:", save_figure(fig, out / "vq_rate.png"))


def quality_rows(out: Path, feat: Path, lists: Path, train_ids: list[str], eval_ids: list[str]) -> None:
    """The main rows by ear (see the module docstring); vq.yaml trained once under out/quality."""
    from speechvae.config import load_config
    from speechvae.evaluation.baselines import fit_vq, training_frames, vq_rebuild
    from speechvae.evaluation.metrics import score
    from speechvae.inference.model import load_model, reconstruct

    t0 = time.perf_counter()
    exp = out / "quality" / "vq"
    trained(feat, exp, load_config(CONF / "vq.yaml"), lists / "train.list", lists / "dev.list")
    tm = load_model(exp, "cpu")
    model = lambda f: reconstruct(tm, f)
    systems = {f"vq.yaml ({tm.model.bits_per_frame:g} bits per frame)": (score(feat, eval_ids, model)["mcd_db"], model)}
    x = training_frames(feat, train_ids)
    for kind in ("split", "residual"):
        rb = vq_rebuild(fit_vq(x, kind, 40, 5))
        systems[f"{kind} k-means VQ (40 bits per frame)"] = (score(feat, eval_ids, rb)["mcd_db"], rb)
    print(f"(trained and scored: {time.perf_counter() - t0:.0f} s)", flush=True)
    text = judged(feat, eval_ids, systems)
    print(f"\n## VQ codes by ear: held-out AISHELL-1 S0913 ({len(eval_ids)} utterances), "
          f"{time.perf_counter() - t0:.0f} s\n")
    print(text)


if __name__ == "__main__":
    main()
