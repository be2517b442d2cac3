"""``speechvae convert``, ``evaluate-vc`` and ``matrix``: voice conversion."""
from __future__ import annotations

import logging

from speechvae.cli.common import Command, add_model_args, add_postfilter_args, postfiltered

log = logging.getLogger("speechvae")


# --- voice conversion ----------------------------------------------------------------------------
def convert_add(p):
    add_model_args(p)
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder of the source utterances (`speechvae analyze`)")
    p.add_argument("--to", required=True, metavar="SPEAKER", help="target speaker (one of the model's speakers)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder for the converted features (feats/), wavs (wav/) and convert.json")
    p.add_argument("--list", help="only these utterance ids (first field of each line)")
    p.add_argument("--no-wav", action="store_true", help="write the converted features only")
    add_postfilter_args(p, "converted frames", "the target speaker's")


def convert_run(args) -> int:
    from speechvae.analysis.featdir import FeatureFolder
    from speechvae.inference.model import load_model
    from speechvae.vc.convert import convert_folder

    tm = postfiltered(load_model(args.model, args.device), args)
    source = FeatureFolder(args.featdir)
    info = convert_folder(tm, source, source.select(args.list), args.to, args.output,
                          wav=not args.no_wav, progress=not args.quiet)
    log.info("%d utterance(s) converted to %s -> %s%s", info["converted"], args.to, args.output,
             f"; {len(info['failures'])} FAILED (named above and in convert.json)" if info["failures"] else "")
    return 1 if info["failures"] else 0


def evaluate_vc_add(p):
    p.add_argument("converted", metavar="CONVERTED", help="folder written by `speechvae convert`")
    p.add_argument("target", metavar="TARGET", help="feature folder holding the target speaker's recordings")
    p.add_argument("-o", "--output", required=True, metavar="JSON", help="metrics file to write")
    p.add_argument("--figure", metavar="PNG", help="also draw source / converted / target envelopes of --utt")
    p.add_argument("--utt", help="utterance of --figure (default: the first converted one)")
    p.add_argument("--quality", action="store_true",
                   help="also speaker similarity (to the target and the source) and DNSMOS of the conversions, the "
                        "references and the target's copy synthesis (needs speechvae[quality]; ~15 s per sentence)")
    p.add_argument("--quality-cache", metavar="DIR",
                   help="keep each waveform's judgement (DNSMOS, speaker embedding) in DIR and read it back when the "
                        "same waveform comes again: the references are judged once, not for every model")


def evaluate_vc_run(args) -> int:
    from speechvae.vc.evaluate import conversion_figure, evaluate_conversion

    # a bad --utt: refused first
    fig = conversion_figure(args.converted, args.target, args.utt) if args.figure else None
    m = evaluate_conversion(args.converted, args.target, outdir=args.output, quality=args.quality,
                            progress=not args.quiet, quality_cache=args.quality_cache)
    if fig is not None:
        from speechvae.plots import save_figure
        log.info("envelopes -> %s", save_figure(fig, args.figure))
    log.info("%s -> %s over %d %s%s:", ", ".join(m["sources"]), m["target"], m["pairs"],
             "sentences" if m["parallel"] else "utterances (no parallel recording: no MCD)",
             "" if m["held_out"] else " (some used in TRAINING)")
    for name in ("model", "none", "meanstd") if m["parallel"] else ():
        log.info("  %-8s DTW MCD %5.2f dB (c0, voiced frames: %5.2f dB), F0 RMSE %4.0f cents", name, m[name]["mcd_db"],
                 m[name]["mcd_c0_voiced_db"], m[name]["f0_rmse_cents"])
    for name, q in m.get("quality", {}).get("systems", {}).items():
        fmt = lambda k: "-" if q.get(k) is None else f"{q[k]:.3f}"
        log.info("  %-16s similarity to %s %s, to the source %s, nearer the target %s, DNSMOS P.808 %s", name,
                 m["target"], fmt("similarity_target"), fmt("similarity_source"), fmt("nearer_target"),
                 fmt("dnsmos_p808"))
    log.info("-> %s", args.output)
    return 0


def matrix_add(p):
    p.add_argument("jsons", nargs="+", metavar="JSON", help="evaluate-vc JSONs, one per source -> target direction")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder for matrix.json, matrix.md, matrix.png (heat maps) and index.html")


def matrix_run(args) -> int:
    from speechvae.report.matrix_page import write_matrix
    from speechvae.vc.matrix import direction_table, matrix_markdown

    s = write_matrix(args.jsons, args.output)
    print(direction_table(s))
    print()
    print(matrix_markdown(s))
    log.info("%d speakers, %d directions -> %s/{matrix.md,matrix.png,index.html}", len(s["speakers"]),
             len({(r["source"], r["target"]) for r in s["directions"]}), args.output)
    return 0


COMMANDS = [
    Command("convert", "voice conversion through a speaker-conditioned model -> features, wavs",
            convert_add, convert_run),
    Command("evaluate-vc", "DTW MCD and F0 RMSE of converted speech vs the target's recordings, beside the references",
            evaluate_vc_add, evaluate_vc_run),
    Command("matrix", "every source -> target direction of evaluate-vc: tables and heat maps",
            matrix_add, matrix_run),
]
