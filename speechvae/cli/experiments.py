"""``speechvae sweep`` and ``speechvae rd``: grids of training runs."""
from __future__ import annotations

import logging

from speechvae.cli.common import Command

log = logging.getLogger("speechvae")


def sweep_add(p) -> None:
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    p.add_argument(
        "-o", "--output", required=True, metavar="SWEEPDIR", help="sweep folder (sweep.csv, heatmaps, cells/)"
    )
    p.add_argument("--grid", action="append", required=True, metavar="KEY=V1,V2,...",
                   help="config key and its values (repeatable; cells are the cartesian product)")
    p.add_argument("--config", help="base YAML config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="base config override")
    p.add_argument("--epochs", type=int, default=5, help="train.epochs of every cell")
    p.add_argument("-j", "--jobs", type=int, default=2, help="cells trained at once (one CPU thread each)")


def sweep_run(args) -> int:
    from speechvae.experiments.sweep import parse_grid, run_sweep

    grid = parse_grid(args.grid)
    rows = run_sweep(args.featdir, args.output, grid, config=args.config,
                     overrides=[f"train.epochs={args.epochs}", *args.set], jobs=args.jobs)
    bad = {s: sum(r["status"] == s for r in rows) for s in ("diverged", "collapsed", "error")}
    log.info("%d cells: %s -> %s/sweep.csv", len(rows), ", ".join(f"{v} {k}" for k, v in bad.items()), args.output)
    return 0


def rd_add(p) -> None:
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    p.add_argument("-o", "--output", required=True, metavar="RDDIR", help="folder for rd.csv, plots and cells/")
    p.add_argument(
        "--grid",
        action="append",
        required=True,
        metavar="KEY=V1,V2,...",
        help="config key and its values, e.g. model.latent=4,8,16,32 (repeatable; cells are the product)",
    )
    p.add_argument("--train-list", required=True, help="training utterances (PCA is fitted on them too)")
    p.add_argument("--valid-list", required=True, help="utterances for the per-epoch monitors")
    p.add_argument("--eval-list", required=True, help="held-out utterances every figure is measured on")
    p.add_argument("--config", metavar="YAML", help="base config (default: built-in defaults)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="base config override (repeatable)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="cells trained at once (one CPU thread each when > 1)")


def rd_run(args) -> int:
    from speechvae.experiments.rd import run_rd
    from speechvae.experiments.sweep import parse_grid

    rows = run_rd(
        args.featdir,
        args.output,
        parse_grid(args.grid),
        train_list=args.train_list,
        valid_list=args.valid_list,
        eval_list=args.eval_list,
        config=args.config,
        overrides=args.set,
        jobs=args.jobs,
    )
    for r in rows:
        rate = f", {float(r['kbit_per_s']):.2f} kbit/s" if r.get("kbit_per_s") not in (None, "") else ""
        mcd = f"{float(r['mcd_db']):.2f} dB" if r.get("mcd_db") is not None else r["status"]
        log.info(
            "%-40s latent %3s: MCD %s%s%s",
            r["cell"],
            r["latent"],
            mcd,
            rate,
            "" if r["status"] == "ok" else f" [{r['status']}]",
        )
    log.info("-> %s/rd.csv", args.output)
    return 0


COMMANDS = [
    Command("sweep", "grid of short training runs over config keys, with heatmaps", sweep_add, sweep_run),
    Command("rd", "rate-distortion: a grid of models beside PCA-k on held-out utterances", rd_add, rd_run),
]
