"""Per-dimension GV ratio of scored conversions against the target's recordings, as a figure.

    python benchmarks/vc_gv_dims.py LABEL=FOLDER [LABEL=FOLDER ...] -o FIGURE.png [--featdir DIR]

Each FOLDER: a converted folder holding the vc.json `evaluate-vc` wrote for it (benchmarks/vc_postfilter.py leaves
one in every folder it scores, e.g. data/bench/vc/<cell>/pf_dev_0.7_bdl_slt). Per dimension c1..c39,
the conversions' mean per-utterance variance over the target's recordings of the same sentences (1: as varied as the
target speaker), one line per folder, log scale: where the over-smoothing is, and what each post-filter restores.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import ROOT
from vc_postfilter import gv_ratio_dims

import speechvae  # noqa: F401
from speechvae.plots import gv_ratio_dims_figure, save_figure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", metavar="LABEL=FOLDER")
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--featdir", type=Path, default=ROOT / "data" / "bench" / "arctic_bdl_slt",
                    help="the feature folder of the target's recordings (default: benchmarks/vc.py's)")
    args = ap.parse_args()
    curves = {}
    for item in args.folders:
        label, sep, folder = item.partition("=")
        if not sep:
            raise SystemExit(f"{item!r}: give LABEL=FOLDER")
        scored = Path(folder) / "vc.json"
        if not scored.is_file():
            raise SystemExit(f"{folder}: no vc.json (score it with evaluate-vc or benchmarks/vc_postfilter.py first)")
        try:
            pairs = json.loads(scored.read_text())["scored"]
        except (ValueError, KeyError, TypeError):
            raise SystemExit(f"{scored}: not an evaluate-vc result (no list of scored pairs)")
        curves[label] = gv_ratio_dims(Path(folder), args.featdir, pairs)
        print(f"{label}: GV ratio {curves[label].mean():.3f} (c1-c4 {curves[label][:4].mean():.2f}, "
              f"c20-c39 {curves[label][19:].mean():.2f})")
    save_figure(gv_ratio_dims_figure(curves), args.output)
    print(f"-> {args.output}")


if __name__ == "__main__":
    main()
