"""Command line: ``speechvae <command> ...``. Each command is ``add_arguments(p)`` + ``run(args)``;
the work is done in the library modules. Every flag that is a setting overrides a config key.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__

log = logging.getLogger("speechvae")


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config (sections analysis, model, init, loss, train, postfilter)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.lr=3e-4 (repeatable)")


def _load_config(args, extra: list[str] = ()):
    from .config import load_config

    return load_config(args.config, [*extra, *args.set])


# --- analyze -----------------------------------------------------------------------------------
def analyze_add(p):
    p.add_argument("inputs", nargs="+", help="wav files, folders (recursive *.wav) or 'utt_id path' list files")
    p.add_argument("-o", "--output", required=True, help="feature folder (FEATDIR)")
    _config_args(p)
    p.add_argument("--f0", choices=["harvest", "dio"], help="F0 estimator (analysis.f0_method)")
    p.add_argument("--f0-floor", type=float, help="Hz (analysis.f0_floor)")
    p.add_argument("--f0-ceil", type=float, help="Hz (analysis.f0_ceil)")
    p.add_argument("--fs", type=int, help="Hz, audio is resampled to it (analysis.fs)")
    p.add_argument("--f0-ranges", help="file of 'speaker floor_hz ceil_hz' lines (analysis.f0_ranges)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (local pool, or LocalCluster workers)")
    p.add_argument("--scheduler", help="run on Dask: 'local' (a LocalCluster of -j workers) or tcp://HOST:PORT")
    p.add_argument("--overwrite", action="store_true", help="re-analyse utterances already stored")


def analyze_run(args) -> int:
    from .corpus import analyze_corpus, collect_inputs

    extra = [f"analysis.{k}={v}" for k, v in (("f0_method", args.f0), ("f0_floor", args.f0_floor),
                                               ("f0_ceil", args.f0_ceil), ("fs", args.fs),
                                               ("f0_ranges", args.f0_ranges)) if v is not None]
    cfg = _load_config(args, extra)
    rep = analyze_corpus(collect_inputs(args.inputs), args.output, cfg.analysis, jobs=args.jobs,
                         overwrite=args.overwrite, scheduler=args.scheduler)
    log.info("analysed %d, skipped %d (already done), failed %d -> %s", rep.analysed, rep.skipped,
             len(rep.failures), args.output)
    return _report_failures(rep.failures)


def _report_failures(failures: list[str]) -> int:
    if failures:
        log.error("%d file(s) failed:", len(failures))
        for line in failures:
            log.error("  %s", line)
        return 1
    return 0


# --- lists -------------------------------------------------------------------------------------
def lists_add(p):
    p.add_argument("inputs", nargs="+", help="wav files, folders or list files")
    p.add_argument("-o", "--output", required=True, help="data folder for all/train/dev/eval.list")
    p.add_argument("--n-dev", type=int, default=0, help="utterances held out for validation")
    p.add_argument("--n-eval", type=int, default=0, help="utterances held out for evaluation")


def lists_run(args) -> int:
    from .corpus import collect_inputs, write_split_lists

    n = write_split_lists(collect_inputs(args.inputs), args.output, args.n_dev, args.n_eval)
    log.info("lists in %s: %s", args.output, ", ".join(f"{k} {v}" for k, v in n.items()))
    return 0


# --- stats -------------------------------------------------------------------------------------
def stats_add(p):
    p.add_argument("featdir")
    p.add_argument("--list", help="only these utterance ids (first field of each line), e.g. the training list")
    p.add_argument("-o", "--output", help="stats file (default FEATDIR/stats.npz)")


def stats_run(args) -> int:
    from .corpus import select_utts, stats_for
    from .store import STATS_FILE

    ids = select_utts(args.featdir, args.list)
    s = stats_for(args.featdir, ids)
    out = args.output or str(Path(args.featdir) / STATS_FILE)
    s.save(out)
    log.info("stats over %d utterances, %d frames -> %s", s.utterances, s.frames, out)
    return 0


# --- train -------------------------------------------------------------------------------------
def train_add(p):
    p.add_argument("featdir")
    p.add_argument("-o", "--output", required=True, help="experiment folder (EXPDIR)")
    _config_args(p)
    p.add_argument("--stats", help="normalisation stats (default FEATDIR/stats.npz)")
    p.add_argument("--train-list", help="training utterance ids (default: all but the held-out ones)")
    p.add_argument("--valid-list", help="held-out utterance ids (default: train.valid_fraction)")
    p.add_argument("--epochs", type=int, help="train.epochs")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="train.device")
    p.add_argument("--resume", action="store_true", help="continue from EXPDIR/checkpoint.pt")


def train_run(args) -> int:
    from .train import fit

    extra = [f"train.{k}={v}" for k, v in (("epochs", args.epochs), ("device", args.device)) if v is not None]
    cfg = _load_config(args, extra)
    hist = fit(args.featdir, args.output, cfg, stats_path=args.stats, resume=args.resume,
               valid_list=args.valid_list, train_list=args.train_list)
    if hist:
        last = hist[-1]
        log.info("epoch %d: valid loss %.3f (recon %.3f, KL %.3f nats/frame), held-out MCD %.2f dB -> %s",
                 last["epoch"], last["valid_loss"], last["valid_recon"], last["valid_kl"], last["valid_mcd_db"], args.output)
    return 0


# --- reconstruct / resynth / evaluate / plot ---------------------------------------------------
def _model_args(p, required=True):
    p.add_argument("--model", required=required, help="experiment folder or checkpoint file")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def _reconstruction_args(p):
    p.add_argument("--list", help="only these utterance ids (first field of each line), for feature folders")
    p.add_argument("--sample", action="store_true", help="decode z ~ q(z|x) instead of the posterior mean")
    p.add_argument("--gv-postfilter", action=argparse.BooleanOptionalAction, default=None,
                   help="GV post-filter on reconstructions (default: the model's postfilter.gv)")


def _feature_files(items: list[str], list_file: str | None = None) -> list[tuple[str, Path, object]]:
    """FEATDIRs (their manifest, optionally filtered by a list) and single .npz files ->
    (utt, path, the folder's stored AnalysisConfig or None for a lone file)."""
    from .corpus import read_featdir_analysis, select_utts
    from .store import feature_path

    out = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            acfg = read_featdir_analysis(p)
            out += [(u, feature_path(p, u), acfg) for u in select_utts(p, list_file)]
        else:
            out.append((p.stem, p, None))
    return out


def reconstruct_add(p):
    _model_args(p)
    _reconstruction_args(p)
    p.add_argument("featdir")
    p.add_argument("-o", "--output", required=True, help="output feature folder")


def reconstruct_run(args) -> int:
    from .corpus import write_featdir_analysis
    from .features import Features
    from .reconstruct import load_model, reconstruct
    from .store import feature_path, write_manifest

    tm = load_model(args.model, args.device)
    rows = []
    for utt, path, _ in _feature_files([args.featdir], args.list):
        f = Features.load(path)
        reconstruct(tm, f, sample=args.sample, postfilter=args.gv_postfilter, what=str(path)).save(
            feature_path(args.output, utt))
        rows.append({"utt_id": utt, "speaker": "-", "path": str(path), "frames": f.frames,
                     "seconds": f.frames * f.frame_period / 1000})
    write_manifest(args.output, rows)
    write_featdir_analysis(args.output, tm.cfg.analysis)  # so resynth/evaluate accept the folder
    log.info("%d reconstructions -> %s", len(rows), args.output)
    return 0


def resynth_add(p):
    p.add_argument("features", nargs="+", help="feature folders or .npz feature files")
    p.add_argument("-o", "--output", required=True, help="wav folder")
    _model_args(p, required=False)
    _reconstruction_args(p)


def resynth_run(args) -> int:
    from tqdm import tqdm

    from .audio import write_wav
    from .features import Features, check_compatible, synthesize
    from .reconstruct import load_model, reconstruct

    tm = load_model(args.model, args.device) if args.model else None
    files = _feature_files(args.features, args.list)
    for utt, path, acfg in tqdm(files, desc="resynth", unit="utt"):
        f = Features.load(path)
        if acfg is not None:  # a file must match the analysis settings recorded for its folder
            check_compatible(f, acfg, str(path))
        if tm is not None:
            f = reconstruct(tm, f, sample=args.sample, postfilter=args.gv_postfilter, what=str(path))
        write_wav(Path(args.output) / f"{utt}.wav", synthesize(f), f.fs)
    log.info("%d wav files (16-bit PCM) -> %s", len(files), args.output)
    return 0


def evaluate_add(p):
    _model_args(p)
    _reconstruction_args(p)
    p.add_argument("featdir")
    p.add_argument("-o", "--output", required=True, help="metrics JSON")


def evaluate_run(args) -> int:
    from .corpus import select_utts
    from .reconstruct import load_model
    from .report import evaluate, write_json

    tm = load_model(args.model, args.device)
    m = evaluate(tm, args.featdir, select_utts(args.featdir, args.list), sample=args.sample,
                 postfilter=args.gv_postfilter)
    write_json(args.output, m)
    log.info("MCD %.2f dB (voiced %.2f dB), GV ratio %.3f over %d frames -> %s", m["mcd_db"], m["mcd_voiced_db"],
             m["gv_ratio"], m["frames"], args.output)
    return 0


def plot_add(p):
    _model_args(p)
    p.add_argument("featdir")
    p.add_argument("-o", "--output", required=True, help="folder for the PNGs")
    p.add_argument("--utt", help="utterance for scatter/trajectory/PCA (default: first of --list or FEATDIR)")
    p.add_argument("--list", help="utterance ids to choose the default --utt from")
    p.add_argument("--dims", type=int, nargs=2, default=(1, 2), metavar=("I", "J"), help="scatter dims (1..39)")
    p.add_argument("--traj-dim", type=int, default=21, help="trajectory dim (1..39)")


def plot_run(args) -> int:
    from .corpus import select_utts
    from .reconstruct import load_model
    from .report import write_plots

    tm = load_model(args.model, args.device)
    utt = args.utt or select_utts(args.featdir, args.list)[0]
    paths = write_plots(tm, tm.checkpoint.history, args.featdir, utt, args.output, tuple(args.dims), args.traj_dim)
    for p in paths:
        print(p)
    return 0


COMMANDS = {
    "lists": (lists_add, lists_run, "fixed train/dev/eval split by sorted utterance id -> list files"),
    "analyze": (analyze_add, analyze_run, "WORLD analysis -> mel-cepstra, stats, F0 histograms"),
    "stats": (stats_add, stats_run, "normalisation statistics over a subset of a feature folder"),
    "train": (train_add, train_run, "train the VAE on a feature folder"),
    "reconstruct": (reconstruct_add, reconstruct_run, "features -> VAE reconstructions (feature files)"),
    "resynth": (resynth_add, resynth_run, "features (optionally through the VAE) -> WORLD -> wav"),
    "evaluate": (evaluate_add, evaluate_run, "MCD and GV ratio of VAE reconstructions"),
    "plot": (plot_add, plot_run, "scatter, trajectory, loss, posterior, dead-unit and latent plots"),
}


def _register_extra():
    try:
        from .sweep import sweep_add, sweep_run
    except ImportError:  # pragma: no cover
        return
    COMMANDS["sweep"] = (sweep_add, sweep_run, "grid of short training runs over config keys, with heatmaps")


def build_parser() -> argparse.ArgumentParser:
    _register_extra()
    parser = argparse.ArgumentParser(prog="speechvae", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"speechvae {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add, run, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add(p)
        p.set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .audio import AudioError
    from .checkpoint import CheckpointError
    from .config import ConfigError
    from .corpus import CorpusError
    from .features import FeatureMismatchError
    from .store import StoreError
    from .train import TrainingDiverged

    args = build_parser().parse_args(argv)
    # Our own loggers at INFO, third-party ones (matplotlib, ...) at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s speechvae %(levelname)s: %(message)s",
                        datefmt="%H:%M:%S")
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        return args.func(args)
    except (AudioError, CheckpointError, ConfigError, CorpusError, FeatureMismatchError, StoreError,
            TrainingDiverged, ValueError, RuntimeError) as e:
        log.error("%s", e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
