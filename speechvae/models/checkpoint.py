"""Self-describing checkpoints: weights, optimiser, epoch, resolved config, analysis settings,
normalisation stats and training history in one file, so a checkpoint alone can reconstruct.

Only tensors and plain containers are stored (config and history as JSON strings), and loading
uses ``torch.load(weights_only=True)``: a checkpoint cannot execute code when opened.
"""
from __future__ import annotations

import json
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from speechvae.analysis.stats import Stats
from speechvae.config import AnalysisConfig, Config, ConfigError, config_from_dict, config_to_dict
from speechvae.expdir import CHECKPOINT_NAME
from speechvae.models import build
from speechvae.store import atomic_path
from speechvae.version import __version__

FORMAT = "speechvae-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, unsafe or does not fit the model config."""


def checkpoint_path(path: str | Path) -> Path:
    """An experiment folder or a checkpoint file -> the checkpoint file."""
    path = Path(path)
    return path / CHECKPOINT_NAME if path.is_dir() else path


def save_checkpoint(path: str | Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, epoch: int,
                    cfg: Config, stats: Stats, history: list[dict], train_utts: list[str] = (),
                    speaker_stats: dict[str, Stats] | None = None, best: tuple[int, dict] | None = None,
                    pairs: tuple[torch.Tensor, torch.Tensor] | None = None,
                    side: dict[str, np.ndarray] | None = None) -> None:
    """Write atomically: a killed process leaves the previous checkpoint intact. ``speaker_stats``: a
    speaker-conditioned model's per-speaker statistics (mel-cepstrum and log-F0 over its training utterances).
    ``best``: (epoch, model state) of the epoch early stopping keeps (``train.keep_best``); ``model`` stays the
    last epoch's, which a resumed run continues. ``pairs``: the (source, target) frame indices loss.parallel trains on
    when it re-aligns them (loss.parallel_realign), so that a resumed run continues on the same ones. ``side``: the
    codec's side-stream quantiser tables (:class:`speechvae.models.side.SideQuantizers`), fitted on the training set."""
    state = {
        "format": FORMAT,
        "version": __version__,
        "epoch": int(epoch),
        "config_json": json.dumps(config_to_dict(cfg)),
        "history_json": json.dumps(history),
        "train_utts_json": json.dumps(list(train_utts)),
        "stats": {k: torch.as_tensor(np.asarray(v)) for k, v in stats.to_arrays().items()},
        "speaker_stats": {spk: {k: torch.as_tensor(np.asarray(v)) for k, v in st.to_arrays().items()}
                          for spk, st in (speaker_stats or {}).items()},
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
    }
    if pairs is not None:
        state["parallel_pairs"] = {"src": pairs[0].detach().cpu(), "tgt": pairs[1].detach().cpu()}
    if side is not None:
        state["side_quantizers"] = {k: torch.as_tensor(np.asarray(v)) for k, v in side.items()}
    if best is not None:
        state["best_epoch"] = int(best[0])
        state["best_model"] = {k: v.detach().cpu() for k, v in best[1].items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


@dataclass
class Checkpoint:
    epoch: int
    cfg: Config
    stats: Stats
    history: list[dict]
    model_state: dict
    optimizer_state: dict
    version: str
    train_utts: list[str]  # utterance ids the model was trained on (evaluate flags overlap with them)
    speaker_stats: dict[str, Stats] = field(default_factory=dict)  # conditioned model: per speaker
    best_epoch: int | None = None  # train.keep_best: the epoch of the lowest held-out MCD, whose weights ...
    best_state: dict | None = None  # ... build_model uses (model_state is the last epoch's, for resuming)
    parallel_pairs: tuple[torch.Tensor, torch.Tensor] | None = None  # loss.parallel_realign: the pairs in use
    side_quantizers: dict[str, np.ndarray] | None = None  # a residual VQ-VAE: the codec's side-stream tables

    @property
    def model_epoch(self) -> int:
        """The epoch whose weights :meth:`build_model` loads."""
        return self.best_epoch if self.best_state is not None else self.epoch

    def speaker_index(self, speaker: str) -> int:
        """The one-hot position of ``speaker`` in a speaker-conditioned model; ValueError naming the known ones."""
        names = self.cfg.model.speakers
        if self.cfg.model.conditioning == "none":
            raise ValueError("this model has no speaker code (model.conditioning: none)")
        if speaker not in names:
            raise ValueError(f"speaker {speaker!r} unknown to this model (its speakers: {', '.join(names)})")
        return names.index(speaker)

    def check_encoder_speakers(self, speakers) -> None:
        """ValueError naming the ``speakers`` a ``both``-conditioned model's encoder cannot take (it needs their
        code, and knows only its training speakers); other models take any speaker."""
        unknown = sorted(set(speakers) - set(self.cfg.model.speakers))
        if unknown and self.cfg.model.conditioning == "both":
            raise ValueError(f"speaker(s) {', '.join(unknown)} unknown to this model, whose encoder takes the speaker "
                             f"code too (model.conditioning: both; its speakers: {', '.join(self.cfg.model.speakers)})"
                             f": use one of its speakers, or a model trained with model.conditioning: decoder")

    @property
    def analysis(self) -> AnalysisConfig:
        return self.cfg.analysis

    def build_model(self, device: str | torch.device = "cpu") -> torch.nn.Module:
        dim = len(self.stats.mcep_mean)
        model = build(self.cfg, dim)
        # checkpoints from before speechvae.models kept the decoder variance at the top level
        weights = self.best_state if self.best_state is not None else self.model_state
        state = {("var." + k if k.startswith("dec_logvar") else k): v for k, v in weights.items()}
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise CheckpointError(f"checkpoint weights do not fit its model config: {_first_line(e)}") from None
        return model.to(device).eval()


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load safely (no pickled code runs); CheckpointError names the file on any problem."""
    path = checkpoint_path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint here (train with `speechvae train FEATDIR -o EXPDIR`)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: refused: contains objects other than tensors and plain data "
                              f"(unsafe or foreign checkpoint): {_first_line(e)}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint, or not a checkpoint ({_first_line(e)}); "
                              f"--model takes an experiment folder or its {CHECKPOINT_NAME}") from None
    except Exception as e:  # a wav, YAML or text file makes torch's legacy unpickler fail in odd ways
        raise CheckpointError(f"{path}: not a speechvae checkpoint ({type(e).__name__} while reading it); "
                              f"--model takes an experiment folder or its {CHECKPOINT_NAME}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        what = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path}: not a speechvae checkpoint (format {what!r}); "
                              f"--model takes an experiment folder or its {CHECKPOINT_NAME}")
    try:
        cfg_dict = json.loads(state["config_json"])
        cfg_dict.get("model", {}).setdefault("scaling", "per_dim")  # checkpoints from before model.scaling
        cfg = config_from_dict(cfg_dict)
        stats = Stats.from_arrays({k: v.numpy() for k, v in state["stats"].items()}, where=str(path))
        return Checkpoint(epoch=int(state["epoch"]), cfg=cfg, stats=stats, history=json.loads(state["history_json"]),
                          model_state=state["model"], optimizer_state=state["optimizer"], version=state["version"],
                          train_utts=json.loads(state.get("train_utts_json", "[]")),
                          speaker_stats={spk: Stats.from_arrays({k: v.numpy() for k, v in a.items()}, where=str(path))
                                         for spk, a in state.get("speaker_stats", {}).items()},
                          best_epoch=state.get("best_epoch"), best_state=state.get("best_model"),
                          parallel_pairs=(state["parallel_pairs"]["src"], state["parallel_pairs"]["tgt"])
                          if "parallel_pairs" in state else None,
                          side_quantizers={k: v.numpy() for k, v in state["side_quantizers"].items()}
                          if "side_quantizers" in state else None)
    except (KeyError, ConfigError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: incomplete checkpoint ({e})") from None


def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]
