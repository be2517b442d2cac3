"""Temporal VAE: 1-D convolutions over frames, so each latent vector is inferred from, and decoded
into, a neighbourhood of frames; with ``stride`` s > 1 one latent vector codes s frames (a lower
rate per second). Encoder: ``len(hidden)`` convolutions of ``kernel`` taps (the last one, for s > 1,
of 2s taps strided by s), then 1x1 heads for (mu, logvar). Decoder: a 1x1 layer, a transposed convolution that upsamples
by s, ``len(hidden) - 1`` convolutions, a 1x1 output layer. Sequences ``(B, T, D)`` with T a
multiple of s (callers pad); activations are kept channels-last in ``hidden``."""
from __future__ import annotations

import torch
from torch import nn

from speechvae.config import ModelConfig
from speechvae.models.base import DecoderVariance, SpectralVAE


class ConvVAE(SpectralVAE):
    def __init__(self, dim: int, cfg: ModelConfig, decoder_variance: str = "per_dim"):
        super().__init__()
        k, s, ch = cfg.kernel, cfg.stride, list(cfg.hidden)
        self.stride, self.segment = s, cfg.segment
        n_enc, n_dec = self.n_speaker_inputs = cfg.speaker_inputs
        enc_in = [dim + n_enc, *ch[:-1]]
        self.enc = nn.ModuleList(nn.Conv1d(a, b, k, padding=k // 2) for a, b in zip(enc_in[:-1], ch[:-1]))
        # strided: 2s taps, s/2 padding -> exactly T / s outputs, neighbouring windows overlapping by half
        self.enc.append(nn.Conv1d(enc_in[-1], ch[-1], k, padding=k // 2) if s == 1 else
                        nn.Conv1d(enc_in[-1], ch[-1], 2 * s, stride=s, padding=s // 2))
        self.enc_mu = nn.Conv1d(ch[-1], cfg.latent, 1)
        self.enc_logvar = nn.Conv1d(ch[-1], cfg.latent, 1) if cfg.quantizer == "none" else None  # VQ: no variance
        rch = ch[::-1]
        self.dec = nn.ModuleList(
            [nn.Conv1d(cfg.latent + n_dec, rch[0], 1), nn.ConvTranspose1d(rch[0], rch[0], s, stride=s)]
        )
        self.dec.extend(nn.Conv1d(a, b, k, padding=k // 2) for a, b in zip(rch[:-1], rch[1:]))
        self.dec_mean = nn.Conv1d(rch[-1], dim, 1)
        self.var = DecoderVariance(decoder_variance, rch[-1], dim)

    @staticmethod
    def _run(layers, h: torch.Tensor, hidden: list | None) -> torch.Tensor:
        for layer in layers:
            h = torch.relu(layer(h))
            if hidden is not None:
                hidden.append(h.transpose(1, 2))
        return h

    def encode(self, x: torch.Tensor, hidden: list | None = None, spk: torch.Tensor | None = None):
        h = self._run(self.enc, self.with_speaker(x, spk, 0).transpose(1, 2), hidden)  # (B, C, T / s)
        return self.enc_mu(h).transpose(1, 2), None if self.enc_logvar is None else self.enc_logvar(h).transpose(1, 2)

    def decode(
        self, z: torch.Tensor, hidden: list | None = None, spk: torch.Tensor | None = None, pros: None = None
    ):  # model.prosody is the frame-wise mlp's (the config refuses it here)
        h = self._run(self.dec, self.with_speaker(z, spk, 1).transpose(1, 2), hidden)  # (B, C, T)
        return self.dec_mean(h).transpose(1, 2), self.var(h.transpose(1, 2))
