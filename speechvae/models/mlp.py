"""Frame-wise VAE: a ReLU MLP encoder D -> hidden... -> (mu, logvar) of the latent, and a decoder
latent -> reversed hidden -> D. ``nn.Linear`` acts on the last axis, so ``(B, T, D)`` sequences go
through frame by frame: no frame sees its neighbours (stride 1, segment 1).

``model.residual``: a hidden layer after the first whose width equals its input's adds its input
(``h + relu(W h + b)``: with ``hidden: [256, 256, 256]`` two residual layers on each side). ``model.norm: layer``:
a LayerNorm between each hidden layer's affine map and its ReLU."""
from __future__ import annotations

import torch
from torch import nn

from speechvae.config import ModelConfig
from speechvae.models.base import DecoderVariance, SpectralVAE


def relu_layers(h: torch.Tensor, layers: nn.ModuleList, hidden: list | None, norms: nn.ModuleList | None = None,
                residual: bool = False) -> torch.Tensor:
    """``h`` through one side's hidden layers (affine, optional LayerNorm, ReLU, optional skip of equal widths after
    the first); each layer's ReLU output is appended to ``hidden`` when given."""
    for i, layer in enumerate(layers):
        a = layer(h)
        a = torch.relu(a if norms is None else norms[i](a))
        if hidden is not None:
            hidden.append(a)  # each layer's own ReLU output: dead units are counted there
        h = h + a if residual and i > 0 and a.shape[-1] == h.shape[-1] else a
    return h


class MLPVAE(SpectralVAE):
    def __init__(self, dim: int, cfg: ModelConfig, decoder_variance: str = "per_dim"):
        super().__init__()
        n_enc, n_dec = self.n_speaker_inputs = cfg.speaker_inputs
        enc_sizes = [dim + n_enc, *cfg.hidden]
        self.n_prosody_inputs = 2 if cfg.prosody else 0  # log-F0 and voicing of each frame
        dec_sizes = [cfg.latent + n_dec + self.n_prosody_inputs, *reversed(cfg.hidden)]
        self.enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(enc_sizes[:-1], enc_sizes[1:]))
        self.enc_mu = nn.Linear(enc_sizes[-1], cfg.latent)
        self.enc_logvar = nn.Linear(enc_sizes[-1], cfg.latent) if cfg.quantizer == "none" else None  # VQ: no variance
        self.dec = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dec_sizes[:-1], dec_sizes[1:]))
        self.dec_mean = nn.Linear(dec_sizes[-1], dim)
        self.var = DecoderVariance(decoder_variance, dec_sizes[-1], dim)
        self.residual = cfg.residual
        norms = (lambda sizes: nn.ModuleList(nn.LayerNorm(n) for n in sizes[1:])) if cfg.norm == "layer" else None
        self.enc_norm, self.dec_norm = (norms(enc_sizes), norms(dec_sizes)) if norms else (None, None)

    def encode(self, x: torch.Tensor, hidden: list | None = None, spk: torch.Tensor | None = None):
        h = relu_layers(self.with_speaker(x, spk, 0), self.enc, hidden, self.enc_norm, self.residual)
        return self.enc_mu(h), None if self.enc_logvar is None else self.enc_logvar(h)

    def decode(self, z: torch.Tensor, hidden: list | None = None, spk: torch.Tensor | None = None,
               pros: torch.Tensor | None = None):
        h = relu_layers(self.with_speaker(z, spk, 1, pros), self.dec, hidden, self.dec_norm, self.residual)
        return self.dec_mean(h), self.var(h)
