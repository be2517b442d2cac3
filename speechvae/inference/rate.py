"""The rate of a model's code on held-out utterances: KL per frame (nats and kbit/s), a VQ-VAE's bits, and the
importance-weighted held-out negative log-likelihood.
"""
from __future__ import annotations

import numpy as np
import torch

from speechvae.analysis.featdir import feature_path, utterance_speakers
from speechvae.analysis.features import Features
from speechvae.inference.model import Model, encode_codes, model_input, posterior
from speechvae.models.losses import gaussian_kl, iw_log_likelihood


@torch.no_grad()
def heldout_nll(tm: Model, featdir, utt_ids: list[str], k: int, seed: int = 0) -> dict:
    """Importance-weighted estimate (K = ``k`` samples) of the negative log-likelihood of the utterances'
    raw c1..c39 frames: ``nll_nats_per_frame`` and ``nll_bits_per_dim`` (lower is better). The model's
    normalisation is undone by its log-Jacobian, so models with other scalings compare."""

    g = torch.Generator(device=tm.device).manual_seed(seed)
    spk = utterance_speakers(featdir) if tm.conditioned else {}
    total, frames = 0.0, 0
    for u in utt_ids:
        f = Features.load(feature_path(featdir, u))
        x = model_input(tm, f)
        s = tm.speaker_ids(spk.get(u), x.shape[1], 1)  # a conditioned decoder: its speaker on every frame
        total += float(iw_log_likelihood(tm.model, x, k, g, s, tm.prosody(f.f0, x.shape[1]))) * x.shape[1]
        frames += x.shape[1]
    scale = tm.checkpoint.stats.scale(tm.cfg.model.scaling)
    nll = -total / frames + float(np.sum(np.log(scale)))
    return {"nll_nats_per_frame": nll, "nll_bits_per_dim": nll / (len(scale) * np.log(2)), "nll_samples": k}


@torch.no_grad()
def rate(tm: Model, featdir, utt_ids: list[str]) -> dict:
    """The code's rate on these utterances: mean KL(q(z|x) || N(0, I)) per frame (``kl_nats_per_frame``;
    a bound on the bits a code needs, per Hinton and van Camp's bits-back argument) and the same as
    ``kbit_per_s`` at the features' frame rate (1 nat/frame at 5 ms frames = 289 bit/s).

    A VQ-VAE: the exact ``bits_per_frame`` (codebooks x log2 entries / stride) and its ``kbit_per_s``, and
    ``codebooks``: per codebook the share of entries these utterances use and the perplexity."""

    if tm.model.vq is not None:
        return _vq_rate(tm, featdir, utt_ids)
    spk = utterance_speakers(featdir) if tm.conditioned else {}
    kl, frames = 0.0, 0
    for u in utt_ids:
        f = Features.load(feature_path(featdir, u))
        mu, logvar = posterior(tm, f, spk.get(u))  # the KL needs only the posterior
        kl += float(gaussian_kl(mu, logvar).sum())
        frames += len(mu[0]) * tm.model.stride
    nats = kl / frames
    return {"kl_nats_per_frame": nats, "kbit_per_s": nats_to_kbit_s(nats, tm.cfg.analysis.frame_period)}


def nats_to_kbit_s(nats_per_frame: float, frame_period_ms: float) -> float:
    """nats per frame -> kbit/s: / ln 2 for bits, x frames per second.

    >>> round(nats_to_kbit_s(1.0, 5.0), 4)   # 200 frames/s / ln 2
    0.2885
    """
    return bits_to_kbit_s(nats_per_frame / float(np.log(2.0)), frame_period_ms)


def bits_to_kbit_s(bits_per_frame: float, frame_period_ms: float) -> float:
    """bits per frame -> kbit/s: x frames per second / 1000.

    >>> bits_to_kbit_s(40, 5.0)   # 40 bits every 5 ms
    8.0
    """
    return bits_per_frame * (1000.0 / frame_period_ms) / 1000.0


@torch.no_grad()
def _vq_rate(tm: Model, featdir, utt_ids: list[str]) -> dict:
    vq = tm.model.vq
    counts = torch.zeros(vq.n, vq.size, dtype=torch.float64)
    spk = utterance_speakers(featdir) if tm.conditioned else {}
    for u in utt_ids:
        codes = torch.as_tensor(encode_codes(tm, Features.load(feature_path(featdir, u)), spk.get(u)).astype(np.int64))
        for i in range(vq.n):
            counts[i] += torch.bincount(codes[:, i], minlength=vq.size).double()
    bits = tm.model.bits_per_frame
    u = vq.usage_stats(counts)
    return {"bits_per_frame": bits, "kbit_per_s": bits_to_kbit_s(bits, tm.cfg.analysis.frame_period),
            "codebooks": {"used": u["used"], "perplexity": u["perplexity"], "entries": vq.size, "kind": vq.kind}}
