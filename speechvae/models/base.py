"""The interface every model shares: :class:`SpectralVAE` (encode, decode, forward, layers), its output
:class:`VAEOutput`, and the decoder's variance :class:`DecoderVariance`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class VAEOutput:
    mu: torch.Tensor  # (B, T', latent) posterior mean (VQ: encoder output), T' = T / stride
    logvar: torch.Tensor | None  # (B, T', latent) posterior log-variance; None for a VQ-VAE
    z: torch.Tensor  # (B, T', latent) latent used for decoding (VQ: the quantised vectors)
    x_mean: torch.Tensor  # (B, T, D) decoder mean
    x_logvar: torch.Tensor  # (B, T, D), (D,) or () decoder log-variance (zero for unit variance)
    hidden: list[torch.Tensor]  # post-ReLU activations of every hidden layer, channels last
    codes: torch.Tensor | None = None  # (B, T', n) VQ code indices
    commit: torch.Tensor | None = None  # (B, T') VQ commitment term ||z_e - sg(z_q)||^2


class DecoderVariance(nn.Module):
    """The decoder's log-variance: "unit" (0), "shared" (one learned value for every dim: with
    ``model.scaling: global`` the NLL is then a squared MCD plus a constant), "per_dim" (learned, one per
    output dim) or "per_frame" (a 1x1 head on the decoder's last hidden layer, given as ``(B, T, C)``)."""

    def __init__(self, kind: str, channels: int, dim: int):
        super().__init__()
        self.kind = kind
        if kind == "per_dim":
            self.dec_logvar = nn.Parameter(torch.zeros(dim))
        elif kind == "shared":
            self.dec_logvar = nn.Parameter(torch.zeros(1))
        elif kind == "per_frame":
            self.dec_logvar_head = nn.Linear(channels, dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.kind in ("per_dim", "shared"):
            return self.dec_logvar
        if self.kind == "per_frame":
            return self.dec_logvar_head(h)
        return torch.zeros((), device=h.device, dtype=h.dtype)

    def layers(self) -> list[nn.Module]:
        return [self.dec_logvar_head] if self.kind == "per_frame" else []


class SpectralVAE(nn.Module):
    """What every model shares: the reparameterised forward pass and the list of weight layers. A model
    defines ``enc``, ``enc_mu``, ``enc_logvar``, ``dec``, ``dec_mean``, ``var``, ``encode`` and ``decode``."""

    stride = 1  # frames per latent vector
    segment = 1  # frames per training example
    n_speaker_inputs = (0, 0)  # one-hot speaker channels into the (encoder, decoder)
    n_prosody_inputs = 0  # per-frame log-F0 and voicing channels into the decoder (model.prosody: 2)

    def with_speaker(self, h: torch.Tensor, spk: torch.Tensor | None, side: int,
                     pros: torch.Tensor | None = None) -> torch.Tensor:
        """``h (B, T, C)`` with the one-hot of ``spk (B, T)`` appended when the encoder (side 0) or decoder (1)
        is speaker-conditioned, and on the decoder side ``pros (B, T, 2)`` when it takes prosody; refuses a
        conditioned model called without speakers or prosody."""
        n = self.n_speaker_inputs[side]
        if n:
            if spk is None:
                raise ValueError("this model is speaker-conditioned: give the speaker of every frame")
            h = torch.cat([h, nn.functional.one_hot(spk.long(), n).to(h.dtype)], dim=-1)
        if side == 1 and self.n_prosody_inputs:
            if pros is None:
                raise ValueError("this model's decoder takes prosody (model.prosody): give every frame's F0")
            h = torch.cat([h, pros.to(h.dtype)], dim=-1)
        return h

    @property
    def adversary(self):
        """The :class:`.adversary.SpeakerAdversary` of a model trained with ``loss.adversarial``, else None."""
        return self._modules.get("speaker_adversary")

    @property
    def vq(self):
        """The :class:`.vq.Quantizer` of a VQ-VAE, else None."""
        return self._modules.get("quantizer")

    @property
    def bits_per_frame(self) -> float | None:
        """A VQ-VAE's exact rate: codebooks x log2 entries per latent vector, over its ``stride`` frames."""
        return self.vq.bits / self.stride if self.vq is not None else None

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None, spk: torch.Tensor | None = None,
                pros: torch.Tensor | None = None) -> VAEOutput:
        """Encode, draw ``z = mu + sigma * eps`` (``eps=None``: z = mu) or quantise (VQ), decode (``spk (B, T)``:
        the speaker of each frame, for a speaker-conditioned model; the decoder takes each latent vector's first;
        ``pros (B, T, 2)``: each frame's prosody, for a decoder that takes it)."""
        hidden: list[torch.Tensor] = []
        mu, logvar = self.encode(x, hidden, spk)
        codes = commit = None
        if self.vq is not None:
            z, codes, commit = self.vq(mu)
        else:
            z = mu if eps is None else mu + torch.exp(0.5 * logvar) * eps
        x_mean, x_logvar = self.decode(z, hidden, None if spk is None else spk[:, :: self.stride], pros)
        return VAEOutput(mu, logvar, z, x_mean, x_logvar, hidden, codes, commit)

    def layers(self) -> list[nn.Module]:
        heads = [h for h in (self.enc_mu, self.enc_logvar) if h is not None]
        return [*self.enc, *heads, *self.dec, self.dec_mean, *self.var.layers()]
