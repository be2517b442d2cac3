"""Frame-wise VAE: a ReLU MLP encoder D -> hidden... -> (mu, logvar) of the latent, and a decoder
latent -> reversed hidden -> D. ``nn.Linear`` acts on the last axis, so ``(B, T, D)`` sequences go
through frame by frame: no frame sees its neighbours (stride 1, segment 1)."""
from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from . import DecoderVariance, SpectralVAE


class MLPVAE(SpectralVAE):
    def __init__(self, dim: int, cfg: ModelConfig, decoder_variance: str = "per_dim"):
        super().__init__()
        n_enc, n_dec = self.n_speaker_inputs = cfg.speaker_inputs
        enc_sizes = [dim + n_enc, *cfg.hidden]
        dec_sizes = [cfg.latent + n_dec, *reversed(cfg.hidden)]
        self.enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(enc_sizes[:-1], enc_sizes[1:]))
        self.enc_mu = nn.Linear(enc_sizes[-1], cfg.latent)
        self.enc_logvar = nn.Linear(enc_sizes[-1], cfg.latent) if cfg.quantizer == "none" else None  # VQ: no variance
        self.dec = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dec_sizes[:-1], dec_sizes[1:]))
        self.dec_mean = nn.Linear(dec_sizes[-1], dim)
        self.var = DecoderVariance(decoder_variance, dec_sizes[-1], dim)

    def encode(self, x: torch.Tensor, hidden: list | None = None, spk: torch.Tensor | None = None):
        h = self.with_speaker(x, spk, 0)
        for layer in self.enc:
            h = torch.relu(layer(h))
            if hidden is not None:
                hidden.append(h)
        return self.enc_mu(h), None if self.enc_logvar is None else self.enc_logvar(h)

    def decode(self, z: torch.Tensor, hidden: list | None = None, spk: torch.Tensor | None = None):
        h = self.with_speaker(z, spk, 1)
        for layer in self.dec:
            h = torch.relu(layer(h))
            if hidden is not None:
                hidden.append(h)
        return self.dec_mean(h), self.var(h)
