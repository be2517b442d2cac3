"""speechvae: compact latent codes of speech spectra (WORLD mel-cepstra -> VAE -> resynthesis).

Typical run: analyze -> (lists, stats) -> train -> evaluate / resynth / plot. Every flag that is a
setting overrides a config key (named in its help); ``--set section.key=value`` reaches any key.
Exit codes: 0 done, 1 some inputs failed (the rest was processed), 2 refused (bad input, config or
folder; one line says why), 130 interrupted.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from . import __version__

log = logging.getLogger("speechvae")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows a default only where there is one worth showing (not None / False / [])."""

    def _get_help_string(self, action):
        if action.default in (None, False, [], argparse.SUPPRESS) or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="YAML",
                   help="config file (sections analysis, model, init, loss, train, postfilter; "
                        "see recipes/folder/conf/default.yaml); default: built-in defaults")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.lr=3e-4 (repeatable)")


def _load_config(args, extra: list[str] = ()):
    from .config import load_config

    return load_config(args.config, [*extra, *args.set])


# --- analyze -----------------------------------------------------------------------------------
def analyze_add(p):
    p.add_argument("inputs", nargs="+", help="wav files, folders (recursive *.wav) or 'utt_id path' list files")
    p.add_argument("-o", "--output", required=True, metavar="FEATDIR", help="feature folder to write")
    _config_args(p)
    p.add_argument("--f0", choices=["harvest", "dio"],
                   help="F0 estimator (analysis.f0_method; default harvest: slower, fewer errors)")
    p.add_argument("--f0-floor", type=float, metavar="HZ",
                   help="lowest F0 searched (analysis.f0_floor; default 71 Hz); also sets the FFT size")
    p.add_argument("--f0-ceil", type=float, metavar="HZ", help="highest F0 searched (analysis.f0_ceil; default 800 Hz)")
    p.add_argument("--fs", type=int, metavar="HZ", help="sampling rate; audio is resampled to it (analysis.fs; default 16000)")
    p.add_argument("--f0-ranges", metavar="FILE|auto",
                   help="per-speaker F0 ranges, 'speaker floor_hz ceil_hz' lines (analysis.f0_ranges); 'auto': found "
                        "per speaker by a fast first pass, written to FEATDIR/f0_ranges.txt")
    p.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (local pool, or LocalCluster workers)")
    p.add_argument("--scheduler", help="run on Dask: 'local' (a LocalCluster of -j workers) or tcp://HOST:PORT")
    p.add_argument("--overwrite", action="store_true",
                   help="re-analyse utterances already stored (also into a folder made with other settings)")


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
    from .corpus import collect_inputs, write_sentence_split, write_split_lists

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
    from .corpus import stats_for
    from .featdir import STATS_FILE, select_utts

    ids = select_utts(args.featdir, args.list)
    s = stats_for(args.featdir, ids)
    out = args.output or str(Path(args.featdir) / STATS_FILE)
    s.save(out)
    log.info("stats over %d utterances, %d frames -> %s", s.utterances, s.frames, out)
    return 0


# --- train -------------------------------------------------------------------------------------
def train_add(p):
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    p.add_argument("-o", "--output", required=True, metavar="EXPDIR", help="experiment folder to write")
    _config_args(p)
    p.add_argument("--stats", metavar="NPZ",
                   help="normalisation stats (`speechvae stats`); default: computed over the training utterances")
    p.add_argument("--train-list", help="training utterance ids (default: all but the held-out ones)")
    p.add_argument("--valid-list", help="held-out utterance ids (default: the last train.valid_fraction of sorted ids)")
    p.add_argument("--epochs", type=int, help="train.epochs (default 15)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"],
                   help="train.device (default auto: CUDA when present, else CPU)")
    resume = p.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true", help="continue EXPDIR/checkpoint.pt (same config)")
    resume.add_argument("--overwrite", action="store_true", help="replace a model already in EXPDIR")


def train_run(args) -> int:
    from .train import fit

    extra = [f"train.{k}={v}" for k, v in (("epochs", args.epochs), ("device", args.device)) if v is not None]
    cfg = _load_config(args, extra)
    try:
        hist = fit(args.featdir, args.output, cfg, stats_path=args.stats, resume=args.resume,
                   overwrite=args.overwrite, valid_list=args.valid_list, train_list=args.train_list)
    except KeyboardInterrupt:
        raise Interrupted(_train_interrupt_hint(args)) from None
    if hist:
        last = hist[-1]
        log.info("epoch %d: valid loss %.3f (recon %.3f, KL %.3f nats/frame), held-out MCD %.2f dB -> %s",
                 last["epoch"], last["valid_loss"], last["valid_recon"], last["valid_kl"], last["valid_mcd_db"], args.output)
    return 0


def _train_interrupt_hint(args) -> str:
    from .checkpoint import CheckpointError, load_checkpoint

    try:
        done = f"the checkpoint of epoch {load_checkpoint(args.output).epoch} is kept"
    except CheckpointError:
        return "no epoch finished, nothing was kept"
    argv = " ".join(shlex.quote(a) for a in args.argv if a not in ("--overwrite", "--resume"))
    return f"{done}; continue with: speechvae {argv} --resume"


# --- reconstruct / resynth / evaluate / plot ---------------------------------------------------
def _model_args(p, required=True):
    p.add_argument("--model", required=required, metavar="EXPDIR",
                   help="experiment folder of `speechvae train` (or its checkpoint.pt)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: CUDA when present, else CPU")


def _reconstruction_args(p):
    p.add_argument("--list", help="only these utterance ids (first field of each line), for feature folders")
    p.add_argument("--sample", action="store_true", help="decode z ~ q(z|x) instead of the posterior mean")
    p.add_argument("--gv-postfilter", action=argparse.BooleanOptionalAction, default=None,
                   help="GV post-filter on reconstructions (default: the model's postfilter.gv)")


def _feature_files(items: list[str], list_file: str | None = None) -> list[tuple[str, Path, object]]:
    """FEATDIRs (their manifest, optionally filtered by a list) and single .npz files ->
    (utt, path, the folder's stored AnalysisConfig or None for a lone file)."""
    from .featdir import feature_path, read_featdir_analysis, select_utts

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
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="feature folder for the reconstructions (resynth and evaluate take it)")


def reconstruct_run(args) -> int:
    from .featdir import feature_path, utterance_speakers, write_featdir_analysis, write_manifest
    from .features import Features
    from .reconstruct import load_model, reconstruct

    tm = load_model(args.model, args.device)
    spk = utterance_speakers(args.featdir)  # a speaker-conditioned model rebuilds each voice as itself
    rows = []
    for utt, path, _ in _feature_files([args.featdir], args.list):
        f = Features.load(path)
        reconstruct(tm, f, sample=args.sample, postfilter=args.gv_postfilter, what=str(path),
                    speaker=spk[utt]).save(feature_path(args.output, utt))
        rows.append({"utt_id": utt, "speaker": spk[utt], "path": str(path), "frames": f.frames,
                     "seconds": f.frames * f.frame_period / 1000})
    write_manifest(args.output, rows)
    write_featdir_analysis(args.output, tm.cfg.analysis)  # so resynth/evaluate accept the folder
    log.info("%d reconstructions -> %s", len(rows), args.output)
    return 0


def resynth_add(p):
    p.add_argument("features", nargs="+", metavar="FEATURES", help="feature folders or .npz feature files")
    p.add_argument("-o", "--output", required=True, metavar="WAVDIR", help="folder for the wav files")
    _model_args(p, required=False)
    _reconstruction_args(p)


def resynth_run(args) -> int:
    from .audio import write_wav
    from .featdir import utt_file, utterance_speakers
    from .console import progress_bar
    from .features import Features, check_compatible, synthesize
    from .reconstruct import load_model, reconstruct

    tm = load_model(args.model, args.device) if args.model else None
    files = _feature_files(args.features, args.list)
    spk = {}
    if tm is not None and tm.conditioned:  # each utterance through its own speaker's code
        spk = {u: s for item in args.features if Path(item).is_dir() for u, s in utterance_speakers(item).items()}
    for utt, path, acfg in progress_bar(files, desc="resynth", unit="utt"):
        f = Features.load(path)
        if acfg is not None:  # a file must match the analysis settings recorded for its folder
            check_compatible(f, acfg, str(path))
        if tm is not None:
            f = reconstruct(tm, f, sample=args.sample, postfilter=args.gv_postfilter, what=str(path),
                            speaker=spk.get(utt))
        write_wav(utt_file(args.output, utt, ".wav"), synthesize(f), f.fs)
    log.info("%d wav files (16-bit PCM) -> %s", len(files), args.output)
    return 0


def evaluate_add(p):
    _model_args(p)
    _reconstruction_args(p)
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    p.add_argument("-o", "--output", required=True, metavar="JSON", help="metrics file to write")
    p.add_argument("--nll-samples", type=int, default=0, metavar="K",
                   help="also estimate the held-out negative log-likelihood with K importance samples (0: skip)")
    p.add_argument("--quality", action="store_true",
                   help="also PESQ-WB, STOI (against the original recording) and DNSMOS of the resynthesis beside "
                        "WORLD copy synthesis and the recording (needs speechvae[quality]; ~5 s per utterance)")


def evaluate_run(args) -> int:
    from .featdir import select_utts
    from .reconstruct import load_model
    from .report import evaluate
    from .store import write_json

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
        log.info("speaker leakage: a linear classifier on z names the speaker of %.0f%% of these frames (chance %.0f%%)",
                 100 * lk["speaker_accuracy"], 100 * lk["chance"])
    return 0


def plot_add(p):
    _model_args(p)
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
    from .featdir import select_utts
    from .reconstruct import load_model
    from .report import write_plots

    from .latent_views import write_views

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


# --- encode / decode ---------------------------------------------------------------------------
def encode_add(p):
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    _model_args(p)
    p.add_argument("-o", "--output", required=True, metavar="CODEDIR",
                   help="code folder: code.json, codes/<utt>.npz (VQ: code indices; VAE: latent means)")
    p.add_argument("--list", help="only these utterance ids (first field of each line)")


def encode_run(args) -> int:
    from .codes import encode_folder
    from .featdir import select_utts
    from .reconstruct import load_model

    tm = load_model(args.model, args.device)
    info = encode_folder(tm, args.featdir, select_utts(args.featdir, args.list), args.output)
    rate = (f"{info['bits_per_frame']:g} bits/frame ({info['kbit_per_s']:.2f} kbit/s)" if info["kind"] == "vq"
            else f"{info['latent']} float32 latent means per {info['stride']} frame(s)")
    log.info("%d utterances, %d frames: %s, %d bytes of envelope code -> %s", info["utterances"], info["frames"],
             rate, info["code_bytes"], args.output)
    return 0


def decode_add(p):
    p.add_argument("codedir", metavar="CODEDIR", help="code folder written by `speechvae encode`")
    _model_args(p)
    p.add_argument("-o", "--output", required=True, metavar="FEATDIR",
                   help="feature folder of the decoded mel-cepstra (resynth and evaluate take it)")
    _postfilter_args(p, "decoded frames", "the training set's (with --to: that speaker's)")
    p.add_argument("--to", metavar="SPEAKER", help="speaker-conditioned model: decode every code as this speaker "
                   "(log-F0 moved to its statistics); default: each utterance's own speaker")


def decode_run(args) -> int:
    from .codes import decode_folder
    from .reconstruct import load_model

    n = decode_folder(_postfiltered(load_model(args.model, args.device), args), args.codedir, args.output,
                      speaker=args.to)
    log.info("%d utterances decoded -> %s", n, args.output)
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


def _ints(flag: str, text: str) -> list[int]:
    try:
        return [int(d) for d in text.split(",") if d.strip()]
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected comma-separated integers, e.g. 4,8,16") from None


def baseline_run(args) -> int:
    from .baselines import pca_table_name, run_pca, run_vq
    from .featdir import select_utts

    train, ev = select_utts(args.featdir, args.train_list), select_utts(args.featdir, args.list)
    if args.kind == "vc":
        from .conversion import run_references

        if not (args.src and args.tgt):
            raise ValueError("baseline vc needs --src SPEAKER and --tgt SPEAKER")
        run_references(args.featdir, args.output, args.src, args.tgt, train_ids=train,
                       eval_ids=ev if args.list else None)
        log.info("-> %s/vc.csv", args.output)
        return 0
    if args.kind == "vq":
        rows = run_vq(args.featdir, args.output, args.vq.split(","), _ints("--bits", args.bits), args.codebooks, train, ev)
        for r in rows:
            log.info("%s k-means VQ, %d bits/frame (%d x %d entries): MCD %.2f dB, GV ratio %.3f%s", r["kind"],
                     r["bits_per_frame"], r["codebooks"], r["entries"], r["mcd_db"], r["gv_ratio"],
                     "" if r["held_out"] else " (TRAINING utterances)")
        log.info("-> %s/vq.csv", args.output)
        return 0
    rows = run_pca(args.featdir, args.output, _ints("--dims", args.dims), train, ev, args.stack)
    per = "" if args.stack == 1 else f" per {args.stack} frames"
    for r in rows:
        log.info("PCA-%d%s: MCD %.2f dB, GV ratio %.3f, %.0f%% of frames above 2 dB%s", r["components"], per,
                 r["mcd_db"], r["gv_ratio"], 100 * r["share_over_2db"],
                 "" if r["held_out"] else " (TRAINING utterances)")
    log.info("-> %s/%s", args.output, pca_table_name(args.stack))
    return 0


# --- voice conversion ----------------------------------------------------------------------------
def convert_add(p):
    _model_args(p)
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder of the source utterances (`speechvae analyze`)")
    p.add_argument("--to", required=True, metavar="SPEAKER", help="target speaker (one of the model's speakers)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder for the converted features (feats/), wavs (wav/) and convert.json")
    p.add_argument("--list", help="only these utterance ids (first field of each line)")
    p.add_argument("--no-wav", action="store_true", help="write the converted features only")
    _postfilter_args(p, "converted frames", "the target speaker's")


def _postfilter_args(p, what: str, whose: str) -> None:
    p.add_argument("--gv-postfilter", action=argparse.BooleanOptionalAction, default=None,
                   help=f"GV post-filter on the {what}, toward {whose} GV (default: the model's postfilter.gv)")
    p.add_argument("--gv-weight", type=float, metavar="W",
                   help="how far toward that GV, in log variance: 1 all the way, 0.5 half way (postfilter.gv_weight; "
                        "default: the model's)")
    p.add_argument("--gv-high-from", type=int, metavar="K",
                   help="from cK up, go --gv-weight-high of the way instead (postfilter.gv_high_from; 0: one weight "
                        "for all; default: the model's)")
    p.add_argument("--gv-weight-high", type=float, metavar="W",
                   help="the GV weight from cK up (postfilter.gv_weight_high; default: the model's)")
    p.add_argument("--ms-postfilter", action=argparse.BooleanOptionalAction, default=None,
                   help=f"modulation-spectrum post-filter on the {what}, toward {whose} (applied before the GV one; "
                        "default: the model's postfilter.ms)")
    p.add_argument("--ms-weight", type=float, metavar="W",
                   help="how far toward that modulation spectrum, in log power: 1 all the way, 0.5 half way "
                        "(postfilter.ms_weight; default: the model's)")


def _postfiltered(tm, args):
    """The model with the post-filter flags of :func:`_postfilter_args` over its config."""
    from .reconstruct import with_postfilter

    return with_postfilter(tm, args.gv_postfilter, args.gv_weight, ms=args.ms_postfilter, ms_weight=args.ms_weight,
                           high_from=args.gv_high_from, weight_high=args.gv_weight_high)


def convert_run(args) -> int:
    from .conversion import convert_folder
    from .featdir import select_utts
    from .reconstruct import load_model

    tm = _postfiltered(load_model(args.model, args.device), args)
    info = convert_folder(tm, args.featdir, select_utts(args.featdir, args.list), args.to, args.output,
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


def evaluate_vc_run(args) -> int:
    from .conversion import conversion_figure, evaluate_conversion

    fig = conversion_figure(args.converted, args.target, args.utt) if args.figure else None  # a bad --utt: refused first
    m = evaluate_conversion(args.converted, args.target, outdir=args.output, quality=args.quality,
                            progress=not args.quiet)
    if fig is not None:
        from .plots import save_figure
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
    from .vc_matrix import direction_table, matrix_markdown, write_matrix

    s = write_matrix(args.jsons, args.output)
    print(direction_table(s))
    print()
    print(matrix_markdown(s))
    log.info("%d speakers, %d directions -> %s/{matrix.md,matrix.png,index.html}", len(s["speakers"]),
             len({(r["source"], r["target"]) for r in s["directions"]}), args.output)
    return 0


# --- report ------------------------------------------------------------------------------------
def report_add(p):
    p.add_argument("expdir", metavar="EXPDIR", help="experiment folder of `speechvae train`, or a conversion folder "
                                                   "of `speechvae convert` (then FEATDIR holds the target's recordings)")
    p.add_argument("featdir", nargs="?", metavar="FEATDIR",
                   help="feature folder (default: the one the experiment was trained on, from EXPDIR/data.json; "
                        "for a conversion folder: the target speaker's feature folder, required)")
    p.add_argument("--metrics", metavar="JSON",
                   help="conversion folder: the `evaluate-vc [--quality]` JSON to show (default: computed for the page)")
    p.add_argument("-o", "--output", required=True, metavar="REPORTDIR", help="folder for index.html and its files")
    p.add_argument("--list", help="utterances to show (default: those of EXPDIR/metrics.json, else the held-out ones)")
    p.add_argument("--compare", nargs="+", default=[], metavar="EXPDIR",
                   help="more experiments, evaluated on the same utterances: one table row each")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present, else CPU")


def report_run(args) -> int:
    from .conversion_page import build_conversion_page, is_conversion_folder
    from .listening import build_report

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


COMMANDS = {
    "lists": (lists_add, lists_run, "fixed train/dev/eval split by sorted utterance id -> list files"),
    "analyze": (analyze_add, analyze_run, "WORLD analysis -> mel-cepstra, stats, F0 histograms"),
    "stats": (stats_add, stats_run, "normalisation statistics over a subset of a feature folder"),
    "train": (train_add, train_run, "train the VAE on a feature folder"),
    "reconstruct": (reconstruct_add, reconstruct_run, "features -> VAE reconstructions (feature files)"),
    "resynth": (resynth_add, resynth_run, "features (optionally through the VAE) -> WORLD -> wav"),
    "evaluate": (evaluate_add, evaluate_run, "MCD and GV ratio of VAE reconstructions"),
    "plot": (plot_add, plot_run, "scatter, trajectory, loss, posterior, dead-unit and latent plots"),
    "encode": (encode_add, encode_run, "features -> code files (VQ code indices or latent means)"),
    "decode": (decode_add, decode_run, "code files -> feature folder (for resynth / evaluate)"),
    "baseline": (baseline_add, baseline_run, "reference codes scored like the models (PCA-k)"),
    "report": (report_add, report_run, "a listening page (index.html): audio, spectrograms, metrics, plots"),
    "convert": (convert_add, convert_run, "voice conversion through a speaker-conditioned model -> features, wavs"),
    "evaluate-vc": (evaluate_vc_add, evaluate_vc_run,
                    "DTW MCD and F0 RMSE of converted speech vs the target's recordings, beside the references"),
    "matrix": (matrix_add, matrix_run, "every source -> target direction of evaluate-vc: tables and heat maps"),
}


def _register_extra():
    from .rd import rd_add, rd_run
    from .sweep import sweep_add, sweep_run

    COMMANDS["sweep"] = (sweep_add, sweep_run, "grid of short training runs over config keys, with heatmaps")
    COMMANDS["rd"] = (rd_add, rd_run, "rate-distortion: a grid of models beside PCA-k on held-out utterances")


class Interrupted(Exception):
    """Ctrl-C, with what was kept and how to continue."""


EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def build_parser() -> argparse.ArgumentParser:
    _register_extra()
    doc = __doc__.split("\n\n")
    parser = argparse.ArgumentParser(prog="speechvae", description=doc[0], epilog="\n\n".join(doc[1:]),
                                     formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"speechvae {__version__}")
    common = argparse.ArgumentParser(add_help=False)  # accepted before or after the command
    for p in (parser, common):
        p.add_argument("-q", "--quiet", action="store_true", default=p is parser or argparse.SUPPRESS,
                       help="warnings and errors only, no progress bars")
        p.add_argument("--debug", action="store_true", default=p is parser or argparse.SUPPRESS,
                       help="show the Python traceback of an error")
    parser.set_defaults(quiet=False, debug=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add, run, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_, formatter_class=_HelpFormatter, parents=[common])
        add(p)
        p.set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .console import setup_logging

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    setup_logging(args.quiet)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        log.error("interrupted; files already finished are kept, re-run the same command to go on")
        return EXIT_INTERRUPTED
    except Interrupted as e:
        log.error("interrupted; %s", e)
        return EXIT_INTERRUPTED
    # Every refusal of speechvae's own is a ValueError (bad input, config, folder, checkpoint) or a
    # RuntimeError (diverged training, missing CUDA); OSError is a file the system would not give us.
    except (ValueError, RuntimeError, OSError) as e:
        if args.debug:
            raise
        msg = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename else str(e)
        log.error("%s", msg)
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
