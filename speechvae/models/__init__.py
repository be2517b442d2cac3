"""Spectral VAEs behind one small interface, shared by training, evaluation and reconstruction.

Every model maps normalised mel-cepstrum sequences ``x (B, T, D)`` to a diagonal Gaussian posterior
over latents ``(B, T / stride, latent)`` and decodes latents back to ``(B, T, D)``:

- ``encode(x, hidden=None, spk=None) -> (mu, logvar)``; ``decode(z, hidden=None, spk=None, pros=None) -> (x_mean,
  x_logvar)``
- ``forward(x, eps=None, spk=None, pros=None) -> VAEOutput`` (``eps=None``: z = mu)
- ``layers()``: the weight layers :func:`init_weights` draws; ``stride``: frames per latent vector;
  ``segment``: frames per training example (1 for a frame-wise model)

``build(cfg, dim)`` picks the model by ``cfg.model.kind``: ``mlp`` (frame-wise, :mod:`.mlp`), ``conv`` (1-D
convolutions over time, :mod:`.conv`) or ``block`` (an MLP on ``stride`` stacked frames, :mod:`.block`). A
speaker-conditioned model (``model.conditioning`` decoder or both) also takes ``spk``: integer speaker indices
per frame ``(B, T)`` for ``forward`` and ``encode``, per latent vector ``(B, T')`` for ``decode``, fed as a
one-hot beside the layer's input. A decoder with ``model.prosody`` also takes ``pros (B, T, 2)``: each frame's
normalised log-F0 and voicing (:mod:`speechvae.models.prosody`). The loss is the same for all: per-frame Gaussian NLL
(0.5 log 2 pi included)
plus beta * KL per frame (a latent vector's KL spread over its ``stride`` frames).

With ``cfg.model.quantizer`` residual or product, the same model is a VQ-VAE: the encoder's mean goes
through a :class:`.vq.Quantizer` (``model.quantizer``), ``logvar`` is None, ``VAEOutput.codes`` holds the
code indices, and the KL term is replaced by the commitment term (the rate is exactly the code's bits).

>>> import torch
>>> from speechvae.config import load_config
>>> for kind, stride in (("mlp", 1), ("conv", 2), ("block", 4)):
...     m = build(load_config(None, [f"model.kind={kind}", f"model.stride={stride}", "model.latent=8"]), 39)
...     out = m(torch.zeros(3, 16, 39))
...     print(kind, tuple(out.mu.shape), tuple(out.x_mean.shape))
mlp (3, 16, 8) (3, 16, 39)
conv (3, 8, 8) (3, 16, 39)
block (3, 4, 8) (3, 16, 39)
"""
from __future__ import annotations

import math

import torch
from torch import nn

from speechvae.config import Config, InitConfig
from speechvae.models.adversary import SpeakerAdversary
from speechvae.models.block import BlockVAE
from speechvae.models.conv import ConvVAE
from speechvae.models.mlp import MLPVAE
from speechvae.models.vq import Quantizer


def build(cfg: Config, dim: int) -> nn.Module:
    """The model of ``cfg.model.kind`` for ``dim``-dimensional frames (not yet initialised)."""
    m = cfg.model
    if m.kind == "mlp":
        model = MLPVAE(dim, m, cfg.loss.decoder_variance)
    elif m.kind == "conv":
        model = ConvVAE(dim, m, cfg.loss.decoder_variance)
    elif m.kind == "block":
        model = BlockVAE(dim, m, cfg.loss.decoder_variance)
    else:
        raise ValueError(f"unknown model.kind {m.kind!r}")
    if m.quantizer != "none":
        model.quantizer = Quantizer(m.latent, m.codebooks, m.codebook_size, m.quantizer, m.vq_decay,
                                    m.vq_dropout)
    if cfg.loss.adversarial > 0:
        if len(m.speakers) < 2:
            raise ValueError("loss.adversarial tells speakers apart: it needs two or more (model.speakers)")
        model.speaker_adversary = SpeakerAdversary(m.latent, len(m.speakers))
    return model


def init_std(fan_in: int, fan_out: int, cfg: InitConfig) -> float:
    """Weight std for one layer under ``cfg.scheme`` and ``cfg.scale``."""
    if cfg.scheme == "seed":
        return cfg.scale / fan_out
    if cfg.scheme == "he":
        return cfg.scale * math.sqrt(2.0 / fan_in)
    if cfg.scheme == "xavier":
        return cfg.scale * math.sqrt(2.0 / (fan_in + fan_out))
    raise ValueError(f"unknown init scheme {cfg.scheme!r}")


@torch.no_grad()
def init_weights(model: nn.Module, cfg: InitConfig, generator: torch.Generator | None = None) -> None:
    """Draw every weight from N(0, s^2) with s from :func:`init_std`; biases (and a learned decoder
    log-variance) start at zero. Fan-in/out count kernel taps for convolutions.

    Why this matters for ReLU nets: the std sets how activation variance grows or shrinks layer by
    layer. Too wide, and pre-activations are pushed far negative for many units; a unit negative on
    every input gets zero gradient and never recovers (a dead ReLU). Too narrow, and the signal fades
    through the layers: the decoder output barely depends on z, so the model settles on predicting
    the mean frame and KL goes to zero (collapse). ``seed`` with scale 2 is the article's choice
    (std 2/fan_out); ``he`` keeps the activation variance constant through ReLU layers at scale 1.
    """
    for layer in model.layers():
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(layer.weight)
        if isinstance(layer, nn.ConvTranspose1d):  # its weight is (in, out, k): torch's fans are swapped
            fan_in, fan_out = fan_out, fan_in
        layer.weight.normal_(0.0, init_std(fan_in, fan_out, cfg), generator=generator)
        if layer.bias is not None:  # the block model's linear paths have none
            layer.bias.zero_()
    if model.var.kind in ("per_dim", "shared"):
        model.var.dec_logvar.zero_()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
