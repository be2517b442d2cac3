"""``speechvae evaluate`` and ``speechvae baseline``: a model's figures, and the linear codes and VC references they
stand beside.
"""
from __future__ import annotations

import logging

from speechvae.cli.common import Command, add_model_args, add_reconstruction_args, int_list

log = logging.getLogger("speechvae")


def evaluate_add(p):
    add_model_args(p)
    add_reconstruction_args(p)
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    p.add_argument("-o", "--output", required=True, metavar="JSON", help="metrics file to write")
    p.add_argument("--nll-samples", type=int, default=0, metavar="K",
                   help="also estimate the held-out negative log-likelihood with K importance samples (0: skip)")
    p.add_argument("--quality", action="store_true",
                   help="also PESQ-WB, STOI (against the original recording) and DNSMOS of the resynthesis beside "
                        "WORLD copy synthesis and the recording (needs speechvae[quality]; ~5 s per utterance)")


def evaluate_run(args) -> int:
    from speechvae.analysis.featdir import select_utts
    from speechvae.evaluation.evaluate import evaluate
    from speechvae.inference.model import load_model
    from speechvae.store import write_json

    tm = load_model(args.model, args.device)
    m = evaluate(tm, args.featdir, select_utts(args.featdir, args.list), sample=args.sample,
                 postfilter=args.gv_postfilter, nll_samples=args.nll_samples, quality=args.quality,
                 progress=not args.quiet)
    write_json(args.output, m)
    log.info("MCD %.2f dB (voiced %.2f dB), GV ratio %.3f over %d frames%s -> %s", m["mcd_db"], m["mcd_voiced_db"],
             m["gv_ratio"], m["frames"], "" if m["held_out"] is not False else " (TRAINING utterances)", args.output)
    if "quality" in m:
        for name, q in m["quality"]["overall"].items():
            log.info("  %-8s %s", name, ", ".join(f"{k} {v:.3f}" for k, v in q.items() if isinstance(v, float)))
    if "speaker_leakage" in m:
        lk = m["speaker_leakage"]
        log.info("speaker leakage: a linear classifier on z names the speaker of %.0f%% of these frames "
                 "(chance %.0f%%)",
                 100 * lk["speaker_accuracy"], 100 * lk["chance"])
    return 0


# --- baseline ----------------------------------------------------------------------------------
def baseline_add(p):
    p.add_argument("kind", choices=["pca", "vq", "vc"],
                   help="pca: PCA-k of raw centred c1..c39 (the MCD's own scale); vq: k-means vector quantisation; "
                        "vc: the voice-conversion references (no conversion, mean/std matching) on parallel sentences")
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder for pca<k>.json + pca.csv, vq_<kind><bits>.json + vq.csv, or vc_<src>_<tgt>_<ref>.json "
                        "+ vc.csv")
    p.add_argument("--dims", default="4,8,16,24,32", help="pca: comma-separated numbers of components (per block)")
    p.add_argument("--stack", type=int, default=1, metavar="S",
                   help="pca: fit on blocks of S consecutive frames (the reference for a model with one latent "
                        "vector per S frames, model.stride S); files pca<k>x<S>.json, pca_x<S>.csv")
    p.add_argument("--bits", default="20,40", help="vq: comma-separated bits per frame")
    p.add_argument("--codebooks", type=int, default=5, help="vq: codebooks (bits / codebooks bits each)")
    p.add_argument("--vq", default="split,residual", help="vq: split (one codebook per band of dims) and/or residual")
    p.add_argument("--src", help="vc: source speaker (a speaker of FEATDIR's manifest)")
    p.add_argument("--tgt", help="vc: target speaker")
    p.add_argument("--train-list", help="utterances the baseline is fitted on (default: all of FEATDIR)")
    p.add_argument("--list", help="utterances it is scored on, e.g. eval.list (default: all of FEATDIR; vc: the "
                                  "source speaker's sentences whose names the target also read)")


def baseline_run(args) -> int:
    from speechvae.analysis.featdir import select_utts
    from speechvae.evaluation.baselines import pca_table_name, run_pca, run_vq

    train, ev = select_utts(args.featdir, args.train_list), select_utts(args.featdir, args.list)
    if args.kind == "vc":
        from speechvae.vc.references import run_references

        if not (args.src and args.tgt):
            raise ValueError("baseline vc needs --src SPEAKER and --tgt SPEAKER")
        run_references(
            args.featdir, args.output, args.src, args.tgt, train_ids=train, eval_ids=ev if args.list else None
        )
        log.info("-> %s/vc.csv", args.output)
        return 0
    if args.kind == "vq":
        rows = run_vq(
            args.featdir, args.output, args.vq.split(","), int_list("--bits", args.bits), args.codebooks, train, ev
        )
        for r in rows:
            log.info("%s k-means VQ, %d bits/frame (%d x %d entries): MCD %.2f dB, GV ratio %.3f%s", r["kind"],
                     r["bits_per_frame"], r["codebooks"], r["entries"], r["mcd_db"], r["gv_ratio"],
                     "" if r["held_out"] else " (TRAINING utterances)")
        log.info("-> %s/vq.csv", args.output)
        return 0
    rows = run_pca(args.featdir, args.output, int_list("--dims", args.dims), train, ev, args.stack)
    per = "" if args.stack == 1 else f" per {args.stack} frames"
    for r in rows:
        log.info("PCA-%d%s: MCD %.2f dB, GV ratio %.3f, %.0f%% of frames above 2 dB%s", r["components"], per,
                 r["mcd_db"], r["gv_ratio"], 100 * r["share_over_2db"],
                 "" if r["held_out"] else " (TRAINING utterances)")
    log.info("-> %s/%s", args.output, pca_table_name(args.stack))
    return 0


COMMANDS = [
    Command("evaluate", "MCD and GV ratio of VAE reconstructions", evaluate_add, evaluate_run),
    Command("baseline", "reference codes scored like the models (PCA-k)", baseline_add, baseline_run),
]
