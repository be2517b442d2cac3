"""Training: data split, the epoch loop, monitors, checkpoints and resume.

All frames of a split live in one tensor on the device and batches are index slices of it,
so a step is a gather plus the network, with no per-batch numpy conversion. Training sets larger than
``train.max_memory_mb`` are packed once into a frame store and streamed block by block (:mod:`.framestore`). Shuffling and the
reparameterisation noise of epoch e come from a generator seeded with (seed, e), so a resumed
run replays exactly the epochs an uninterrupted one would have.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CHECKPOINT_NAME, Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .config import Config, config_diff, save_config
from .corpus import stats_for
from .featdir import feature_path, read_featdir_analysis, read_manifest, select_utts, speakers
from .features import Features, check_compatible, resolve_analysis
from . import fused_step
from .framestore import FrameStore, pack
from .models import (build, count_parameters, cycle_terms, decode_means, init_weights, loss_terms, mean_decode_error,
                     objective, parallel_term, variance_term)
from .console import progress_bar
from .prosody import SpeakerF0Map, prosody_inputs
from .stats import Stats
from .store import remove_stale_tmp, write_csv, write_json

log = logging.getLogger(__name__)

LOG_CSV = "log.csv"
DATA_JSON = "data.json"  # where the experiment's frames came from: feature folder, train / valid ids
ACTIVE_KL_NATS = 0.01  # a latent dim is "active" when its mean KL exceeds this
_MCD_K = 10.0 / math.log(10.0)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class ExperimentError(ValueError):
    """An experiment folder that cannot be used as asked (would overwrite a model, nothing to resume)."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but no CUDA device is available")
    return torch.device(name)


def split_utts(ids: list[str], valid_fraction: float, valid_ids: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Utterance-level split. With ``valid_ids`` those are held out; otherwise the last
    ``ceil(valid_fraction * N)`` ids in sorted order. A single utterance (or fraction 0) is
    used for both, with a warning, since there is nothing to hold out."""
    ids = sorted(ids)
    if valid_ids is not None:
        held = set(valid_ids)
        return [u for u in ids if u not in held], sorted(held & set(ids))
    n_valid = math.ceil(valid_fraction * len(ids))
    if n_valid == 0 or n_valid >= len(ids):
        log.warning("no held-out utterances (N=%d, valid_fraction=%g): valid figures are on training data",
                    len(ids), valid_fraction)
        return ids, ids
    return ids[:-n_valid], ids[-n_valid:]


def load_frames(featdir: str | Path, utt_ids: list[str], stats: Stats, cfg: Config) -> np.ndarray:
    """Normalised c1..c39 frames of the given utterances, concatenated: ``(N, 39)`` float32."""
    out = []
    for u in utt_ids:
        f = Features.load(feature_path(featdir, u))
        check_compatible(f, cfg.analysis, str(feature_path(featdir, u)))
        # float32 per utterance: the float64 copy of the whole corpus never exists (same values as casting after)
        out.append(stats.normalize(f.mcep[:, 1:], cfg.model.scaling).astype(np.float32))
    return np.concatenate(out)


@dataclass
class Data:
    train: "torch.Tensor | FrameStore"  # (N_train, D) normalised frames on the device, or streamed from a file
    valid: torch.Tensor  # (N_valid, D)
    probe: torch.Tensor  # (P, D) fixed training frames for dead-unit counts
    std: torch.Tensor  # (D,) the normalisation divisor, to turn normalised errors back into mel-cepstra for MCD
    # speaker index of every frame of train / valid / probe (int64 on the device), for a speaker-conditioned model
    train_spk: torch.Tensor | None = None
    valid_spk: torch.Tensor | None = None
    probe_spk: torch.Tensor | None = None
    # prosody of every frame (N, 2) and the speakers' F0 map, for a decoder with model.prosody
    train_pros: torch.Tensor | None = None
    valid_pros: torch.Tensor | None = None
    probe_pros: torch.Tensor | None = None
    f0map: SpeakerF0Map | None = None
    # loss.parallel: (src, tgt) index tensors (P,) into train of DTW-aligned frame pairs (speechvae.pairs)
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None


def frame_prosody(featdir: str | Path, utt_ids: list[str], stats: Stats) -> np.ndarray:
    """``(N, 2)`` float32: :func:`speechvae.prosody.prosody_inputs` of every frame of ``utt_ids`` concatenated (the
    frame order of :func:`load_frames`)."""
    return np.concatenate([prosody_inputs(Features.load(feature_path(featdir, u)).f0, stats) for u in utt_ids])


def frame_speakers(featdir: str | Path, utt_ids: list[str], names: tuple[str, ...]) -> np.ndarray:
    """``(N,)`` int64: the index in ``names`` of the speaker of every frame of ``utt_ids`` concatenated (the
    frame order of :func:`load_frames` and the frame store). Refuses a speaker not in ``names``."""
    rows = {r["utt_id"]: r for r in read_manifest(featdir)}
    index = {s: i for i, s in enumerate(names)}
    unknown = sorted({rows[u]["speaker"] for u in utt_ids} - set(index))
    if unknown:
        raise ValueError(f"speaker(s) {', '.join(unknown)} not among the model's speakers ({', '.join(names)})")
    return np.concatenate([np.full(rows[u]["frames"], index[rows[u]["speaker"]], dtype=np.int64) for u in utt_ids])


def choose_split(featdir: str | Path, cfg: Config, valid_list: str | Path | None = None,
                 train_list: str | Path | None = None) -> tuple[list[str], list[str]]:
    """Training and held-out utterance ids from the list files, or by ``train.valid_fraction``."""
    ids = select_utts(featdir, train_list)
    valid_ids = select_utts(featdir, valid_list) if valid_list else None
    if train_list and valid_ids is not None:
        return ids, valid_ids
    return split_utts(ids, cfg.train.valid_fraction, valid_ids)


def prepare_data(featdir: str | Path, cfg: Config, stats: Stats, device: torch.device, tr: list[str],
                 va: list[str], expdir: str | Path | None = None,
                 speaker_stats: dict[str, Stats] | None = None,
                 pairs: tuple[torch.Tensor, torch.Tensor] | None = None) -> Data:
    """Normalised frames of the training (``tr``) and held-out (``va``) utterances on ``device``; training
    frames above ``train.max_memory_mb`` are packed into ``expdir/frames`` and streamed (:mod:`.framestore`).
    With ``model.prosody`` also every frame's prosody, and the F0 map between ``speaker_stats``' speakers. With
    ``loss.parallel`` the frame pairs: ``pairs`` when given (a resumed run's, from its checkpoint), else aligned."""
    log.info("train: %d utterances, valid: %d utterances", len(tr), len(va))
    frames = {r["utt_id"]: r["frames"] for r in read_manifest(featdir)}
    megabytes = sum(frames[u] for u in tr) * len(stats.mcep_mean) * 4 / 1e6
    if expdir is not None and megabytes > cfg.train.max_memory_mb:
        train = pack(featdir, tr, stats, cfg.model.scaling, Path(expdir) / "frames")
        log.info("%.0f MB of training frames > train.max_memory_mb %g: streamed in blocks of %d frames",
                 megabytes, cfg.train.max_memory_mb, cfg.train.block_frames)
    else:
        train = torch.from_numpy(load_frames(featdir, tr, stats, cfg)).to(device)
    valid = torch.from_numpy(load_frames(featdir, va, stats, cfg)).to(device)
    g = torch.Generator().manual_seed(cfg.train.seed)
    if cfg.model.kind == "mlp":  # frames from all over the training set
        if torch.is_tensor(train) or len(train) <= cfg.train.block_frames:
            pick = torch.randperm(len(train), generator=g)[: cfg.train.probe_frames]
        else:  # a permutation of a streamed corpus would cost 8 bytes per frame: draw the probe's frames alone
            pick = torch.randint(0, len(train), (cfg.train.probe_frames,), generator=g)
        probe = (train[pick.to(device)] if torch.is_tensor(train)
                 else torch.from_numpy(train.rows(pick.numpy())).to(device))  # same frames, file order
    else:  # a temporal model needs neighbouring frames: one contiguous block
        start = int(torch.randint(0, max(1, len(train) - cfg.train.probe_frames), (1,), generator=g))
        stop = min(len(train), start + cfg.train.probe_frames)
        probe = train[start:stop] if torch.is_tensor(train) else torch.from_numpy(train.read(start, stop)).to(device)
    std = torch.as_tensor(stats.scale(cfg.model.scaling), dtype=torch.float32, device=device)
    data = Data(train=train, valid=valid, probe=probe, std=std)
    if cfg.model.conditioning != "none":  # 8 bytes a frame beside 156 of features: kept in memory even when streamed
        spk = torch.from_numpy(frame_speakers(featdir, tr, cfg.model.speakers)).to(device)
        data.train_spk = spk
        data.valid_spk = torch.from_numpy(frame_speakers(featdir, va, cfg.model.speakers)).to(device)
        data.probe_spk = spk[pick.to(device)] if cfg.model.kind == "mlp" else spk[start:stop]
    if cfg.model.prosody:  # 8 bytes a frame, in memory like the speakers (the model is frame-wise: probe drawn)
        data.train_pros = torch.from_numpy(frame_prosody(featdir, tr, stats)).to(device)
        data.valid_pros = torch.from_numpy(frame_prosody(featdir, va, stats)).to(device)
        data.probe_pros = data.train_pros[pick.to(device)]
        if speaker_stats:
            data.f0map = SpeakerF0Map(stats, speaker_stats, cfg.model.speakers, device)
    if cfg.loss.parallel > 0:
        if not torch.is_tensor(train):
            raise ExperimentError(f"loss.parallel draws frame pairs from the whole training set, which is streamed here "
                                  f"({megabytes:.0f} MB > train.max_memory_mb {cfg.train.max_memory_mb:g}): raise "
                                  "train.max_memory_mb or train without loss.parallel")
        if pairs is None:
            from .pairs import aligned_pairs

            p = aligned_pairs(featdir, tr, speaker_stats)
            pairs = (torch.from_numpy(p.src), torch.from_numpy(p.tgt))
        data.pairs = (pairs[0].to(device), pairs[1].to(device))
    return data


@torch.no_grad()
def realigned_pairs(model: torch.nn.Module, featdir: str | Path, tr: list[str], stats: Stats, cfg: Config,
                    speaker_stats: dict[str, Stats], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """loss.parallel's frame pairs aligned again on ``model``'s conversions of each source reading (posterior mean
    decoded with the target's code and, with model.prosody, the source's F0 mapped to the target), as index tensors
    on ``device`` (loss.parallel_realign)."""
    from .pairs import aligned_pairs

    names = cfg.model.speakers
    f0map = SpeakerF0Map(stats, speaker_stats, names, device) if cfg.model.prosody else None

    def convert(f: Features, s: str, t: str) -> np.ndarray:
        x = torch.from_numpy(stats.normalize(f.mcep[:, 1:], cfg.model.scaling).astype(np.float32)).to(device)[None]
        si = torch.full(x.shape[:2], names.index(s), dtype=torch.long, device=device)
        ti = torch.full(x.shape[:2], names.index(t), dtype=torch.long, device=device)
        pros = None
        if f0map is not None:
            pros = f0map(torch.from_numpy(prosody_inputs(f.f0, stats)).to(device)[None], si, ti)
        out = model.decode(model.encode(x, None, si)[0], None, ti, pros)[0]
        return stats.denormalize(out[0].double().cpu().numpy(), cfg.model.scaling)

    was = model.training
    model.eval()
    p = aligned_pairs(featdir, tr, speaker_stats, convert)
    model.train(was)
    return torch.from_numpy(p.src).to(device), torch.from_numpy(p.tgt).to(device)


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


VALID_CHUNK_FRAMES = 16384  # frames per validation pass of a frame-wise model


def as_sequence(x: torch.Tensor | None, stride: int) -> torch.Tensor | None:
    """``(N, ...)`` concatenated frames (or their speakers) -> one ``(1, N', ...)`` sequence, N' the largest
    multiple of stride (None stays None)."""
    return None if x is None else x[None, : len(x) - len(x) % stride]


def make_optimizer(model: torch.nn.Module, cfg: Config) -> torch.optim.Adam:
    """Adam; the fused kernel where this torch has it (about 1.3x faster steps on CPU at batch 128)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=cfg.train.lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch or a device without fused Adam
        return torch.optim.Adam(model.parameters(), lr=cfg.train.lr)


def batches(x: torch.Tensor, segment: int, batch_frames: int, g: torch.Generator):
    """Index tensors ``(B, segment)`` of one epoch over ``x (N, D)``: every frame once in random order
    for a frame-wise model (segment 1), ``N // segment`` segments at random offsets for a temporal one."""
    if segment == 1:
        perm = torch.randperm(len(x), generator=g, device=x.device)[:, None]
    else:
        starts = torch.randint(0, len(x) - segment + 1, (len(x) // segment,), generator=g, device=x.device)
        perm = starts[:, None] + torch.arange(segment, device=x.device)
    per_batch = max(1, batch_frames // segment)
    return perm.split(per_batch)


def train_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, x: "torch.Tensor | FrameStore", cfg: Config,
                epoch: int, beta: float, spk: torch.Tensor | None = None, pros: torch.Tensor | None = None,
                f0map: SpeakerF0Map | None = None, pairs: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
    """One pass over ``x`` (N, D) in shuffled batches (a frame store: block by block; ``spk (N,)`` the frames'
    speakers for a conditioned model; ``pros (N, 2)`` their prosody and ``f0map`` the speakers' F0 map for a
    decoder with model.prosody; ``pairs``: loss.parallel's frame pairs, indices into ``x``); returns mean loss terms
    per frame (and, for a VQ-VAE, the commitment term and codebook use over the epoch)."""
    model.train()
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(cfg.train.seed * 100_003 + epoch)
    vq = model.vq
    if vq is not None:
        torch.manual_seed(cfg.train.seed * 100_003 + epoch)  # codebook re-draws: a resumed epoch replays them
        vq.reset_usage()
    total = torch.zeros(9, dtype=torch.float64, device=device)
    if torch.is_tensor(x):
        total += _train_block(model, opt, x, cfg, beta, g, spk, pros, f0map, pairs)
    else:  # the frame store's blocks in a random order, each read when its turn comes (one block held at a time)
        for a, b in x.blocks(g, cfg.train.block_frames):
            xs = torch.from_numpy(x.read(a, b)).to(device)
            total += _train_block(model, opt, xs, cfg, beta, g, None if spk is None else spk[a:b],
                                  None if pros is None else pros[a:b], f0map)
            del xs
    rec, kl, commit, cycle, frames, adv, right, gv, par = total.tolist()
    rec, kl, commit, cycle = rec / frames, kl / frames, commit / frames, cycle / frames
    row = {"train_loss": rec + (cfg.loss.commitment * commit if vq is not None else beta * kl), "train_recon": rec,
           "train_kl": kl}
    if cfg.loss.cycle > 0:
        row["train_cycle"] = cycle  # NLL of the round trip through another speaker, nats per frame
    if cfg.loss.parallel > 0:
        row["train_parallel"] = par / frames  # NLL of the aligned target frame under the conversion, nats per pair
    if cfg.loss.gv > 0:  # mean squared log ratio of decoded to data variance per dimension (0: as varied as the data)
        row["train_gv_gap"] = gv / frames
    if model.adversary is not None:  # the speaker classifier on z: ln(speakers) nats and chance accuracy = no speaker
        row["train_adv_ce"], row["train_adv_acc"] = adv / frames, right / frames
    if vq is not None:
        row["train_commit"] = commit
        row.update(codebook_columns(vq.usage_stats()))
    return row


def _train_block(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, cfg: Config, beta: float,
                 g: torch.Generator, spk: torch.Tensor | None = None, pros: torch.Tensor | None = None,
                 f0map: SpeakerF0Map | None = None, pairs: tuple[torch.Tensor, torch.Tensor] | None = None
                 ) -> torch.Tensor:
    """Steps over one block ``x (N, D)`` of frames in shuffled batches; returns ``[recon sum, KL sum,
    commitment sum, cycle NLL sum, frames, adversary cross-entropy sum, frames it classified right, variance term
    x frames, parallel NLL sum]`` over the block, left on the device (one host sync per epoch, not per batch).
    ``pairs``: loss.parallel's frame pairs (indices into ``x``, the whole training set), as many drawn per step as
    the batch has frames."""
    if cfg.train.step == "auto" and fused_step.unsupported(model, cfg.loss.free_bits, cfg.loss.cycle,
                                                           cfg.loss.gv + cfg.loss.mean_recon,
                                                           cfg.loss.parallel) is None:
        return _train_block_by_hand(model, opt, x, cfg, beta, g, spk)
    total = torch.zeros(9, dtype=torch.float64, device=x.device)  # one running sum: memory flat in the batch count
    cycle = adv = right = gv = par = torch.zeros((), device=x.device)
    for idx in batches(x, model.segment, cfg.train.batch_size, g):
        xb = x[idx]  # (B, segment, D)
        eps = None if model.vq is not None else torch.randn(len(xb), idx.shape[1] // model.stride, cfg.model.latent,
                                                            generator=g, device=x.device)
        sb = None if spk is None else spk[idx]
        pb = None if pros is None else pros[idx]
        out = model(xb, eps, sb, pb)
        terms = loss_terms(xb, out, model.stride)
        loss = objective(terms, beta, cfg.loss.free_bits, cfg.loss.commitment)
        other = pb_other = None
        if cfg.loss.cycle > 0:
            other = other_speakers(sb[:, :: model.stride], len(cfg.model.speakers), g)
            pb_other = None if pb is None else f0map(pb, sb, other)
            cycle, kl2 = cycle_terms(model, xb, out.z, sb, other, torch.randn(eps.shape, generator=g, device=x.device),
                                     pb, pb_other)
            loss = loss + cfg.loss.cycle * (cycle.mean() + beta * kl2.mean() / model.stride)
        if cfg.loss.gv > 0 or cfg.loss.mean_recon > 0:
            rec_mu = decode_means(model, out.mu, sb, pb)
            if cfg.loss.gv > 0:
                gv = variance_term(model, xb, rec_mu, sb, out.mu, other, pb_other)
                loss = loss + cfg.loss.gv * gv
            if cfg.loss.mean_recon > 0:
                loss = loss + cfg.loss.mean_recon * mean_decode_error(xb, rec_mu)
        if pairs is not None:
            j = torch.randint(0, len(pairs[0]), (xb.shape[0] * xb.shape[1],), generator=g, device=x.device)
            ps, pt = pairs[0][j], pairs[1][j]
            pp = None if pros is None else f0map(pros[ps], spk[ps], spk[pt])[:, None]
            par = parallel_term(model, x[ps][:, None], x[pt][:, None], spk[ps][:, None], spk[pt][:, None], pp)
            loss = loss + cfg.loss.parallel * par.mean()
        if model.adversary is not None:  # the classifier learns at full rate; the encoder plays against it (weighted)
            adv, confuse, right = model.adversary.loss(out.mu, sb[:, :: model.stride], cfg.loss.adversarial,
                                                       cfg.loss.adversarial_mode)
            loss = loss + adv + confuse
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            n = float(xb.shape[0] * xb.shape[1])
            total += torch.stack([terms.recon.sum(), terms.kl.sum(), terms.commit_per_frame.to(x.device) * n,
                                  cycle.sum(), torch.tensor(n, device=x.device), adv * n,
                                  right * model.stride, gv * n, par.sum()]).double()
    return total


def other_speakers(spk: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """For each entry of ``spk`` (indices among ``n`` >= 2 speakers), one of the other ``n - 1`` speakers,
    uniformly at random."""
    return (spk + torch.randint(1, n, spk.shape, generator=g, device=spk.device)) % n


def _train_block_by_hand(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, cfg: Config,
                         beta: float, g: torch.Generator, spk: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`_train_block` for the frame-wise MLP with :mod:`.fused_step`'s gradients: the same batches and
    the same noise draws (same seed, same curve to float rounding), fewer operations per step."""
    rec = torch.zeros((), dtype=torch.float64, device=x.device)
    kl = torch.zeros((), dtype=torch.float64, device=x.device)
    for idx in batches(x, 1, cfg.train.batch_size, g):
        idx = idx[:, 0]
        eps = torch.randn(len(idx), cfg.model.latent, generator=g, device=x.device)
        r, k = fused_step.mlp_gradients(model, x[idx], eps, beta, None if spk is None else spk[idx])
        opt.step()
        rec += r
        kl += k
    zero = torch.zeros((), dtype=torch.float64, device=x.device)
    frames = torch.tensor(float(len(x)), dtype=torch.float64, device=x.device)
    return torch.stack([rec, kl, zero, zero, frames, zero, zero, zero, zero])


def codebook_columns(u: dict) -> dict:
    """log.csv columns of a VQ-VAE's codebook use: per codebook the share of entries used and the
    perplexity, and in all the entries never used and the entries re-drawn."""
    row = {f"vq_used{i + 1}": v for i, v in enumerate(u["used"])}
    row.update({f"vq_perplexity{i + 1}": v for i, v in enumerate(u["perplexity"])})
    row.update(vq_dead=int(sum(u["dead"])), vq_reinit=int(sum(u["reinit"])))
    return row


@torch.no_grad()
def evaluate_epoch(model: torch.nn.Module, data: Data, cfg: Config, beta: float) -> dict:
    """Validation ELBO terms per frame (fixed noise), held-out MCD of the posterior-mean reconstruction
    (dB, c1..c39), mean mu / mean sigma of q(z|x), active latent dims and dead ReLU fraction per layer.
    A temporal model sees the held-out utterances as one sequence (across their joins); a frame-wise one goes
    through them in chunks of VALID_CHUNK_FRAMES."""
    model.eval()
    x, spk = as_sequence(data.valid, model.stride), as_sequence(data.valid_spk, model.stride)
    pros = as_sequence(data.valid_pros, model.stride)
    g = torch.Generator(device=x.device).manual_seed(cfg.train.seed + 7_919)
    noise = None if model.vq is not None else torch.randn(1, x.shape[1] // model.stride, cfg.model.latent,
                                                          generator=g, device=x.device)
    # a frame-wise model goes through in chunks (the same numbers, memory flat in the held-out set's size: whole,
    # 100 ARCTIC utterances cost 0.5 GB of activations); a temporal model sees the joined sequence at once
    chunk = VALID_CHUNK_FRAMES if model.segment == 1 and model.stride == 1 else x.shape[1]
    acc = dict.fromkeys(("recon", "kl", "kl_dim", "commit", "mcd", "mu", "sigma", "latents", "adv_right"), 0.0)
    for a in range(0, x.shape[1], chunk):
        xs, ss = x[:, a:a + chunk], None if spk is None else spk[:, a:a + chunk]
        ps = None if pros is None else pros[:, a:a + chunk]
        out = model(xs, None if noise is None else noise[:, a // model.stride:(a + chunk) // model.stride], ss, ps)
        terms = loss_terms(xs, out, model.stride)
        mean_out = model(xs, spk=ss, pros=ps) if model.vq is None else out  # z = mu (a VQ-VAE's forward has no noise)
        err = (xs - mean_out.x_mean) * data.std
        n, latents = xs.shape[1], out.mu.shape[1]
        acc["recon"] += terms.recon.sum()
        acc["kl"] += terms.kl.sum()
        acc["kl_dim"] += terms.kl_per_dim * latents
        acc["commit"] += terms.commit_per_frame * n
        acc["mcd"] += (_MCD_K * torch.sqrt(2.0 * (err**2).sum(dim=-1))).sum()
        acc["mu"] += out.mu.sum()
        acc["sigma"] += torch.exp(0.5 * out.logvar).sum() if out.logvar is not None else 0.0
        acc["latents"] += latents
        if model.adversary is not None:
            acc["adv_right"] += model.adversary.loss(mean_out.mu, ss[:, :: model.stride], 0.0)[2]
    frames = x.shape[1]
    recon, kl, commit = (float(acc[k]) / frames for k in ("recon", "kl", "commit"))
    kl_per_dim = acc["kl_dim"] / acc["latents"]
    mcd = float(acc["mcd"]) / frames
    mu_count = acc["latents"] * cfg.model.latent
    probe = model(as_sequence(data.probe, model.stride), spk=as_sequence(data.probe_spk, model.stride),
                  pros=as_sequence(data.probe_pros, model.stride))
    dead = [float((h.flatten(0, -2).amax(dim=0) <= 0).float().mean()) for h in probe.hidden]
    row = {
        "valid_loss": recon + beta * kl,
        "valid_recon": recon,
        "valid_kl": kl,
        "valid_mcd_db": mcd,
        "mean_mu": float(acc["mu"]) / mu_count,
        # a VQ-VAE's encoder is deterministic: sigma 0; all its dims carry the code
        "mean_sigma": float(acc["sigma"]) / mu_count if model.vq is None else 0.0,
        "active_dims": (int((kl_per_dim * model.stride > ACTIVE_KL_NATS).sum()) if model.vq is None
                        else cfg.model.latent),
    }
    if model.adversary is not None:  # how well the training-time speaker classifier still reads held-out z
        row["valid_adv_acc"] = float(acc["adv_right"]) / acc["latents"]
    if model.vq is not None:
        row["valid_loss"] = recon + cfg.loss.commitment * commit
        row["valid_commit"] = commit
    n_enc = len(model.enc)
    for i, d in enumerate(dead):
        name = f"dead_enc{i + 1}" if i < n_enc else f"dead_dec{i - n_enc + 1}"
        row[name] = d
    return row


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
    train.patience and train.device (when to stop and where to run: what a resumed run may change)."""
    norm = lambda c: dataclasses.replace(c, train=dataclasses.replace(c.train, epochs=0, patience=0, device="auto"))
    if not new.model.speakers:  # training fills in a conditioned model's speakers: a resume need not repeat them
        new = dataclasses.replace(new, model=dataclasses.replace(new.model, speakers=old.model.speakers))
    return config_diff(norm(old), norm(new))


def fit(featdir: str | Path, expdir: str | Path, cfg: Config, *, stats_path: str | Path | None = None,
        resume: bool = False, overwrite: bool = False, valid_list: str | Path | None = None,
        train_list: str | Path | None = None, progress: bool = True) -> list[dict]:
    """Train a VAE on ``featdir`` into ``expdir`` (checkpoint.pt, log.csv, config.yaml).

    ``stats_path=None`` computes the normalisation statistics over the training utterances only (never
    the held-out ones). An ``expdir`` that already holds a checkpoint is refused unless ``resume``
    (continue it, same config) or ``overwrite`` (start again); ``resume`` without a checkpoint is refused.

    Returns the per-epoch history (the rows of log.csv).
    Raises TrainingDiverged if the loss becomes non-finite; the last good checkpoint stays.
    """
    featdir, expdir = Path(featdir), Path(expdir)
    # The model's analysis settings are those its features were made with (stored beside them),
    # so resynthesis through the checkpoint uses the right fs / alpha / FFT size.
    feat_analysis = read_featdir_analysis(featdir)
    if feat_analysis != resolve_analysis(cfg.analysis):
        log.info("analysis settings taken from %s/analysis.yaml (fs %d Hz)", featdir, feat_analysis.fs)
    cfg = dataclasses.replace(cfg, analysis=feat_analysis)
    device = resolve_device(cfg.train.device)
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
    save_config(cfg, expdir / "config.yaml")
    write_json(expdir / DATA_JSON, {"featdir": str(featdir.resolve()), "train_utts": tr, "valid_utts": va})
    log.info("VAE %d parameters, %d train / %d valid frames on %s; init %s x%g, beta %g, decoder variance %s",
             count_parameters(model), len(data.train), len(data.valid), device, cfg.init.scheme, cfg.init.scale,
             cfg.loss.beta, cfg.loss.decoder_variance)
    if model.vq is not None:
        log.info("VQ-VAE: %s quantiser, %d codebooks x %d entries = %g bits per latent vector (%g bits/frame)",
                 cfg.model.quantizer, cfg.model.codebooks, cfg.model.codebook_size, model.vq.bits,
                 model.bits_per_frame)
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
                        pairs=data.pairs if cfg.loss.parallel_realign else None)
        write_log_csv(expdir / LOG_CSV, history)
        bar.set_postfix(refresh=False, loss=f"{row['valid_loss']:.2f}", rec=f"{row['valid_recon']:.2f}", kl=f"{row['valid_kl']:.2f}",
                        mcd=f"{row['valid_mcd_db']:.2f}", dead=f"{max(v for k, v in row.items() if k.startswith('dead')):.2f}")
        if stopped_early(history, cfg):
            at, mcd = best_epoch(history)
            log.info("early stop after epoch %d: the held-out MCD has not gone below %.3f dB (epoch %d) for %d epochs",
                     epoch, mcd, at, cfg.train.patience)
            break
    if best is not None:
        log.info("the checkpoint's model is epoch %d's (held-out MCD %.3f dB, train.keep_best)", *best_epoch(history))
    return history


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
        raise ExperimentError(f"loss.cycle converts to another speaker: it needs two or more, the model has "
                              f"{', '.join(names)}")
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
