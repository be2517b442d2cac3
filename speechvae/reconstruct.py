"""Reconstruction through a trained VAE: mel-cepstra in, mel-cepstra out (c0, F0 and
aperiodicity untouched), with the optional global-variance post-filter.

Use: ``tm = load_model("data/demo/exp/demo")`` then ``reconstruct(tm, Features.load(path))``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import Checkpoint, load_checkpoint
from .config import Config
from .features import Features, check_compatible
from .model import VAE
from .train import resolve_device


@dataclass
class TrainedModel:
    model: VAE
    checkpoint: Checkpoint
    device: torch.device

    @property
    def cfg(self) -> Config:
        return self.checkpoint.cfg


def load_model(path: str | Path, device: str = "auto") -> TrainedModel:
    """An experiment folder or checkpoint file -> model in eval mode with its config and stats."""
    ck = load_checkpoint(path)
    dev = resolve_device(device)
    return TrainedModel(ck.build_model(dev), ck, dev)


def gv_postfilter(mcep_1: np.ndarray, target_gv: np.ndarray) -> np.ndarray:
    """Scale each dim of ``(T, 39)`` c1..c39 about its utterance mean so that its variance over
    the utterance equals ``target_gv`` ``(39,)`` (the training set's mean per-utterance variance).

    >>> x = np.random.default_rng(0).standard_normal((200, 3)) * [1.0, 0.5, 0.1]
    >>> y = gv_postfilter(0.5 * x, target_gv=x.var(axis=0))   # an over-smoothed copy, restored
    >>> bool(np.allclose(y.var(axis=0), x.var(axis=0))), bool(np.allclose(y.mean(axis=0), 0.5 * x.mean(axis=0)))
    (True, True)
    """
    mean = mcep_1.mean(axis=0)
    var = mcep_1.var(axis=0)
    return (mcep_1 - mean) * np.sqrt(target_gv / np.maximum(var, 1e-12)) + mean


@torch.no_grad()
def encode(tm: TrainedModel, feats: Features) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and std of q(z|x) per frame: two ``(T, latent)`` arrays."""
    x = torch.as_tensor(tm.checkpoint.stats.normalize(feats.mcep[:, 1:], tm.cfg.model.scaling), dtype=torch.float32, device=tm.device)
    mu, logvar = tm.model.encode(x)
    return mu.cpu().numpy(), torch.exp(0.5 * logvar).cpu().numpy()


@torch.no_grad()
def decode(tm: TrainedModel, z: np.ndarray) -> np.ndarray:
    """Latents ``(T, latent)`` -> denormalised c1..c39 ``(T, 39)`` (decoder mean)."""
    mean, _ = tm.model.decode(torch.as_tensor(z, dtype=torch.float32, device=tm.device))
    return tm.checkpoint.stats.denormalize(mean.cpu().numpy().astype(np.float64), tm.cfg.model.scaling)


def reconstruct(tm: TrainedModel, feats: Features, *, sample: bool = False, seed: int = 0,
                postfilter: bool | None = None, what: str = "features") -> Features:
    """Features -> the same Features with c1..c39 replaced by the VAE's reconstruction.

    ``sample=False`` decodes the posterior mean; ``True`` draws z ~ q(z|x) (seeded).
    ``postfilter=None`` follows the model config's ``postfilter.gv``.
    """
    check_compatible(feats, tm.cfg.analysis, what)
    mu, sigma = encode(tm, feats)
    z = mu + sigma * np.random.default_rng(seed).standard_normal(mu.shape) if sample else mu
    rec = decode(tm, z)
    if postfilter if postfilter is not None else tm.cfg.postfilter.gv:
        rec = gv_postfilter(rec, tm.checkpoint.stats.mcep_gv)
    mcep = feats.mcep.copy()
    mcep[:, 1:] = rec
    return feats.replace_mcep(mcep)
