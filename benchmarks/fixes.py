"""Beyond the article: each fix measured on the AISHELL-1 speaker (last 8 of 80 utterances held out).

    python benchmarks/fixes.py [--out data/bench/fixes]

Prints a markdown table (held-out MCD dB and GV ratio from `evaluate` with the posterior mean, KL
nats/frame, active latent dims, dead-unit fraction, training seconds), writes the rate-distortion
plot over beta and the prior-sample GV plot of the true-ELBO config into --out.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from _common import ROOT, aishell_features, table

import speechvae  # noqa: F401
from speechvae import plots
from speechvae.analysis.featdir import select_utts
from speechvae.config import load_config
from speechvae.evaluation.evaluate import evaluate
from speechvae.inference.model import decode, load_model
from speechvae.training.data import split_utts
from speechvae.training.loop import fit, mean_dead_fraction

CONF = ROOT / "recipes" / "folder" / "conf"

# name, config file, overrides, GV post-filter at evaluation
RUNS = [
    ("seed (article)", "seed.yaml", [], False),
    ("seed + learned per-dim variance", "seed.yaml", ["loss.decoder_variance=per_dim"], False),
    ("seed + beta warm-up 10 ep + free bits 0.25", "seed.yaml", ["loss.beta_warmup_epochs=10", "loss.free_bits=0.25"],
     False),
    ("seed + GV post-filter", "seed.yaml", [], True),
    ("default (per-dim variance, beta 0.01, he init, 15 ep)", None, [], False),
    ("default + GV post-filter", None, [], True),
    ("true ELBO (elbo.yaml: beta -> 1)", "elbo.yaml", [], False),
    ("true ELBO + GV post-filter", "elbo.yaml", [], True),
]
BETAS = [0.001, 0.01, 0.1, 0.3, 1.0]


def run(featdir: Path, out: Path, name: str, conf: str | None, sets: list[str], held: list[str], cache: dict) -> dict:
    key = (conf, tuple(sets))
    if key not in cache:  # the post-filter rows reuse the trained model
        expdir = out / "exp" / (name.split(" (")[0].replace(" ", "_").replace("+", "").replace("/", "") or "x")
        cfg = load_config(CONF / conf if conf else None, sets)
        cache[key] = (fit(featdir, expdir, cfg, progress=False), expdir)
    return cache[key]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "data" / "bench" / "fixes"))
    args = ap.parse_args()
    out = Path(args.out)
    torch.manual_seed(0)
    featdir = aishell_features()
    _, held = split_utts(select_utts(featdir), 0.1)
    cache: dict = {}
    rows = []
    for name, conf, sets, pf in RUNS:
        hist, expdir = run(featdir, out, name, conf, sets, held, cache)
        m = evaluate(load_model(expdir, "cpu"), featdir, held, postfilter=pf)
        last = hist[-1]
        rows.append([name, m["mcd_db"], m["gv_ratio"], last["valid_kl"], int(last["active_dims"]),
                     mean_dead_fraction(last),
                     last["elapsed_s"]])
        print(f"  {name}: MCD {m['mcd_db']:.2f} dB, GV {m['gv_ratio']:.3f}", flush=True)
    print(f"\n## Fixes: AISHELL-1 S0913, held-out {len(held)} utterances ({held[0]}..{held[-1]}), posterior mean\n")
    print(table(["config", "held-out MCD dB", "GV ratio", "KL nats/frame", "active dims", "dead fraction",
                 "train s"], rows))

    # rate-distortion over beta (default config otherwise)
    rd = []
    for b in BETAS:
        hist, expdir = run(featdir, out, f"beta{b}", None, [f"loss.beta={b}"], held, cache)
        m = evaluate(load_model(expdir, "cpu"), featdir, held)
        rd.append([b, hist[-1]["valid_kl"], m["mcd_db"], m["gv_ratio"], int(hist[-1]["active_dims"])])
    print("\n" + table(["beta", "KL nats/frame", "held-out MCD dB", "GV ratio", "active dims"], rd))
    plots.save_figure(plots.rate_distortion(np.array([r[1] for r in rd]), np.array([r[2] for r in rd]),
                                            [f"beta {r[0]}" for r in rd]), out / "rate_distortion.png")

    # decodes of z ~ N(0, I) for the true-ELBO config, GV beside the data's
    _, expdir = cache[("elbo.yaml", ())]
    tm = load_model(expdir, "cpu")
    z = np.random.default_rng(0).standard_normal((20000, tm.cfg.model.latent))
    gv_prior = decode(tm, z).var(axis=0)
    gv_data = tm.checkpoint.stats.mcep_std**2
    plots.save_figure(plots.gv_comparison(gv_data, gv_prior), out / "prior_gv.png")
    print(f"\nprior decodes (true-ELBO config): mean GV ratio to data {np.mean(gv_prior / gv_data):.3f}")
    print(f"plots: {out / 'rate_distortion.png'}, {out / 'prior_gv.png'}")


if __name__ == "__main__":
    main()
