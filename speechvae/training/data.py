"""What a training run trains on: the split into training and held-out utterances, their normalised frames on the
device (or packed into a frame store when larger than ``train.max_memory_mb``), each frame's speaker and prosody,
and loss.parallel's frame pairs.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from speechvae.analysis.featdir import feature_path, read_manifest, select_utts
from speechvae.analysis.features import Features, check_compatible
from speechvae.analysis.stats import Stats
from speechvae.config import Config
from speechvae.expdir import ExperimentError
from speechvae.models.prosody import SpeakerF0Map, prosody_inputs
from speechvae.training.framestore import FrameStore, pack
from speechvae.training.pairs import aligned_pairs

log = logging.getLogger(__name__)


def split_utts(
    ids: list[str], valid_fraction: float, valid_ids: list[str] | None = None
) -> tuple[list[str], list[str]]:
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
    train: torch.Tensor | FrameStore  # (N_train, D) normalised frames on the device, or streamed from a file
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
    # loss.parallel: (src, tgt) index tensors (P,) into train of DTW-aligned frame pairs (speechvae.training.pairs)
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None


def frame_prosody(featdir: str | Path, utt_ids: list[str], stats: Stats) -> np.ndarray:
    """``(N, 2)`` float32: :func:`speechvae.models.prosody.prosody_inputs` of every frame of ``utt_ids`` concatenated
    (the frame order of :func:`load_frames`)."""
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


def choose_split(
    featdir: str | Path, cfg: Config, valid_list: str | Path | None = None, train_list: str | Path | None = None
) -> tuple[list[str], list[str]]:
    """Training and held-out utterance ids from the list files, or by ``train.valid_fraction``."""
    ids = select_utts(featdir, train_list)
    valid_ids = select_utts(featdir, valid_list) if valid_list else None
    if train_list and valid_ids is not None:
        return ids, valid_ids
    return split_utts(ids, cfg.train.valid_fraction, valid_ids)


def prepare_data(
    featdir: str | Path,
    cfg: Config,
    stats: Stats,
    device: torch.device,
    tr: list[str],
    va: list[str],
    expdir: str | Path | None = None,
    speaker_stats: dict[str, Stats] | None = None,
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Data:
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
        probe = (
            train[pick.to(device)] if torch.is_tensor(train) else torch.from_numpy(train.rows(pick.numpy())).to(device)
        )  # same frames, file order
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
            raise ExperimentError("loss.parallel draws frame pairs from the whole training set, which is streamed here "
                                  f"({megabytes:.0f} MB > train.max_memory_mb {cfg.train.max_memory_mb:g}): raise "
                                  "train.max_memory_mb or train without loss.parallel")
        if pairs is None:
            p = aligned_pairs(featdir, tr, speaker_stats)
            pairs = (torch.from_numpy(p.src), torch.from_numpy(p.tgt))
        data.pairs = (pairs[0].to(device), pairs[1].to(device))
    return data


@torch.no_grad()
def realigned_pairs(
    model: torch.nn.Module,
    featdir: str | Path,
    tr: list[str],
    stats: Stats,
    cfg: Config,
    speaker_stats: dict[str, Stats],
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """loss.parallel's frame pairs aligned again on ``model``'s conversions of each source reading (posterior mean
    decoded with the target's code and, with model.prosody, the source's F0 mapped to the target), as index tensors
    on ``device`` (loss.parallel_realign)."""

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
