"""Grid sweeps over config keys: one short training run per cell, in parallel, summarised in
``sweep.csv`` and heatmaps where diverged and collapsed cells are marked, not left blank.

    speechvae sweep FEATDIR -o SWEEPDIR --grid init.scale=0.25,0.5,1,2,4,8 --grid train.lr=1e-4,1e-3 --epochs 5
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from speechvae.config import Config, ConfigError, apply_overrides, config_from_dict, config_to_dict, load_config
from speechvae.parallel import task_runner
from speechvae.plots import heatmap, save_figure
from speechvae.store import write_csv
from speechvae.training.loop import TrainingDiverged, fit, mean_dead_fraction

log = logging.getLogger(__name__)


# Reported per cell; "dead_fraction" is the mean over hidden layers of the dead-unit fraction.
METRICS = ("valid_loss", "valid_mcd_db", "dead_fraction", "active_dims", "valid_kl")


HEATMAPS = {"valid_loss": "final valid loss (nats/frame)", "valid_mcd_db": "held-out MCD (dB)",
            "dead_fraction": "dead ReLU fraction (mean over layers)", "active_dims": "active latent dims"}


def parse_grid(items: list[str]) -> dict[str, list]:
    """``["init.scale=0.5,1", ...]`` -> ``{"init.scale": [0.5, 1.0], ...}`` (values parsed as YAML)."""
    grid: dict[str, list] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--grid {item!r}: expected section.key=v1,v2,...")
        key, raw = item.split("=", 1)
        grid[key.strip()] = [yaml.safe_load(v) for v in raw.split(",") if v.strip()]
        if not grid[key.strip()]:
            raise ConfigError(f"--grid {item!r}: no values")
    return grid


def cell_name(assign: dict) -> str:
    """The folder name of one grid cell, ``key=value,...``; a slash, backslash or control character in a value
    becomes ``_`` (a cell's folder stays one folder inside ``cells/``).

    >>> cell_name({"model.latent": 4, "analysis.f0_ranges": "../../x"})
    'model.latent=4,analysis.f0_ranges=.._.._x'
    """
    name = ",".join(f"{k}={v}" for k, v in assign.items())
    return "".join("_" if c in "/\\" or not c.isprintable() else c for c in name)


def cell_config(base: dict, assign: dict) -> Config:
    """The validated config of one grid cell: ``base`` (plain config data) with ``assign``'s keys set."""
    return config_from_dict(apply_overrides(base, [f"{k}={v}" for k, v in assign.items()]))


def _run_cell(args: tuple) -> dict:
    """Worker: train one cell; never raises (a failure is the cell's status)."""

    featdir, outdir, base, assign, threads = args
    torch.set_num_threads(threads)
    row = {**assign, "status": "ok", **{m: float("nan") for m in METRICS}, "seconds": 0.0}
    t0 = time.perf_counter()
    try:
        cfg = cell_config(base, assign)
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=threads))  # the cell's share
        # a sweep owns its cells: a re-run trains them again
        hist = fit(featdir, Path(outdir) / "cells" / cell_name(assign), cfg, overwrite=True, progress=False)
        last = hist[-1]
        row.update({"valid_loss": last["valid_loss"], "valid_mcd_db": last["valid_mcd_db"],
                    "dead_fraction": mean_dead_fraction(last), "active_dims": last["active_dims"],
                    "valid_kl": last["valid_kl"]})
        if last["active_dims"] == 0:
            row["status"] = "collapsed"
    except TrainingDiverged:
        row["status"] = "diverged"
    except Exception as e:  # a broken cell must not stop the sweep
        row["status"] = "error"
        log.error("cell %s failed: %s", cell_name(assign), e)
    row["seconds"] = time.perf_counter() - t0
    return row


def run_sweep(featdir: str | Path, outdir: str | Path, grid: dict[str, list], *, config: str | None = None,
              overrides: list[str] | None = None, jobs: int = 1, progress: bool = True) -> list[dict]:
    """Train every cell of ``grid`` (cartesian product) and write sweep.csv and heatmaps."""
    outdir = Path(outdir)
    base = config_to_dict(load_config(config, overrides))
    keys = list(grid)
    cells = [dict(zip(keys, vals)) for vals in itertools.product(*grid.values())]
    for c in cells:  # validate every cell up front: a typo should fail now, not after an hour
        cell_config(base, c)

    threads = 1 if jobs > 1 else torch.get_num_threads()  # parallel cells: one thread each
    work = [(str(featdir), str(outdir), base, c, threads) for c in cells]
    log.info("sweep: %d cells over %s, %d at a time", len(cells), keys, jobs)
    with task_runner(jobs) as run:
        rows = run(_run_cell, work, desc="sweep", progress=progress)
    write_csv(outdir / "sweep.csv", rows)
    write_heatmaps(outdir, rows, grid)
    return rows


def write_heatmaps(outdir: Path, rows: list[dict], grid: dict[str, list]) -> list[Path]:
    """One PNG per metric: first grid key on rows, second on columns (a single row for 1-D grids)."""

    keys = list(grid)
    if len(keys) > 2:
        log.warning("heatmaps need one or two grid keys; %d given, see sweep.csv", len(keys))
        return []
    rk, ck = keys[0], (keys[1] if len(keys) == 2 else None)
    rvals, cvals = grid[rk], (grid[ck] if ck else [""])
    paths = []
    for metric, title in HEATMAPS.items():
        vals = np.full((len(rvals), len(cvals)), np.nan)
        status = np.full((len(rvals), len(cvals)), "ok", dtype=object)
        for r in rows:
            i, j = rvals.index(r[rk]), (cvals.index(r[ck]) if ck else 0)
            vals[i, j], status[i, j] = r[metric], r["status"]
        fmt = "{:.0f}" if metric == "active_dims" else "{:.2f}"
        fig = heatmap(vals, [str(v) for v in rvals], [str(v) for v in cvals], rk, ck or "", title, status, fmt)
        paths.append(save_figure(fig, outdir / f"heatmap_{metric}.png"))
    return paths
