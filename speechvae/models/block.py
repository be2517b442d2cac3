"""Block VAE: ``stride`` s neighbouring frames stacked into one ``s * D`` vector and coded by one latent vector
through a ReLU MLP (the frame-wise MLP's shape, on blocks): one latent vector per s frames, ``latent / s`` numbers
per frame. Blocks are cut at multiples of s from a sequence's start (callers pad T to a multiple of s); training
excerpts start at random frames, so the model sees every block phase.

``model.linear_path``: a bias-free linear map beside each MLP, so the posterior mean is ``W x + mlp(x)`` and the
decoder mean ``V z + mlp(z)``: a linear block code (PCA of stacked frames is the best one in the MCD's scale) plus a
nonlinear correction. Without it a ReLU MLP under-fits a large latent and loses to that linear code (README,
"Compact codes")."""
from __future__ import annotations

import torch
from torch import nn

from speechvae.config import ModelConfig
from speechvae.models.base import DecoderVariance, SpectralVAE
from speechvae.models.mlp import relu_layers


class BlockVAE(SpectralVAE):
    def __init__(self, dim: int, cfg: ModelConfig, decoder_variance: str = "per_dim"):
        super().__init__()
        s = self.stride = cfg.stride
        self.segment, self.dim = cfg.segment, dim
        n_enc, n_dec = self.n_speaker_inputs = cfg.speaker_inputs
        enc_sizes = [s * (dim + n_enc), *cfg.hidden]
        dec_sizes = [cfg.latent + n_dec, *reversed(cfg.hidden)]
        self.enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(enc_sizes[:-1], enc_sizes[1:]))
        self.enc_mu = nn.Linear(enc_sizes[-1], cfg.latent)
        self.enc_logvar = nn.Linear(enc_sizes[-1], cfg.latent) if cfg.quantizer == "none" else None  # VQ: no variance
        self.dec = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dec_sizes[:-1], dec_sizes[1:]))
        self.dec_mean = nn.Linear(dec_sizes[-1], s * dim)
        self.var = DecoderVariance(decoder_variance, dec_sizes[-1], dim)  # per_frame is refused by the config
        self.enc_lin = nn.Linear(enc_sizes[0], cfg.latent, bias=False) if cfg.linear_path else None
        self.dec_lin = nn.Linear(dec_sizes[0], s * dim, bias=False) if cfg.linear_path else None

    def encode(self, x: torch.Tensor, hidden: list | None = None, spk: torch.Tensor | None = None):
        h = self.with_speaker(x, spk, 0)  # (B, T, D [+ speakers])
        h = h.reshape(len(h), h.shape[1] // self.stride, -1)  # (B, T / s, s * D): frames of a block side by side
        a = relu_layers(h, self.enc, hidden)
        mu = self.enc_mu(a) + (self.enc_lin(h) if self.enc_lin is not None else 0.0)
        return mu, None if self.enc_logvar is None else self.enc_logvar(a)

    def decode(self, z: torch.Tensor, hidden: list | None = None, spk: torch.Tensor | None = None,
               pros: None = None):  # model.prosody is the frame-wise mlp's (the config refuses it here)
        h = self.with_speaker(z, spk, 1)
        a = relu_layers(h, self.dec, hidden)
        mean = self.dec_mean(a) + (self.dec_lin(h) if self.dec_lin is not None else 0.0)
        return mean.reshape(len(z), z.shape[1] * self.stride, self.dim), self.var(a)

    def layers(self) -> list[nn.Module]:
        return [*super().layers(), *(m for m in (self.enc_lin, self.dec_lin) if m is not None)]
