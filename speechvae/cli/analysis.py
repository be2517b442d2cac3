"""``speechvae analyze``, ``lists`` and ``stats``: recordings to a feature folder."""
from __future__ import annotations

import logging
from pathlib import Path

from speechvae.cli.common import Command, add_config_args, load_config_args, report_failures

log = logging.getLogger("speechvae")


# --- analyze -----------------------------------------------------------------------------------
def analyze_add(p):
    p.add_argument("inputs", nargs="+", help="wav files, folders (recursive *.wav) or 'utt_id path' list files")
    p.add_argument("-o", "--output", required=True, metavar="FEATDIR", help="feature folder to write")
    add_config_args(p)
    p.add_argument("--f0", choices=["harvest", "dio"],
                   help="F0 estimator (analysis.f0_method; default harvest: slower, fewer errors)")
    p.add_argument("--f0-floor", type=float, metavar="HZ",
                   help="lowest F0 searched (analysis.f0_floor; default 71 Hz); also sets the FFT size")
    p.add_argument("--f0-ceil", type=float, metavar="HZ", help="highest F0 searched (analysis.f0_ceil; default 800 Hz)")
    p.add_argument(
        "--fs", type=int, metavar="HZ", help="sampling rate; audio is resampled to it (analysis.fs; default 16000)"
    )
    p.add_argument("--f0-ranges", metavar="FILE|auto",
                   help="per-speaker F0 ranges, 'speaker floor_hz ceil_hz' lines (analysis.f0_ranges); 'auto': found "
                        "per speaker by a fast first pass, written to FEATDIR/f0_ranges.txt")
    p.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (local pool, or LocalCluster workers)")
    p.add_argument("--scheduler", help="run on Dask: 'local' (a LocalCluster of -j workers) or tcp://HOST:PORT")
    p.add_argument("--overwrite", action="store_true",
                   help="re-analyse utterances already stored (also into a folder made with other settings)")


def analyze_run(args) -> int:
    from speechvae.analysis.corpus import analyze_corpus
    from speechvae.analysis.inputs import collect_inputs

    extra = [f"analysis.{k}={v}" for k, v in (("f0_method", args.f0), ("f0_floor", args.f0_floor),
                                               ("f0_ceil", args.f0_ceil), ("fs", args.fs),
                                               ("f0_ranges", args.f0_ranges)) if v is not None]
    cfg = load_config_args(args, extra)
    rep = analyze_corpus(collect_inputs(args.inputs), args.output, cfg.analysis, jobs=args.jobs,
                         overwrite=args.overwrite, scheduler=args.scheduler)
    log.info("analysed %d, skipped %d (already done), failed %d -> %s", rep.analysed, rep.skipped,
             len(rep.failures), args.output)
    return report_failures(rep.failures)


# --- lists -------------------------------------------------------------------------------------
def lists_add(p):
    p.add_argument("inputs", nargs="+", help="wav files, folders (recursive *.wav) or 'utt_id path' list files")
    p.add_argument("-o", "--output", required=True, metavar="DATADIR", help="folder for all/train/dev/eval.list")
    p.add_argument("--n-dev", type=int, default=0,
                   help="utterances held out for validation (at most 10%% of a small corpus, at least 1)")
    p.add_argument("--n-eval", type=int, default=0,
                   help="utterances held out for evaluation (at most 10%% of a small corpus, at least 1)")
    p.add_argument("--by-sentence", action="store_true",
                   help="voice conversion over speaker folders: --n-dev / --n-eval count the sentence names two or "
                        "more speakers read, held out for all of them; a speaker who reads none of them holds out its "
                        "own last utterances; also eval_<speaker>.list and dev_<speaker>.list")


def lists_run(args) -> int:
    from speechvae.analysis.inputs import collect_inputs
    from speechvae.analysis.splits import write_sentence_split, write_split_lists

    split = write_sentence_split if args.by_sentence else write_split_lists
    n = split(collect_inputs(args.inputs), args.output, args.n_dev, args.n_eval)
    log.info("lists in %s: %s", args.output, ", ".join(f"{k} {v}" for k, v in n.items()))
    return 0


# --- stats -------------------------------------------------------------------------------------
def stats_add(p):
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    p.add_argument("--list", help="only these utterance ids (first field of each line), e.g. the training list")
    p.add_argument("-o", "--output", metavar="NPZ", help="stats file (default FEATDIR/stats.npz)")


def stats_run(args) -> int:
    from speechvae.analysis.featdir import STATS_FILE, select_utts, stats_for

    ids = select_utts(args.featdir, args.list)
    s = stats_for(args.featdir, ids)
    out = args.output or str(Path(args.featdir) / STATS_FILE)
    s.save(out)
    log.info("stats over %d utterances, %d frames -> %s", s.utterances, s.frames, out)
    return 0


COMMANDS = [
    Command("analyze", "WORLD analysis -> mel-cepstra, stats, F0 histograms", analyze_add, analyze_run),
    Command("lists", "fixed train/dev/eval split by sorted utterance id -> list files", lists_add, lists_run),
    Command("stats", "normalisation statistics over a subset of a feature folder", stats_add, stats_run),
]
