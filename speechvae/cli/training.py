"""``speechvae train``."""
from __future__ import annotations

import logging
import shlex

from speechvae.cli.common import Command, Interrupted, add_config_args, load_config_args

log = logging.getLogger("speechvae")


# --- train -------------------------------------------------------------------------------------
def train_add(p):
    p.add_argument("featdir", metavar="FEATDIR", help="feature folder written by `speechvae analyze`")
    p.add_argument("-o", "--output", required=True, metavar="EXPDIR", help="experiment folder to write")
    add_config_args(p)
    p.add_argument("--stats", metavar="NPZ",
                   help="normalisation stats (`speechvae stats`); default: computed over the training utterances")
    p.add_argument("--train-list", help="training utterance ids (default: all but the held-out ones)")
    p.add_argument("--valid-list", help="held-out utterance ids (default: the last train.valid_fraction of sorted ids)")
    p.add_argument("--epochs", type=int, help="train.epochs (default 15)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="train.threads: CPU threads (default 1; 0: the cores not busy with other work at the start)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"],
                   help="train.device (default auto: CUDA when present, else CPU)")
    resume = p.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true", help="continue EXPDIR/checkpoint.pt (same config)")
    resume.add_argument("--overwrite", action="store_true", help="replace a model already in EXPDIR")


def train_run(args) -> int:
    from speechvae.training.loop import fit

    extra = [f"train.{k}={v}" for k, v in (("epochs", args.epochs), ("device", args.device),
                                                       ("threads", args.threads)) if v is not None]
    cfg = load_config_args(args, extra)
    try:
        hist = fit(args.featdir, args.output, cfg, stats_path=args.stats, resume=args.resume,
                   overwrite=args.overwrite, valid_list=args.valid_list, train_list=args.train_list)
    except KeyboardInterrupt:
        raise Interrupted(_train_interrupt_hint(args)) from None
    if hist:
        last = hist[-1]
        log.info("epoch %d: valid loss %.3f (recon %.3f, KL %.3f nats/frame), held-out MCD %.2f dB -> %s",
                 last["epoch"], last["valid_loss"], last["valid_recon"], last["valid_kl"], last["valid_mcd_db"],
                 args.output)
    return 0


def _train_interrupt_hint(args) -> str:
    from speechvae.models.checkpoint import CheckpointError, load_checkpoint

    try:
        done = f"the checkpoint of epoch {load_checkpoint(args.output).epoch} is kept"
    except CheckpointError:
        return "no epoch finished, nothing was kept"
    argv = " ".join(shlex.quote(a) for a in args.argv if a not in ("--overwrite", "--resume"))
    return f"{done}; continue with: speechvae {argv} --resume"


COMMANDS = [
    Command("train", "train the VAE on a feature folder", train_add, train_run),
]
