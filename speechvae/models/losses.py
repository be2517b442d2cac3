"""The loss terms, shared by every model: per-frame Gaussian NLL (0.5 log 2 pi included) and KL, the cycle term of
a round trip through another speaker, the parallel term on aligned frame pairs, the variance term against
over-smoothing, the objective that weighs them, and the importance-weighted log-likelihood.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from speechvae.models.base import LOG_2PI, VAEOutput


@dataclass
class LossTerms:
    recon: torch.Tensor  # (B, T) Gaussian NLL per frame, nats
    kl: torch.Tensor  # (B, T') KL(q(z|x) || N(0, I)) per latent vector, nats
    kl_per_dim: torch.Tensor  # (latent,) KL per frame of each latent dimension (batch mean), nats
    stride: int  # frames per latent vector
    commit: torch.Tensor | None = None  # (B, T') VQ commitment term per latent vector

    @property
    def commit_per_frame(self) -> torch.Tensor:
        """Scalar: mean commitment term per frame (0 for a Gaussian VAE)."""
        return self.commit.mean() / self.stride if self.commit is not None else torch.zeros(())

    @property
    def kl_per_frame(self) -> torch.Tensor:
        """Scalar: mean KL per frame (nats)."""
        return self.kl.mean() / self.stride


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(N(mu, exp(logvar)) || N(0, 1)) in nats, the shape of ``mu``."""
    return 0.5 * (mu**2 + torch.exp(logvar) - logvar - 1.0)


def loss_terms(x: torch.Tensor, out: VAEOutput, stride: int = 1) -> LossTerms:
    """Per-frame Gaussian NLL of ``x (B, T, D)`` under N(x_mean, exp(x_logvar)), constant 0.5 log 2 pi
    included, and the analytic KL of the diagonal Gaussian posterior from the standard normal prior
    (a VQ-VAE: KL zero, the commitment term instead)."""
    lv = out.x_logvar
    recon = 0.5 * (((x - out.x_mean) ** 2) * torch.exp(-lv) + lv + LOG_2PI).sum(dim=-1)
    if out.logvar is None:
        zero = torch.zeros_like(out.commit)
        return LossTerms(recon=recon, kl=zero, kl_per_dim=torch.zeros_like(out.mu[0, 0]), stride=stride,
                         commit=out.commit)
    kl_elem = gaussian_kl(out.mu, out.logvar)
    return LossTerms(recon=recon, kl=kl_elem.sum(dim=-1), kl_per_dim=kl_elem.flatten(0, -2).mean(dim=0) / stride,
                     stride=stride)


def cycle_terms(model: nn.Module, x: torch.Tensor, z: torch.Tensor, spk: torch.Tensor, other: torch.Tensor,
                eps: torch.Tensor, pros: torch.Tensor | None = None,
                pros_other: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The round trip of CycleVAE voice conversion (Tobing et al., Interspeech 2019), for a speaker-conditioned
    model: the latents ``z (B, T', latent)`` of ``x (B, T, D)`` decoded as speakers ``other (B, T')`` (one per
    latent vector), that conversion re-encoded, a draw ``z' = mu' + sigma' * eps`` decoded as the frames' own
    speakers ``spk (B, T)``. Returns the Gaussian NLL of ``x`` under the round trip ``(B, T)`` (nats per frame,
    as :func:`loss_terms`) and the KL of the conversion's posterior ``(B, T')``. A decoder that takes prosody
    decodes the conversion with ``pros_other`` (the frames' F0 mapped to the other speakers) and the way back
    with the frames' own ``pros``.

    Why: the plain VAE only ever decodes z with its own speaker, so nothing in its loss asks a conversion to
    carry the content; the round trip does, and it penalises speaker detail left in z (it would be decoded
    twice). No parallel data is used: the reference is the input itself."""
    conv, _ = model.decode(z, None, other, pros_other)
    mu2, logvar2 = model.encode(conv, None, other.repeat_interleave(model.stride, dim=1))
    back, lv = model.decode(mu2 + torch.exp(0.5 * logvar2) * eps, None, spk[:, :: model.stride], pros)
    recon = 0.5 * (((x - back) ** 2) * torch.exp(-lv) + lv + LOG_2PI).sum(dim=-1)
    return recon, gaussian_kl(mu2, logvar2).sum(dim=-1)


def parallel_term(model: nn.Module, x: torch.Tensor, y: torch.Tensor, spk: torch.Tensor, tgt: torch.Tensor,
                  pros_tgt: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, T)``: the Gaussian NLL (nats per frame, as :func:`loss_terms`) of the target frames ``y (B, T, D)`` under
    the conversion of the source frames ``x (B, T, D)``: their posterior means (encoded as speakers ``spk (B, T)``)
    decoded as speakers ``tgt (B, T)`` with ``pros_tgt``, the source's prosody mapped to the target (what
    ``speechvae convert`` decodes). ``x`` and ``y`` are DTW-aligned readings of one sentence
    (:mod:`speechvae.training.pairs`): the supervision a parallel corpus gives, which the cycle term's round trip does
    without."""
    mu, _ = model.encode(x, None, spk)
    out, lv = model.decode(mu, None, tgt[:, :: model.stride], pros_tgt)
    return 0.5 * (((y - out) ** 2) * torch.exp(-lv) + lv + LOG_2PI).sum(dim=-1)


def decode_means(model: nn.Module, mu: torch.Tensor, spk: torch.Tensor | None = None,
                 pros: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, T, D)``: the posterior means ``mu (B, T', latent)`` decoded as the frames' own speakers ``spk (B, T)``
    (with their prosody ``pros``): the decode reconstruction and conversion use, which :func:`variance_term` and
    :func:`mean_decode_error` judge (decoded once for both)."""
    return model.decode(mu, None, None if spk is None else spk[:, :: model.stride], pros)[0]


def variance_term(model: nn.Module, x: torch.Tensor, rec: torch.Tensor, spk: torch.Tensor | None = None,
                  mu: torch.Tensor | None = None, other: torch.Tensor | None = None,
                  pros_other: torch.Tensor | None = None) -> torch.Tensor:
    """The variance term of ``loss.gv`` (scalar, >= 0): for ``rec``, the :func:`decode_means` of the frames
    ``x (B, T, D)`` (speakers ``spk (B, T)``), the mean over the D dimensions of (ln var(rec) - ln var(x))^2, variances
    over the batch's B x T frames; given ``other (B, T')`` (the cycle term's other speakers) also the posterior means
    ``mu (B, T', latent)`` decoded as them (with ``pros_other``), each speaker's conversions against that speaker's
    frames in the batch; the mean over these gaps.

    Why: conversion and reconstruction decode the posterior mean, and a Gaussian decoder trained on squared error
    regresses to the conditional mean, so the decodes vary less than speech does (ARCTIC bdl <-> slt conversions kept
    0.28 of the target's per-utterance variance); the post-filter rescales afterwards at a cost in MCD, this term asks
    the decoder to spread its outputs while it learns. Variances over random frames of many utterances are global, not
    per-utterance, variances: what a frame-wise batch can give. Measured (README "Against over-smoothing"): on ARCTIC
    it brings the conversions' GV ratio to 1.0 at 1.1-1.6 dB of MCD, more than the GV post-filter pays for as much."""
    gaps = [_log_variance_gap(rec.flatten(0, 1), x.flatten(0, 1))]
    if other is not None:
        conv, _ = model.decode(mu, None, other, pros_other)
        conv, to = conv.flatten(0, 1), other.repeat_interleave(model.stride, dim=1).flatten()
        frames, own = x.flatten(0, 1), spk.flatten()
        for s in to.unique():
            a, b = conv[to == s], frames[own == s]
            if len(a) > 1 and len(b) > 1:  # a variance needs two frames
                gaps.append(_log_variance_gap(a, b))
    return torch.stack(gaps).mean()


def mean_decode_error(x: torch.Tensor, rec: torch.Tensor) -> torch.Tensor:
    """The term of ``loss.mean_recon`` (scalar): half the squared error of ``rec``, the :func:`decode_means` of the
    frames ``x (B, T, D)``, summed over D, mean per frame (a unit-variance Gaussian NLL less its constant). The ELBO
    trains the decoder on draws around ``mu``; this trains the decode that conversion and reconstruction use, and
    keeps :func:`variance_term` from buying variance that the frames lack. Measured on ARCTIC: own-speaker held-out
    MCD 3.3 dB against 4.35 at the same KL, conversions 0.57 dB worse."""
    return 0.5 * ((x - rec) ** 2).sum(dim=-1).mean()


def _log_variance_gap(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mean over dimensions of (ln var(est) - ln var(ref))^2 for ``est (N, D)``, ``ref (M, D)`` (population
    variances over rows; ``ref`` is data, held fixed)."""
    v_est = est.var(dim=0, unbiased=False) + 1e-6
    v_ref = ref.detach().var(dim=0, unbiased=False) + 1e-6
    return ((torch.log(v_est) - torch.log(v_ref)) ** 2).mean()


def objective(terms: LossTerms, beta: float, free_bits: float = 0.0, commitment: float = 0.0) -> torch.Tensor:
    """Scalar to minimise per frame: mean recon + beta * KL, KL per dim floored at ``free_bits`` nats
    (+ ``commitment`` * the VQ commitment term per frame)."""
    if terms.commit is not None:
        return terms.recon.mean() + commitment * terms.commit_per_frame
    kl = terms.kl_per_dim.clamp(min=free_bits).sum() if free_bits > 0 else terms.kl_per_frame
    return terms.recon.mean() + beta * kl


@torch.no_grad()
def iw_log_likelihood(model: nn.Module, x: torch.Tensor, k: int, generator: torch.Generator | None = None,
                      spk: torch.Tensor | None = None, pros: torch.Tensor | None = None) -> torch.Tensor:
    """Importance-weighted lower bound of log p(x) (Burda et al. 2016) with ``k`` posterior samples, in
    nats per frame of ``x (B, T, D)`` in the model's normalised space: a scalar (mean over frames).
    K = 1 is the ELBO; the bound tightens as K grows. ``spk (B, T)``: a speaker-conditioned model's speakers;
    ``pros (B, T, 2)``: the frames' prosody, for a decoder that takes it."""
    if model.vq is not None:
        raise ValueError("a VQ-VAE has no posterior to sample: its rate is the code's bits (no NLL estimate)")
    mu, logvar = model.encode(x, None, spk)
    dec_spk = None if spk is None else spk[:, :: model.stride]
    logs = []
    for _ in range(k):
        eps = torch.randn(mu.shape, generator=generator, device=x.device, dtype=x.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        mean, lv = model.decode(z, None, dec_spk, pros)
        log_px = -0.5 * (((x - mean) ** 2) * torch.exp(-lv) + lv + LOG_2PI).sum(dim=(1, 2))
        log_pz = -0.5 * (z**2 + LOG_2PI).sum(dim=(1, 2))
        log_qz = -0.5 * (eps**2 + logvar + LOG_2PI).sum(dim=(1, 2))
        logs.append(log_px + log_pz - log_qz)
    return ((torch.logsumexp(torch.stack(logs), dim=0) - math.log(k)).sum() / (x.shape[0] * x.shape[1]))
