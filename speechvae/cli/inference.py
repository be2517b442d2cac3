"""``speechvae reconstruct``, ``resynth``, ``encode``, ``decode``: a trained model used on feature folders."""
from __future__ import annotations

import logging
from pathlib import Path

from speechvae.cli.common import (
    Command,
    add_model_args,
    add_postfilter_args,
    add_reconstruction_args,
    feature_files,
    postfiltered,
)

log = logging.getLogger("speechvae")


def reconstruct_add(p):
    add_model_args(p)
    add_reconstruction_args(p)
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="feature folder for the reconstructions (resynth and evaluate take it)")


def reconstruct_run(args) -> int:
    from speechvae.analysis.featdir import feature_path, utterance_speakers, write_featdir_analysis, write_manifest
    from speechvae.analysis.features import Features
    from speechvae.inference.model import load_model, reconstruct

    tm = load_model(args.model, args.device)
    spk = utterance_speakers(args.featdir)  # a speaker-conditioned model rebuilds each voice as itself
    rows = []
    for utt, path, _ in feature_files([args.featdir], args.list):
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
    add_model_args(p, required=False)
    add_reconstruction_args(p)


def resynth_run(args) -> int:
    from speechvae.analysis.audio import write_wav
    from speechvae.analysis.featdir import utt_file, utterance_speakers
    from speechvae.analysis.features import Features, check_compatible, vocode
    from speechvae.console import progress_bar
    from speechvae.inference.model import load_model, reconstruct

    tm = load_model(args.model, args.device) if args.model else None
    files = feature_files(args.features, args.list)
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
        write_wav(utt_file(args.output, utt, ".wav"), vocode(f), f.fs)
    log.info("%d wav files (16-bit PCM) -> %s", len(files), args.output)
    return 0


# --- encode / decode ---------------------------------------------------------------------------
def encode_add(p):
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    add_model_args(p)
    p.add_argument("-o", "--output", required=True, metavar="CODEDIR",
                   help="code folder: code.json, codes/<utt>.npz (VQ: code indices; VAE: latent means)")
    p.add_argument("--list", help="only these utterance ids (first field of each line)")


def encode_run(args) -> int:
    from speechvae.analysis.featdir import select_utts
    from speechvae.inference.codes import encode_folder
    from speechvae.inference.model import load_model

    tm = load_model(args.model, args.device)
    info = encode_folder(tm, args.featdir, select_utts(args.featdir, args.list), args.output)
    rate = (f"{info['bits_per_frame']:g} bits/frame ({info['kbit_per_s']:.2f} kbit/s)" if info["kind"] == "vq"
            else f"{info['latent']} float32 latent means per {info['stride']} frame(s)")
    log.info("%d utterances, %d frames: %s, %d bytes of envelope code -> %s", info["utterances"], info["frames"],
             rate, info["code_bytes"], args.output)
    return 0


def decode_add(p):
    p.add_argument("codedir", metavar="CODEDIR", help="code folder written by `speechvae encode`")
    add_model_args(p)
    p.add_argument("-o", "--output", required=True, metavar="FEATDIR",
                   help="feature folder of the decoded mel-cepstra (resynth and evaluate take it)")
    add_postfilter_args(p, "decoded frames", "the training set's (with --to: that speaker's)")
    p.add_argument("--to", metavar="SPEAKER", help="speaker-conditioned model: decode every code as this speaker "
                   "(log-F0 moved to its statistics); default: each utterance's own speaker")


def decode_run(args) -> int:
    from speechvae.inference.codes import decode_folder
    from speechvae.inference.model import load_model

    n = decode_folder(postfiltered(load_model(args.model, args.device), args), args.codedir, args.output,
                      speaker=args.to)
    log.info("%d utterances decoded -> %s", n, args.output)
    return 0


COMMANDS = [
    Command("reconstruct", "features -> VAE reconstructions (feature files)",
            reconstruct_add, reconstruct_run),
    Command("resynth", "features (optionally through the VAE) -> WORLD -> wav",
            resynth_add, resynth_run),
    Command("encode", "features -> code files (VQ code indices or latent means)",
            encode_add, encode_run),
    Command("decode", "code files -> feature folder (for resynth / evaluate)",
            decode_add, decode_run),
]
