"""Compact codes beside their linear baseline: rate-distortion on held-out AISHELL-1 S0913 utterances
(64 train / 8 dev / 8 eval, fixed split by id) and on a speaker never seen in training (the last 40
CMU ARCTIC bdl sentences, US male), every model beside PCA-k fitted on the same training frames.

    python benchmarks/compact.py [--out data/bench/compact] [-j 1] [--quality]

Prints markdown tables: per code size (numbers per frame: latent dims / frames per latent vector), each model
family's held-out MCD, GV ratio, frames above 2 dB, rate (held-out KL, kbit/s) and its MCD relative to PCA-k on
both speakers, and for a model with one latent vector per s > 1 frames also relative to PCA of s stacked frames
with as many components (the linear code of the same shape); then the rate axis over beta (the true-ELBO family;
rate8k.yaml and rate.yaml, the block model) and the true ELBO (beta = 1 at the end) without any post-filter.
Writes rd.csv and the plots of each family under --out.
Re-runs skip finished cells.

--quality (speechvae[quality]) prints only the main rows judged by ear instead: block.yaml and rate8k.yaml beside
PCA-16, PCA-8 and PCA of 4 stacked frames (64 components: the same 16 numbers per frame), WORLD copy
synthesis and the recordings, on the 8 held-out utterances: PESQ-WB and STOI against the recording, DNSMOS.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import ROOT, aishell_split, corpus_or_exit, judged, table, trained

import speechvae  # noqa: F401
from speechvae.analysis.corpus import analyze_corpus
from speechvae.analysis.featdir import read_id_list, select_utts
from speechvae.analysis.inputs import collect_inputs
from speechvae.config import AnalysisConfig
from speechvae.evaluation.baselines import fit_pca, pca_name, pca_rebuild
from speechvae.evaluation.evaluate import evaluate
from speechvae.evaluation.metrics import score
from speechvae.experiments.rd import run_rd
from speechvae.inference.model import load_model, reconstruct

CONF = ROOT / "recipes" / "folder" / "conf"
LATENTS = "4,8,16,32"
# family name -> (base config, overrides, grid of latent sizes)
FAMILIES = {
    "mlp, z-scores, per-dim variance (the 64-dim default's loss)": ("default.yaml", [], LATENTS),
    "mlp, MCD scale, shared variance (compact.yaml)": ("compact.yaml", [], LATENTS),
    "conv k5, stride 4, MCD scale (one latent vector per 20 ms)": (
        "compact.yaml", ["model.kind=conv", "model.stride=4", "model.segment=64", "model.hidden=[256,256]",
                         "train.batch_size=512"], "16,32"),
    "block of 4 frames, linear path (block.yaml)": ("block.yaml", [], "16,32,64,128"),
    "block of 4 frames, no linear path": ("block.yaml", ["model.linear_path=false"], "16,32,64,128"),
}
# the rate axis: beta (the price of a nat) over a 64-dim latent, MCD scale, beta warm-up, no free bits
BETA_FAMILY = ("true-ELBO family over beta, MCD scale (elbo.yaml, shared variance, no free bits)", "elbo.yaml",
               ["model.scaling=global", "loss.decoder_variance=shared", "loss.free_bits=0"], "0.3,1,1.5,2,3")
# the two named rate configs over beta: the block model of block.yaml trained to beta 1 (rate8k.yaml) and 1.5
# (rate.yaml) after a 10-epoch warm-up; both share one grid (their files differ only in beta)
RATE_FAMILY = ("rate8k.yaml / rate.yaml over beta (block of 4 frames, linear path, 64 dims per block)", "rate8k.yaml",
               [], "0.5,0.7,1,1.5,2,3")


def unseen_speaker(out: Path, jobs: int) -> Path:
    """The last 40 bdl sentences of the shared parallel ARCTIC corpus, analysed once."""
    bdl = corpus_or_exit("cmu_arctic_bdl_slt") / "bdl"
    utts = collect_inputs([bdl])[-40:]
    feat = out / "bdl_last40"
    analyze_corpus(utts, feat, AnalysisConfig(), jobs=jobs, progress=False)
    return feat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "data" / "bench" / "compact"))
    ap.add_argument("-j", "--jobs", type=int, default=1, help="cells trained at once")
    ap.add_argument("--quality", action="store_true", help="only the main rows, judged by PESQ, STOI and DNSMOS")
    args = ap.parse_args()
    out = Path(args.out)
    feat, lists = aishell_split(out)
    if args.quality:
        return quality_rows(out, feat, lists)
    bdl = unseen_speaker(out, 2)
    train_ids, eval_ids, bdl_ids = read_id_list(lists / "train.list"), read_id_list(lists / "eval.list"),
    select_utts(bdl)
    pcas = {s: fit_pca(feat, train_ids, s) for s in (1, 4)}  # frame PCA, and PCA of 4 stacked frames
    pca_bdl = {pca_name(k * s, s): score(bdl, bdl_ids, pca_rebuild(pcas[s], k * s))["mcd_db"]
               for k in (4, 8, 16, 32) for s in (1, 4)}

    def versus(mcd: float, ref: float | None) -> str:
        return "" if ref is None else f"{100 * (mcd / ref - 1):+.0f}%"

    rows, combined = [], []
    for fam, (conf, sets, latents) in FAMILIES.items():
        t0 = time.perf_counter()
        tag = "".join(c for c in fam.split("(")[0] if c.isalnum())[:24]
        res = run_rd(feat, out / tag, {"model.latent": [int(v) for v in latents.split(",")]},
                     train_list=str(lists / "train.list"), valid_list=str(lists / "dev.list"),
                     eval_list=str(lists / "eval.list"), config=str(CONF / conf), overrides=sets, jobs=args.jobs,
                     progress=False)
        pca_mcd = {r["cell"]: float(r["mcd_db"]) for r in res if r["model"] == "pca"}
        short = fam.split(" (")[0]
        combined += [{**r, "cell": f"{short},{r['cell']}"} for r in res if r["model"] != "pca"]
        combined += [r for r in res if r["model"] == "pca" and r["cell"] not in {c["cell"] for c in combined}]
        for r in res:
            if r["model"] == "pca" or r.get("mcd_db") is None:
                continue
            latent, stride = int(r["latent"]), int(r["stride"])
            frame, stacked = pca_name(latent // stride), pca_name(latent, stride) if stride > 1 else None
            tm = load_model(out / tag / "cells" / r["cell"], "cpu")
            b, mcd = score(bdl, bdl_ids, lambda f: reconstruct(tm, f))["mcd_db"], float(r["mcd_db"])
            rows.append([fam, f"{latent // stride}" + (f" ({latent} per {stride})" if stride > 1 else ""), mcd,
                         pca_mcd[frame], versus(mcd, pca_mcd[frame]), pca_mcd.get(stacked, ""),
                         versus(mcd, pca_mcd.get(stacked)), float(r["gv_ratio"]), float(r["share_over_2db"]),
                         float(r["kbit_per_s"]), b, pca_bdl[frame], versus(b, pca_bdl[frame]), pca_bdl.get(stacked, ""),
                         versus(b, pca_bdl.get(stacked))])
        print(f"({fam}: {time.perf_counter() - t0:.0f} s)", flush=True)
    beta_rows = {}
    for family, sub, label in (
        (BETA_FAMILY, "beta", "mlp true-ELBO family (MCD scale)"),
        (RATE_FAMILY, "rate_block", "rate8k.yaml / rate.yaml"),
    ):
        fam, conf, sets, betas = family
        t0 = time.perf_counter()
        res = run_rd(feat, out / sub, {"loss.beta": [float(b) for b in betas.split(",")]},
                     train_list=str(lists / "train.list"), valid_list=str(lists / "dev.list"),
                     eval_list=str(lists / "eval.list"), config=str(CONF / conf), overrides=sets, jobs=args.jobs,
                     progress=False)
        beta_rows[fam] = []
        for r in res:
            if r["model"] != "pca" and r.get("mcd_db") is not None:
                tm = load_model(out / sub / "cells" / r["cell"], "cpu")
                beta_rows[fam].append([r["cell"], float(r["mcd_db"]), float(r["gv_ratio"]),
                                       float(r["kl_nats_per_frame"]), float(r["kbit_per_s"]),
                                       score(bdl, bdl_ids, lambda f: reconstruct(tm, f))["mcd_db"]])
                combined.append({**r, "cell": f"{label} over beta,model.latent={r['latent']}"})  # one line a family
        print(f"({fam}: {time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\n## Compact codes: held-out AISHELL-1 S0913 ({len(eval_ids)} utterances) and unseen speaker bdl "
          f"({len(bdl_ids)} ARCTIC sentences); PCA-k fitted on the same {len(train_ids)} training utterances\n")
    print(table(["model", "dims per frame", "MCD dB", "PCA-k dB", "vs PCA", "stacked PCA dB", "vs stacked",
                 "GV ratio", "frames > 2 dB", "rate kbit/s", "unseen bdl dB", "bdl PCA-k dB", "bdl vs PCA",
                 "bdl stacked PCA dB", "bdl vs stacked"], rows))

    from speechvae.plots import rate_distortion_curves, save_figure

    for name, fig in rate_distortion_curves(combined).items():
        print("figure:", save_figure(fig, out / f"all_{name}"))
    for fam, rate_rows in beta_rows.items():
        print(f"\n## Rate: {fam}, held-out S0913 (PCA has no rate until quantised)\n")
        print(table(["cell", "MCD dB", "GV ratio", "KL nats/frame", "rate kbit/s", "unseen bdl MCD dB"], rate_rows))

    elbo = []
    for name, conf, sets in (
        ("elbo.yaml (z-scores, per-dim variance, free bits 1)", "elbo.yaml", []),
        ("elbo.yaml with free bits 0.5 (the previous setting)", "elbo.yaml", ["loss.free_bits=0.5"]),
    ):
        from speechvae.config import load_config
        from speechvae.training.loop import fit

        cfg = load_config(CONF / conf, sets + ["postfilter.gv=false"])
        exp = out / "elbo" / "".join(c for c in name if c.isalnum())[:30]
        fit(feat, exp, cfg, overwrite=True, train_list=lists / "train.list", valid_list=lists / "dev.list",
            progress=False)
        m = evaluate(load_model(exp, "cpu"), feat, eval_ids, postfilter=False, nll_samples=16)
        elbo.append([name, m["mcd_db"], m["gv_ratio"], m["kl_nats_per_frame"], m["kbit_per_s"],
                     m["nll_nats_per_frame"], m["nll_bits_per_dim"]])
    print("\n## True ELBO (beta = 1 at the end), no post-filter, held-out S0913\n")
    print(table(["config", "MCD dB", "GV ratio", "KL nats/frame", "rate kbit/s", "IW NLL nats/frame (K=16)",
                 "bits/dim"], elbo))


def quality_rows(out: Path, feat: Path, lists: Path) -> None:
    """The main rows by ear (see the module docstring); each config trained once under out/quality."""
    from speechvae.config import load_config

    train_ids, eval_ids = read_id_list(lists / "train.list"), read_id_list(lists / "eval.list")
    t0 = time.perf_counter()
    systems = {}
    for name, conf in (
        ("block.yaml (64 per 4 frames: 16 per frame)", "block.yaml"),
        ("rate8k.yaml (block, beta 1: 6.3 kbit/s)", "rate8k.yaml"),
    ):
        exp = out / "quality" / conf.split(".")[0]
        trained(feat, exp, load_config(CONF / conf), lists / "train.list", lists / "dev.list")
        tm = load_model(exp, "cpu")
        systems[name] = (score(feat, eval_ids, lambda f, tm=tm: reconstruct(tm, f))["mcd_db"],
                         lambda f, tm=tm: reconstruct(tm, f))
    for k, s, name in (
        (16, 1, "PCA-16 (16 per frame)"),
        (64, 4, "PCA-64 of 4 stacked frames (16 per frame)"),
        (8, 1, "PCA-8 (8 per frame)"),
    ):
        rb = pca_rebuild(fit_pca(feat, train_ids, s), k)
        systems[name] = (score(feat, eval_ids, rb)["mcd_db"], rb)
    print(f"(trained and scored: {time.perf_counter() - t0:.0f} s)", flush=True)
    text = judged(feat, eval_ids, systems)
    print(f"\n## Compact codes by ear: held-out AISHELL-1 S0913 ({len(eval_ids)} utterances), "
          f"{time.perf_counter() - t0:.0f} s\n")
    print(text)


if __name__ == "__main__":
    main()
