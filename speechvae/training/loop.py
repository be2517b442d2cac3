"""Training: data split, the epoch loop, monitors, checkpoints and resume.

All frames of a split live in one tensor on the device and batches are index slices of it,
so a step is a gather plus the network, with no per-batch numpy conversion. Training sets larger than
``train.max_memory_mb`` are packed once into a frame store and streamed block by block (:mod:`.framestore`). Shuffling
and the reparameterisation noise of epoch e come from a generator seeded with (seed, e), so a resumed
run replays exactly the epochs an uninterrupted one would have.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from speechvae.analysis.featdir import feature_path, read_featdir_analysis, speakers, stats_for
from speechvae.analysis.features import Features, resolve_analysis
from speechvae.analysis.stats import Stats
from speechvae.config import Config, config_diff, load_config, save_config
from speechvae.console import progress_bar
from speechvae.device import cpu_threads, resolve_device, usable_cores
from speechvae.expdir import CHECKPOINT_NAME, CONFIG_YAML, DATA_JSON, LOG_CSV, ExperimentError
from speechvae.models import build, count_parameters, init_weights
from speechvae.models.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from speechvae.models.side import SideQuantizers, block_streams
from speechvae.store import remove_stale_tmp, write_csv, write_json
from speechvae.training.data import choose_split, prepare_data, realigned_pairs
from speechvae.training.steps import evaluate_epoch, train_epoch

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def beta_at(cfg: Config, epoch: int) -> float:
    """KL weight of (1-based) ``epoch``: linear warm-up from 0 to loss.beta over beta_warmup_epochs."""
    w = cfg.loss.beta_warmup_epochs
    return cfg.loss.beta * (min(1.0, epoch / w) if w > 0 else 1.0)


def lr_at(cfg: Config, epoch: int) -> float:
    """Learning rate of (1-based) ``epoch``: ``train.lr``, or with the cosine schedule half a cosine from
    ``lr`` at epoch 1 to ``lr / 100`` at the last epoch (a function of the epoch alone, so a resumed
    run follows the same schedule)."""
    lr, n = cfg.train.lr, cfg.train.epochs
    if cfg.train.lr_schedule == "constant" or n == 1:
        return lr
    floor = lr / 100
    return floor + (lr - floor) * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / (n - 1)))


def build_model(cfg: Config, dim: int, device: torch.device) -> torch.nn.Module:
    model = build(cfg, dim)
    init_weights(model, cfg.init, generator=torch.Generator().manual_seed(cfg.train.seed))
    return model.to(device)


def make_optimizer(model: torch.nn.Module, cfg: Config) -> torch.optim.Adam:
    """Adam; the fused kernel where this torch has it (about 1.3x faster steps on CPU at batch 128)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=cfg.train.lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch or a device without fused Adam
        return torch.optim.Adam(model.parameters(), lr=cfg.train.lr)


def write_log_csv(path: Path, history: list[dict]) -> None:
    write_csv(path, [{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()} for r in history])


def mean_dead_fraction(row: dict) -> float:
    """Mean over hidden layers of the dead-unit fraction in one log row."""
    return float(np.mean([v for k, v in row.items() if k.startswith("dead_")]))


def read_log_csv(path: str | Path) -> list[dict]:
    with open(path) as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def resume_conflicts(old: Config, new: Config) -> list[str]:
    """Settings that differ between a checkpoint's config and this run's, other than train.epochs,
    train.patience, train.device and train.threads (when to stop and where to run: what a resumed run may change)."""
    norm = lambda c: dataclasses.replace(c, train=dataclasses.replace(c.train, epochs=0, patience=0, device="auto",
                                                                      threads=1))
    if not new.model.speakers:  # training fills in a conditioned model's speakers: a resume need not repeat them
        new = dataclasses.replace(new, model=dataclasses.replace(new.model, speakers=old.model.speakers))
    return config_diff(norm(old), norm(new))


def fit(featdir: str | Path, expdir: str | Path, cfg: Config | None = None, *, stats_path: str | Path | None = None,
        resume: bool = False, overwrite: bool = False, valid_list: str | Path | None = None,
        train_list: str | Path | None = None, progress: bool = True) -> list[dict]:
    """Train a VAE on ``featdir`` into ``expdir`` (checkpoint.pt, log.csv, config.yaml); ``cfg`` None: the
    built-in defaults (:func:`speechvae.config.load_config`).

    ``stats_path=None`` computes the normalisation statistics over the training utterances only (never
    the held-out ones). An ``expdir`` that already holds a checkpoint is refused unless ``resume``
    (continue it, same config) or ``overwrite`` (start again); ``resume`` without a checkpoint is refused.

    Returns the per-epoch history (the rows of log.csv).
    Raises TrainingDiverged if the loss becomes non-finite; the last good checkpoint stays.
    """
    cfg = load_config() if cfg is None else cfg
    featdir, expdir = Path(featdir), Path(expdir)
    # The model's analysis settings are those its features were made with (stored beside them),
    # so resynthesis through the checkpoint uses the right fs / alpha / FFT size.
    feat_analysis = read_featdir_analysis(featdir)
    if feat_analysis != resolve_analysis(cfg.analysis):
        log.info("analysis settings taken from %s/analysis.yaml (fs %d Hz)", featdir, feat_analysis.fs)
    cfg = dataclasses.replace(cfg, analysis=feat_analysis)
    device = resolve_device(cfg.train.device)
    threads = cpu_threads(cfg.train.threads)
    torch.set_num_threads(threads)
    log.info("CPU threads: %d (train.threads %s, %d usable cores)", threads,
             cfg.train.threads or "auto: the free cores", usable_cores())
    ckpt_file = expdir / CHECKPOINT_NAME
    ck = _check_expdir(ckpt_file, cfg, resume, overwrite)
    expdir.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(expdir)  # half-written files of a killed run
    torch.manual_seed(cfg.train.seed)
    history: list[dict] = []
    start_epoch = 1
    tr, va = choose_split(featdir, cfg, valid_list, train_list)
    speaker_stats: dict[str, Stats] = {}
    if cfg.model.conditioning != "none":
        cfg, speaker_stats = _speaker_setup(featdir, cfg, tr, ck)
    if ck is not None:
        stats = ck.stats
    elif stats_path is not None:
        stats = Stats.load(stats_path)
    else:
        stats = stats_for(featdir, tr)
        log.info("normalisation stats over the %d training utterances (%d frames)", stats.utterances, stats.frames)
    # a run that re-aligned before it stopped continues on the same pairs (its checkpoint keeps them)
    data = prepare_data(featdir, cfg, stats, device, tr, va, expdir, speaker_stats,
                        ck.parallel_pairs if ck is not None else None)
    model = build_model(cfg, data.train.shape[1], device)
    opt = make_optimizer(model, cfg)
    if ck is not None:
        model.load_state_dict(ck.model_state)
        opt.load_state_dict(ck.optimizer_state)
        history, start_epoch = ck.history, ck.epoch + 1
        log.info("resuming %s at epoch %d", ckpt_file, start_epoch)
    save_config(cfg, expdir / CONFIG_YAML)
    write_json(expdir / DATA_JSON, {"featdir": str(featdir.resolve()), "train_utts": tr, "valid_utts": va})
    log.info("VAE %d parameters, %d train / %d valid frames on %s; init %s x%g, beta %g, decoder variance %s",
             count_parameters(model), len(data.train), len(data.valid), device, cfg.init.scheme, cfg.init.scale,
             cfg.loss.beta, cfg.loss.decoder_variance)
    if model.vq is not None:
        log.info("VQ-VAE: %s quantiser, %d codebooks x %d entries = %g bits per latent vector (%g bits/frame)",
                 cfg.model.quantizer, cfg.model.codebooks, cfg.model.codebook_size, model.vq.bits,
                 model.bits_per_frame)
    side = ck.side_quantizers if ck is not None else None
    if side is None and cfg.model.quantizer == "residual":
        side = fit_side_quantizers(featdir, tr, cfg.model.stride)
    best = (ck.best_epoch, ck.best_state) if ck is not None and ck.best_state is not None else None
    elapsed0 = history[-1]["elapsed_s"] if history else 0.0
    t0 = time.perf_counter()
    bar = progress_bar(range(start_epoch, cfg.train.epochs + 1), desc="train", unit="epoch", enabled=progress)
    for epoch in bar:
        if stopped_early(history, cfg):  # a resumed run that had already stopped
            break
        beta = beta_at(cfg, epoch)
        row = {"epoch": epoch, "elapsed_s": 0.0, "beta": beta}
        realign = cfg.loss.parallel_realign
        if data.pairs is not None and realign and epoch > 1 and (epoch - 1) % realign == 0:
            data.pairs = realigned_pairs(model, featdir, tr, stats, cfg, speaker_stats, device)
        if cfg.train.lr_schedule != "constant":
            row["lr"] = lr_at(cfg, epoch)
            for group in opt.param_groups:
                group["lr"] = row["lr"]
        row.update(train_epoch(model, opt, data.train, cfg, epoch, beta, data.train_spk, data.train_pros, data.f0map,
                               data.pairs))
        row.update(evaluate_epoch(model, data, cfg, beta))
        row["elapsed_s"] = elapsed0 + time.perf_counter() - t0
        if not all(math.isfinite(v) for v in row.values()):
            kept = (f"The last good checkpoint ({ckpt_file}, epoch {epoch - 1}) is kept." if epoch > 1
                    else "No checkpoint was written.")
            raise TrainingDiverged(
                f"epoch {epoch}: loss became non-finite (train {row['train_loss']}, valid {row['valid_loss']}); "
                f"try a smaller init.scale (now {cfg.init.scale}) or train.lr (now {cfg.train.lr}). {kept}")
        history.append(row)
        if cfg.train.keep_best and best_epoch(history)[0] == epoch:
            best = (epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
        save_checkpoint(ckpt_file, model=model, optimizer=opt, epoch=epoch, cfg=cfg, stats=stats, history=history,
                        train_utts=tr, speaker_stats=speaker_stats, best=best,
                        pairs=data.pairs if cfg.loss.parallel_realign else None, side=side)
        write_log_csv(expdir / LOG_CSV, history)
        bar.set_postfix(refresh=False, loss=f"{row['valid_loss']:.2f}", rec=f"{row['valid_recon']:.2f}",
                        kl=f"{row['valid_kl']:.2f}",
                        mcd=f"{row['valid_mcd_db']:.2f}",
                        dead=f"{max(v for k, v in row.items() if k.startswith('dead')):.2f}")
        if stopped_early(history, cfg):
            at, mcd = best_epoch(history)
            log.info("early stop after epoch %d: the held-out MCD has not gone below %.3f dB (epoch %d) for %d epochs",
                     epoch, mcd, at, cfg.train.patience)
            break
    if best is not None:
        log.info("the checkpoint's model is epoch %d's (held-out MCD %.3f dB, train.keep_best)", *best_epoch(history))
    return history


def fit_side_quantizers(featdir: Path, utts: list[str], stride: int) -> dict[str, np.ndarray]:
    """The codec's side-stream quantisers (log-F0 and voicing, c0, band aperiodicity per ``stride`` frames) fitted
    on the training utterances ``utts``: the tables the checkpoint keeps
    (:class:`speechvae.models.side.SideQuantizers`)."""
    blocks = []
    for u in utts:
        f = Features.load(feature_path(featdir, u))
        blocks.append(block_streams(f.f0, f.mcep[:, 0], f.bap, stride))
    side = SideQuantizers.fit(blocks)
    log.info("codec side quantisers fitted on %d training utterances (%d blocks of %d frames)", len(utts),
             sum(len(b["c0"]) for b in blocks), stride)
    return side.to_arrays()


def best_epoch(history: list[dict]) -> tuple[int, float]:
    """(epoch, dB) of the lowest held-out MCD (``valid_mcd_db``) in a training history; the first on ties."""
    row = min(history, key=lambda r: r["valid_mcd_db"])
    return int(row["epoch"]), float(row["valid_mcd_db"])


def stopped_early(history: list[dict], cfg: Config) -> bool:
    """Whether ``train.patience`` epochs in a row have not lowered the held-out MCD (never when patience is 0)."""
    if cfg.train.patience <= 0 or not history:
        return False
    return history[-1]["epoch"] - best_epoch(history)[0] >= cfg.train.patience


def finished(ck: Checkpoint, cfg: Config) -> bool:
    """Whether a checkpoint's training under ``cfg`` is over: all ``train.epochs`` run, or stopped early."""
    return ck.epoch == cfg.train.epochs or stopped_early(ck.history, cfg)


def _speaker_setup(featdir: Path, cfg: Config, tr: list[str], ck: Checkpoint | None) -> tuple[Config, dict[str, Stats]]:
    """A speaker-conditioned run: ``model.speakers`` (when not given: the training utterances' speakers, sorted)
    and each speaker's statistics over its training utterances (log-F0 mapping and references at conversion)."""
    by_spk = speakers(featdir, tr)
    names = cfg.model.speakers or tuple(sorted(by_spk))
    missing = sorted(set(by_spk) - set(names))
    if missing:
        raise ExperimentError(f"training speaker(s) {', '.join(missing)} not in model.speakers ({', '.join(names)})")
    if len(names) < 2 and cfg.loss.cycle > 0:
        raise ExperimentError(
            f"loss.cycle converts to another speaker: it needs two or more, the model has {', '.join(names)}"
        )
    if len(names) < 2:
        log.warning("model.conditioning=%s with one speaker (%s): the speaker code carries nothing",
                    cfg.model.conditioning, ", ".join(names))
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, speakers=tuple(names)))
    if ck is not None:
        return cfg, ck.speaker_stats
    return cfg, {s: stats_for(featdir, ids) for s, ids in sorted(by_spk.items())}


def _check_expdir(ckpt_file: Path, cfg: Config, resume: bool, overwrite: bool) -> Checkpoint | None:
    """The checkpoint to resume from, or None for a fresh run; refuses what would lose a model."""
    exists = ckpt_file.exists()
    if resume and overwrite:
        raise ExperimentError("--resume and --overwrite exclude each other")
    if resume and not exists:
        raise ExperimentError(f"{ckpt_file.parent}: no {CHECKPOINT_NAME} to resume; drop --resume to start a new run")
    if exists and not resume:
        if not overwrite:
            try:
                what = f"a model trained for {load_checkpoint(ckpt_file).epoch} epoch(s)"
            except CheckpointError:
                what = f"an unreadable {CHECKPOINT_NAME}"
            raise ExperimentError(f"{ckpt_file.parent} already holds {what}: --resume continues it, --overwrite "
                                  "replaces it, or choose another -o EXPDIR")
        log.warning("%s: replacing the existing model (--overwrite)", ckpt_file)
        return None
    if not resume:
        return None
    ck = load_checkpoint(ckpt_file)
    diff = resume_conflicts(ck.cfg, cfg)
    if diff:
        raise CheckpointError(f"{ckpt_file}: cannot resume with other settings ({'; '.join(diff)}); only "
                              "train.epochs, train.patience and train.device may change "
                              "(or --overwrite to start again)")
    return ck
