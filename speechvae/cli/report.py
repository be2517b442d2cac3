"""``speechvae plot`` and ``speechvae report``: a model's figures and listening pages."""
from __future__ import annotations

import logging

from speechvae.cli.common import Command, add_model_args

log = logging.getLogger("speechvae")


def plot_add(p):
    add_model_args(p)
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    p.add_argument("-o", "--output", required=True, metavar="PLOTDIR", help="folder for the PNGs")
    p.add_argument("--utt", help="utterance for scatter/trajectory/PCA (default: first of --list or FEATDIR)")
    p.add_argument("--list", help="utterance ids to choose the default --utt from")
    p.add_argument("--dims", type=int, nargs=2, default=(1, 2), metavar=("I", "J"),
                   help="mel-cepstrum dims of the input-vs-reconstruction scatter (1..order; c1 and c2 carry "
                        "the spectral tilt and the first formant region)")
    p.add_argument("--traj-dim", type=int, default=21,
                   help="mel-cepstrum dim whose trajectory is plotted (1..order); a high-order dim such as c21 "
                        "has small variance, where over-smoothing shows first")
    p.add_argument("--prior-samples", type=int, default=256, metavar="N",
                   help="frames decoded from z ~ N(0, I) (VQ: uniform codes) for prior_envelopes.png / prior_gv.png")
    p.add_argument("--interpolate", metavar="UTT_B",
                   help="also move --utt's latents toward those of UTT_B (DTW-aligned, same text) in 5 steps: "
                        "interp/*.wav and interpolation.png")


def plot_run(args) -> int:
    from speechvae.analysis.featdir import select_utts
    from speechvae.inference.model import load_model
    from speechvae.report.latent_views import write_views
    from speechvae.report.model_plots import write_plots

    tm = load_model(args.model, args.device)
    ids = select_utts(args.featdir, args.list)
    utt = args.utt or ids[0]
    for flag, u in (("--utt", args.utt), ("--interpolate", args.interpolate)):
        if u and u not in set(select_utts(args.featdir)):  # refuse before any plot is written
            raise ValueError(f"{flag} {u}: no such utterance in {args.featdir} (ids like {ids[0]})")
    paths = write_plots(tm, tm.checkpoint.history, args.featdir, utt, args.output, tuple(args.dims), args.traj_dim)
    paths += write_views(tm, args.featdir, ids, args.output, samples=args.prior_samples,
                         interpolate_pair=(utt, args.interpolate) if args.interpolate else None)
    for p in paths:
        print(p)
    return 0


# --- report ------------------------------------------------------------------------------------
def report_add(p):
    p.add_argument("expdir", metavar="EXPDIR", help="experiment folder of `speechvae train`, or a conversion folder "
                                                   "of `speechvae convert` (then FEATDIR holds the target's "
                                                   "recordings)")
    p.add_argument("featdir", nargs="?", metavar="FEATDIR",
                   help="feature folder (default: the one the experiment was trained on, from EXPDIR/data.json; "
                        "for a conversion folder: the target speaker's feature folder, required)")
    p.add_argument("--metrics", metavar="JSON",
                   help="conversion folder: the `evaluate-vc [--quality]` JSON to show "
                        "(default: computed for the page)")
    p.add_argument("-o", "--output", required=True, metavar="REPORTDIR", help="folder for index.html and its files")
    p.add_argument("--list", help="utterances to show (default: those of EXPDIR/metrics.json, else the held-out ones)")
    p.add_argument("--compare", nargs="+", default=[], metavar="EXPDIR",
                   help="more experiments, evaluated on the same utterances: one table row each")
    p.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present, else CPU"
    )


def report_run(args) -> int:
    from speechvae.report.conversion_page import build_conversion_page, is_conversion_folder
    from speechvae.report.listening import build_report

    if is_conversion_folder(args.expdir):
        if not args.featdir:
            raise ValueError(f"{args.expdir} is a conversion folder: give the target's feature folder too "
                             "(speechvae report CONVERTED FEATDIR -o PAGEDIR)")
        page = build_conversion_page(args.expdir, args.featdir, args.output, args.metrics, progress=not args.quiet)
    else:
        page = build_report(args.expdir, args.output, args.featdir, args.list, args.compare, args.device)
    log.info("listening page -> %s", page)
    print(page)
    return 0


COMMANDS = [
    Command("plot", "scatter, trajectory, loss, posterior, dead-unit and latent plots", plot_add, plot_run),
    Command("report", "a listening page (index.html): audio, spectrograms, metrics, plots", report_add, report_run),
]
