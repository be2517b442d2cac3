"""The VAE: a ReLU MLP encoder/decoder over normalised mel-cepstrum frames, its hand
initialisation and its loss. The whole model fits on one screen on purpose.

Shapes: x ``(B, 39)`` normalised c1..c39 frames; z ``(B, 64)``.

>>> import torch
>>> from speechvae.config import ModelConfig, InitConfig
>>> vae = VAE(39, ModelConfig(), decoder_variance="unit")
>>> init_weights(vae, InitConfig(scheme="seed", scale=2.0))
>>> out = vae(torch.zeros(5, 39))
>>> tuple(out.mu.shape), tuple(out.x_mean.shape)
((5, 64), (5, 39))
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .config import InitConfig, ModelConfig

LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class VAEOutput:
    mu: torch.Tensor  # (B, latent) posterior mean
    logvar: torch.Tensor  # (B, latent) posterior log-variance
    z: torch.Tensor  # (B, latent) latent used for decoding
    x_mean: torch.Tensor  # (B, D) decoder mean
    x_logvar: torch.Tensor  # (B, D) or (D,) decoder log-variance (zeros for unit variance)
    hidden: list[torch.Tensor]  # post-ReLU activations of every hidden layer, encoder then decoder


class VAE(nn.Module):
    """Encoder D -> hidden... -> (mu, logvar) of the latent; decoder latent -> reversed hidden -> D.

    ``decoder_variance``: "unit" (fixed sigma = 1: the classic squared-error VAE), "per_dim" (one
    learned log-variance per output dimension), "per_frame" (a second decoder head predicts it).
    """

    def __init__(self, dim: int, cfg: ModelConfig, decoder_variance: str = "per_dim"):
        super().__init__()
        enc_sizes = [dim, *cfg.hidden]
        dec_sizes = [cfg.latent, *reversed(cfg.hidden)]
        self.enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(enc_sizes[:-1], enc_sizes[1:]))
        self.enc_mu = nn.Linear(enc_sizes[-1], cfg.latent)
        self.enc_logvar = nn.Linear(enc_sizes[-1], cfg.latent)
        self.dec = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dec_sizes[:-1], dec_sizes[1:]))
        self.dec_mean = nn.Linear(dec_sizes[-1], dim)
        self.decoder_variance = decoder_variance
        if decoder_variance == "per_dim":
            self.dec_logvar = nn.Parameter(torch.zeros(dim))
        elif decoder_variance == "per_frame":
            self.dec_logvar_head = nn.Linear(dec_sizes[-1], dim)

    def encode(self, x: torch.Tensor, hidden: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = x
        for layer in self.enc:
            h = torch.relu(layer(h))
            if hidden is not None:
                hidden.append(h)
        return self.enc_mu(h), self.enc_logvar(h)

    def decode(self, z: torch.Tensor, hidden: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = z
        for layer in self.dec:
            h = torch.relu(layer(h))
            if hidden is not None:
                hidden.append(h)
        mean = self.dec_mean(h)
        if self.decoder_variance == "per_dim":
            logvar = self.dec_logvar
        elif self.decoder_variance == "per_frame":
            logvar = self.dec_logvar_head(h)
        else:
            logvar = torch.zeros((), device=z.device, dtype=z.dtype)
        return mean, logvar

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> VAEOutput:
        """Encode, draw ``z = mu + sigma * eps`` (``eps=None``: z = mu), decode."""
        hidden: list[torch.Tensor] = []
        mu, logvar = self.encode(x, hidden)
        z = mu if eps is None else mu + torch.exp(0.5 * logvar) * eps
        x_mean, x_logvar = self.decode(z, hidden)
        return VAEOutput(mu, logvar, z, x_mean, x_logvar, hidden)

    def layers(self) -> list[nn.Linear]:
        extra = [self.dec_logvar_head] if self.decoder_variance == "per_frame" else []
        return [*self.enc, self.enc_mu, self.enc_logvar, *self.dec, self.dec_mean, *extra]


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
def init_weights(model: VAE, cfg: InitConfig, generator: torch.Generator | None = None) -> None:
    """Draw every weight from N(0, s^2) with s from :func:`init_std`; biases (and a learned
    decoder log-variance) start at zero.

    Why this matters for ReLU nets: the std sets how activation variance grows or shrinks
    layer by layer. Too wide, and pre-activations are pushed far negative for many units; a
    unit negative on every input gets zero gradient and never recovers (a dead ReLU). Too
    narrow, and the signal fades through the layers: the decoder output barely depends on z,
    so the model settles on predicting the mean frame and KL goes to zero (collapse).
    ``seed`` with scale 2 is the article's choice (std 2/fan_out); ``he`` keeps the
    activation variance constant through ReLU layers at scale 1.
    """
    for layer in model.layers():
        std = init_std(layer.in_features, layer.out_features, cfg)
        layer.weight.normal_(0.0, std, generator=generator)
        layer.bias.zero_()
    if model.decoder_variance == "per_dim":
        model.dec_logvar.zero_()


@dataclass
class LossTerms:
    recon: torch.Tensor  # (B,) Gaussian NLL per frame, nats
    kl: torch.Tensor  # (B,) KL(q(z|x) || N(0, I)) per frame, nats
    kl_per_dim: torch.Tensor  # (latent,) batch-mean KL per latent dimension, nats


def loss_terms(x: torch.Tensor, out: VAEOutput) -> LossTerms:
    """Per-frame Gaussian NLL of x under N(x_mean, exp(x_logvar)), constant 0.5*log(2*pi) included,
    and the analytic KL of the diagonal Gaussian posterior from the standard normal prior."""
    lv = out.x_logvar
    recon = 0.5 * (((x - out.x_mean) ** 2) * torch.exp(-lv) + lv + LOG_2PI).sum(dim=1)
    kl_elem = 0.5 * (out.mu**2 + torch.exp(out.logvar) - out.logvar - 1.0)
    return LossTerms(recon=recon, kl=kl_elem.sum(dim=1), kl_per_dim=kl_elem.mean(dim=0))


def objective(terms: LossTerms, beta: float, free_bits: float = 0.0) -> torch.Tensor:
    """Scalar to minimise: mean recon + beta * KL, KL per dim floored at ``free_bits`` nats."""
    kl = terms.kl_per_dim.clamp(min=free_bits).sum() if free_bits > 0 else terms.kl.mean()
    return terms.recon.mean() + beta * kl


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
