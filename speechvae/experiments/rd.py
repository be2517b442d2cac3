"""Rate-distortion in one command: train a grid of models, score each on held-out utterances beside
PCA with as many components, and plot distortion (MCD, GV ratio) against latent size and rate.

    speechvae rd FEATDIR -o RDDIR --grid model.latent=4,8,16,32 --grid loss.beta=0.01,0.1 \
        --train-list train.list --valid-list dev.list --eval-list eval.list

Each cell trains into ``RDDIR/cells/<cell>/`` and writes its ``metrics.json`` there; a re-run skips the
cells that have both a finished checkpoint and metrics. ``rd.csv`` holds one row per cell and one per
PCA-k: k = each cell's numbers per frame (``latent / stride``), and for a model with one latent vector per
s > 1 frames also PCA of s stacked frames with ``latent`` components (``pca<latent>x<s>``: the linear code
of the same shape). The rate of a model is its held-out KL (nats/frame and kbit/s), PCA's is left empty (a
continuous projection has no rate until quantised).
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
from pathlib import Path

import torch

from speechvae.analysis.featdir import select_utts
from speechvae.config import config_to_dict, load_config
from speechvae.evaluation.baselines import fit_pca, pca_name, pca_rebuild
from speechvae.evaluation.evaluate import evaluate
from speechvae.evaluation.metrics import score
from speechvae.experiments.sweep import cell_config, cell_name
from speechvae.inference.model import load_model
from speechvae.models.checkpoint import CheckpointError, load_checkpoint
from speechvae.parallel import task_runner
from speechvae.plots import rate_distortion_curves, save_figure
from speechvae.store import write_csv, write_json
from speechvae.training.loop import TrainingDiverged, fit
from speechvae.training.loop import finished as training_finished

log = logging.getLogger(__name__)


COLUMNS = ("model", "cell", "latent", "stride", "dims_per_frame", "mcd_db", "gv_ratio", "share_over_2db",
           "share_over_4db",
           "kl_nats_per_frame", "kbit_per_s", "held_out")


def _train_and_score(args: tuple) -> dict:
    """Worker: one cell, trained unless finished, then scored on the eval utterances."""

    featdir, celldir, base, assign, lists, threads = args
    torch.set_num_threads(threads)
    celldir = Path(celldir)
    cfg = cell_config(base, assign)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=threads))  # the cell's share
    metrics_file = celldir / "metrics.json"
    try:
        finished = training_finished(load_checkpoint(celldir), cfg) and metrics_file.exists()
    except CheckpointError:
        finished = False
    row = {"model": cfg.model.kind, "cell": celldir.name, **assign, "latent": cfg.model.latent,
           "stride": cfg.model.stride, "dims_per_frame": cfg.model.latent / cfg.model.stride, "status": "ok"}
    if finished:
        m = json.loads(metrics_file.read_text())
        return {**row, "status": "skipped (finished)", **{k: m.get(k) for k in COLUMNS if k in m}}
    try:
        fit(featdir, celldir, cfg, overwrite=True, train_list=lists[0], valid_list=lists[1], progress=False)
    except TrainingDiverged:
        return {**row, "status": "diverged"}

    m = evaluate(load_model(celldir, "cpu"), featdir, select_utts(featdir, lists[2]))
    write_json(metrics_file, m)
    return {**row, **{k: m[k] for k in COLUMNS if k in m}}


def run_rd(featdir: str | Path, outdir: str | Path, grid: dict[str, list], *, train_list: str, valid_list: str,
           eval_list: str, config: str | None = None, overrides: list[str] | None = None, jobs: int = 1,
           progress: bool = True) -> list[dict]:
    """Train and score every cell of ``grid`` and the PCA references of its shapes; write rd.csv and plots."""

    outdir = Path(outdir)
    train_ids, eval_ids = select_utts(featdir, train_list), select_utts(featdir, eval_list)  # refuse bad lists now
    select_utts(featdir, valid_list)
    base = config_to_dict(load_config(config, overrides))
    cells = [dict(zip(grid, vals)) for vals in itertools.product(*grid.values())]
    cfgs = [cell_config(base, c) for c in cells]  # a typo fails now, not after an hour
    threads = 1 if jobs > 1 else _threads()  # parallel cells: one thread each
    work = [(str(featdir), str(outdir / "cells" / cell_name(c)), base, c, (train_list, valid_list, eval_list), threads)
            for c in cells]
    log.info("rate-distortion: %d cells over %s, %d at a time", len(cells), list(grid), jobs)
    with task_runner(jobs) as run:
        rows = run(_train_and_score, work, desc="rd", progress=progress)
    shapes = {(c.model.latent // c.model.stride, 1) for c in cfgs if c.model.latent % c.model.stride == 0}
    shapes |= {(c.model.latent, c.model.stride) for c in cfgs if c.model.stride > 1}
    pcas = {s: fit_pca(featdir, train_ids, s) for s in sorted({s for _, s in shapes})}
    for k, s in sorted(shapes, key=lambda ks: (ks[1], ks[0])):
        if k <= len(pcas[s].mean):
            m = score(featdir, eval_ids, pca_rebuild(pcas[s], k))
            rows.append({"model": "pca", "cell": pca_name(k, s), "latent": k, "stride": s, "dims_per_frame": k / s,
                         "status": "ok", "held_out": not set(train_ids) & set(eval_ids),
                         **{c: m[c] for c in COLUMNS if c in m}})
    keys = list(dict.fromkeys(k for r in rows for k in r))
    write_csv(outdir / "rd.csv", [{k: r.get(k, "") for k in keys} for r in rows])
    write_plots(outdir, rows)
    return rows


def _threads() -> int:
    return torch.get_num_threads()


def write_plots(outdir: Path, rows: list[dict]) -> list[Path]:
    """rd_dims.png (MCD and GV ratio vs numbers per frame) and rd_rate.png (MCD vs kbit/s), PCA alongside."""

    ok = [r for r in rows if r.get("mcd_db") is not None and math.isfinite(float(r["mcd_db"]))]
    return [save_figure(fig, outdir / name) for name, fig in rate_distortion_curves(ok).items()]
