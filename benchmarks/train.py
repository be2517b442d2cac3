"""Training speed and time-to-quality on the AISHELL-1 speaker (last 8 of 80 utterances held out).

    python benchmarks/train.py [--seed-epochs 50]

1. frames/s at batch 128 of (a) a per-batch-numpy loop like the article's (numpy fancy indexing and
   torch.from_numpy every step) and (b) speechvae's loop (all frames in one device tensor, index
   slices, one host sync per epoch); same model (seed config), one epoch each.
   The article's loop uses plain Adam; ours uses fused Adam where torch has it.
2. time-to-quality: the article's configuration (recipes/folder/conf/seed.yaml) is trained for 50
   epochs and its final held-out MCD is the target; then the default config is trained and the wall
   seconds until its held-out MCD first reaches the target are read from its log.csv.
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import speechvae  # noqa: F401
from speechvae.config import load_config
from speechvae.featdir import select_utts
from speechvae.models import loss_terms, objective
from speechvae.stats import Stats
from speechvae.train import build_model, fit, load_frames, make_optimizer, split_utts, train_epoch

from _common import ROOT, aishell_features, table


def article_loop_fps(x: np.ndarray, cfg) -> float:
    """One epoch of a per-batch-numpy training loop, as the article wrote it."""
    model = build_model(cfg, x.shape[1], torch.device("cpu"))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    perm = rng.permutation(len(x))
    for i in range(0, len(x), cfg.train.batch_size):
        xb = torch.from_numpy(x[perm[i:i + cfg.train.batch_size]])
        eps = torch.from_numpy(rng.standard_normal((len(xb), cfg.model.latent)).astype(np.float32))
        out = model(xb, eps)
        loss = objective(loss_terms(xb, out), cfg.loss.beta)
        opt.zero_grad()
        loss.backward()
        opt.step()
        float(loss)  # the article logged the loss every step (a host sync per batch)
    return len(x) / (time.perf_counter() - t0)


def our_loop_fps(x: np.ndarray, cfg) -> float:
    model = build_model(cfg, x.shape[1], torch.device("cpu"))
    opt = make_optimizer(model, cfg)
    xt = torch.from_numpy(x)
    t0 = time.perf_counter()
    train_epoch(model, opt, xt, cfg, 1, cfg.loss.beta)
    return len(x) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed-epochs", type=int, default=50)
    args = ap.parse_args()
    torch.manual_seed(0)
    featdir = aishell_features()
    seed_cfg = load_config(ROOT / "recipes/folder/conf/seed.yaml", [f"train.epochs={args.seed_epochs}"])
    default_cfg = load_config(None)
    stats = Stats.load(featdir / "stats.npz")
    train_ids, _ = split_utts(select_utts(featdir), seed_cfg.train.valid_fraction)
    x = load_frames(featdir, train_ids, stats, seed_cfg)
    print(f"## Training: AISHELL-1 S0913, {len(x)} training frames, CPU threads {torch.get_num_threads()}\n")
    fps_article = article_loop_fps(x, seed_cfg)
    fps_ours = our_loop_fps(x, seed_cfg)
    big = dataclasses.replace(seed_cfg, train=dataclasses.replace(seed_cfg.train, batch_size=1024))
    fps_big = our_loop_fps(x, big)
    print(table(["loop (seed model)", "batch", "frames/s", "vs article loop"], [
        ["per-batch numpy (article)", 128, fps_article, "1.0x"],
        ["speechvae (device tensor, index slices)", 128, fps_ours, f"{fps_ours / fps_article:.2f}x"],
        ["speechvae", 1024, fps_big, f"{fps_big / fps_article:.2f}x"],
    ]))
    with tempfile.TemporaryDirectory() as tmp:
        seed_hist = fit(featdir, Path(tmp) / "seed", seed_cfg)
        target = seed_hist[-1]["valid_mcd_db"]
        def_hist = fit(featdir, Path(tmp) / "default", default_cfg)
    reach = lambda h: next((r["elapsed_s"] for r in h if r["valid_mcd_db"] <= target), float("nan"))
    reach_epoch = lambda h: next((int(r["epoch"]) for r in h if r["valid_mcd_db"] <= target), -1)
    t_seed, t_def = seed_hist[-1]["elapsed_s"], reach(def_hist)
    print(f"\ntarget: the article config's held-out MCD after {args.seed_epochs} epochs = {target:.2f} dB\n")
    print(table(["config", "epochs run", "reaches target at epoch", "wall s to target", "final held-out MCD dB",
                 "speed-up"], [
        ["seed (article)", len(seed_hist), len(seed_hist), t_seed, target, "1.0x"],
        ["default", len(def_hist), reach_epoch(def_hist), t_def, def_hist[-1]["valid_mcd_db"], f"{t_seed / t_def:.1f}x"],
    ]))


if __name__ == "__main__":
    main()
