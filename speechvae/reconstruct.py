"""Reconstruction through a trained VAE: mel-cepstra in, mel-cepstra out (c0, F0 and
aperiodicity untouched), with the optional global-variance post-filter.

Use: ``tm = load_model("data/demo/exp/demo")`` then ``reconstruct(tm, Features.load(path))``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import Checkpoint, checkpoint_path, load_checkpoint
from .config import Config
from .features import Features, check_compatible
from .modspec import ms_postfilter
from .train import resolve_device


@dataclass
class TrainedModel:
    model: torch.nn.Module  # a speechvae.models model
    checkpoint: Checkpoint
    device: torch.device
    checkpoint_path: Path | None = None  # the file it was loaded from

    @property
    def cfg(self) -> Config:
        return self.checkpoint.cfg

    @property
    def conditioned(self) -> bool:
        """True for a speaker-conditioned model (its decoder, and with ``both`` its encoder, take a speaker)."""
        return self.cfg.model.conditioning != "none"

    def speaker_ids(self, speaker: str | None, steps: int, side: int) -> torch.Tensor | None:
        """``(1, steps)`` indices of ``speaker`` for the encoder (side 0) or decoder (1) when that side is
        speaker-conditioned, else None; refuses a missing or unknown speaker there."""
        if self.model.n_speaker_inputs[side] == 0:
            return None
        if speaker is None:
            raise ValueError(f"this model is speaker-conditioned ({', '.join(self.cfg.model.speakers)}): "
                             "say which speaker")
        return torch.full((1, steps), self.checkpoint.speaker_index(speaker), dtype=torch.long, device=self.device)

    def prosody(self, f0: np.ndarray | None, steps: int) -> torch.Tensor | None:
        """``(1, steps, 2)`` prosody inputs of ``f0`` (Hz, padded with unvoiced frames to ``steps``) when the
        decoder takes them (``model.prosody``), else None; refuses a missing F0 there."""
        if not self.model.n_prosody_inputs:
            return None
        if f0 is None:
            raise ValueError("this model's decoder takes F0 (model.prosody): give the F0 to decode with")
        from .prosody import prosody_inputs

        p = np.zeros((steps, 2), dtype=np.float32)
        n = min(steps, len(f0))
        p[:n] = prosody_inputs(np.asarray(f0)[:n], self.checkpoint.stats)
        return torch.from_numpy(p)[None].to(self.device)


def load_model(path: str | Path, device: str = "auto") -> TrainedModel:
    """An experiment folder or checkpoint file -> model in eval mode with its config and stats."""
    ck = load_checkpoint(path)
    dev = resolve_device(device)
    return TrainedModel(ck.build_model(dev), ck, dev, checkpoint_path(path))


def with_postfilter(tm: TrainedModel, gv: bool | None = None, weight: float | None = None, *, ms: bool | None = None,
                    ms_weight: float | None = None, high_from: int | None = None,
                    weight_high: float | None = None) -> TrainedModel:
    """``tm`` with its config's ``postfilter.gv`` / ``gv_weight`` / ``ms`` / ``ms_weight`` / ``gv_high_from`` /
    ``gv_weight_high`` replaced where given (a command's flags over the checkpoint's config; the weights are shared,
    not copied)."""
    from .config import validate

    pf = tm.cfg.postfilter
    given = {"gv": gv, "gv_weight": weight, "ms": ms, "ms_weight": ms_weight, "gv_high_from": high_from,
             "gv_weight_high": weight_high}
    pf = dataclasses.replace(pf, **{k: v for k, v in given.items() if v is not None})
    cfg = dataclasses.replace(tm.cfg, postfilter=pf)
    validate(cfg)
    if pf.ms:  # refuse before any work, not once per utterance
        for stats in tm.checkpoint.speaker_stats.values() or [tm.checkpoint.stats]:
            _ms_stats(tm, stats)
    return dataclasses.replace(tm, checkpoint=dataclasses.replace(tm.checkpoint, cfg=cfg))


def _ms_stats(tm: TrainedModel, stats) -> np.ndarray:
    if stats.mcep_ms is None:
        raise ValueError(f"{tm.checkpoint_path}: the model's statistics have no modulation spectrum (it was trained "
                         "before they were kept): retrain it to use the modulation-spectrum post-filter")
    return stats.mcep_ms


def gv_weights(pf, dims: int) -> np.ndarray:
    """``(dims,)`` GV post-filter weights of c1..c<dims> under a :class:`~speechvae.config.PostfilterConfig`:
    ``gv_weight``, and ``gv_weight_high`` from c<gv_high_from> up when that is set.

    >>> from speechvae.config import PostfilterConfig
    >>> gv_weights(PostfilterConfig(gv_weight=0.2, gv_high_from=4, gv_weight_high=1.0), 5).tolist()
    [0.2, 0.2, 0.2, 1.0, 1.0]
    >>> gv_weights(PostfilterConfig(gv_weight=0.7), 3).tolist()
    [0.7, 0.7, 0.7]
    """
    w = np.full(dims, pf.gv_weight)
    if pf.gv_high_from:
        w[pf.gv_high_from - 1:] = pf.gv_weight_high
    return w


def gv_postfilter(mcep_1: np.ndarray, target_gv: np.ndarray, weight: float | np.ndarray = 1.0) -> np.ndarray:
    """Scale each dim of ``(T, 39)`` c1..c39 about its utterance mean so that its variance over
    the utterance equals ``target_gv`` ``(39,)`` (the training set's mean per-utterance variance; for a
    conversion, the target speaker's); ``weight`` < 1 goes that share of the way in log variance
    (0.5: the geometric mean of the utterance's variance and the target's); one per dim as ``(39,)``.

    >>> x = np.random.default_rng(0).standard_normal((200, 3)) * [1.0, 0.5, 0.1]
    >>> y = gv_postfilter(0.5 * x, target_gv=x.var(axis=0))   # an over-smoothed copy, restored
    >>> bool(np.allclose(y.var(axis=0), x.var(axis=0))), bool(np.allclose(y.mean(axis=0), 0.5 * x.mean(axis=0)))
    (True, True)
    >>> h = gv_postfilter(0.5 * x, target_gv=x.var(axis=0), weight=0.5)   # variance 1/4 -> 1/2 of the target's
    >>> np.round(h.var(axis=0) / x.var(axis=0), 3).tolist()
    [0.5, 0.5, 0.5]
    """
    mean = mcep_1.mean(axis=0)
    var = np.maximum(mcep_1.var(axis=0), 1e-12)
    return (mcep_1 - mean) * (target_gv / var) ** (weight / 2) + mean


def model_input(tm: TrainedModel, feats: Features) -> torch.Tensor:
    """Normalised c1..c39 of an utterance as one ``(1, T', 39)`` sequence, T' = T rounded up to a multiple
    of the model's stride (the last frame repeated)."""
    x = tm.checkpoint.stats.normalize(feats.mcep[:, 1:], tm.cfg.model.scaling)
    pad = -len(x) % tm.model.stride
    x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
    return torch.as_tensor(x, dtype=torch.float32, device=tm.device)[None]


def _encode(tm: TrainedModel, feats: Features, speaker: str | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    x = model_input(tm, feats)
    return tm.model.encode(x, None, tm.speaker_ids(speaker, x.shape[1], 0))


@torch.no_grad()
def encode(tm: TrainedModel, feats: Features, speaker: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and std of q(z|x): two ``(ceil(T / stride), latent)`` arrays (one row per frame
    for a frame-wise model). A VQ-VAE: the quantised latent and zeros. ``speaker``: who speaks, for a
    model whose encoder is speaker-conditioned (``model.conditioning: both``; ignored otherwise)."""
    mu, logvar = _encode(tm, feats, speaker)
    if tm.model.vq is not None:
        zq = tm.model.vq(mu)[0][0].cpu().numpy()
        return zq, np.zeros_like(zq)
    return mu[0].cpu().numpy(), torch.exp(0.5 * logvar[0]).cpu().numpy()


@torch.no_grad()
def encode_codes(tm: TrainedModel, feats: Features, speaker: str | None = None) -> np.ndarray:
    """A VQ-VAE's code indices ``(ceil(T / stride), n)`` in the smallest unsigned dtype that holds K - 1."""
    vq = _require_vq(tm)
    mu, _ = _encode(tm, feats, speaker)
    return vq(mu)[1][0].cpu().numpy().astype(np.min_scalar_type(vq.size - 1))


@torch.no_grad()
def codes_to_latents(tm: TrainedModel, codes: np.ndarray) -> np.ndarray:
    """Code indices ``(T', n)`` -> the quantised latent ``(T', latent)`` float32 that :func:`decode` takes."""
    vq = _require_vq(tm)
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != vq.n or codes.min(initial=0) < 0 or codes.max(initial=0) >= vq.size:
        raise ValueError(f"codes of shape {codes.shape} (max {codes.max(initial=0)}) do not fit this model's "
                         f"{vq.n} codebooks of {vq.size} entries")
    return vq.lookup(torch.as_tensor(codes.astype(np.int64), device=tm.device)).cpu().numpy()


def _require_vq(tm: TrainedModel):
    if tm.model.vq is None:
        raise ValueError("this model has no codebooks (model.quantizer: none): its code is the latent mean")
    return tm.model.vq


@torch.no_grad()
def decode(tm: TrainedModel, z: np.ndarray, frames: int | None = None, speaker: str | None = None,
           f0: np.ndarray | None = None) -> np.ndarray:
    """Latents ``(T', latent)`` -> denormalised c1..c39 ``(T' * stride, 39)`` (decoder mean), cut to
    ``frames`` when given; a speaker-conditioned model decodes them as ``speaker``, a decoder that takes prosody
    (``model.prosody``) with ``f0 (T',)`` in Hz (the F0 the frames will be voiced with)."""
    mean, _ = tm.model.decode(torch.as_tensor(z, dtype=torch.float32, device=tm.device)[None], None,
                              tm.speaker_ids(speaker, len(z), 1), tm.prosody(f0, len(z)))
    mean = mean[0, :frames].cpu().numpy().astype(np.float64)
    return tm.checkpoint.stats.denormalize(mean, tm.cfg.model.scaling)


@torch.no_grad()
def heldout_nll(tm: TrainedModel, featdir, utt_ids: list[str], k: int, seed: int = 0) -> dict:
    """Importance-weighted estimate (K = ``k`` samples) of the negative log-likelihood of the utterances'
    raw c1..c39 frames: ``nll_nats_per_frame`` and ``nll_bits_per_dim`` (lower is better). The model's
    normalisation is undone by its log-Jacobian, so models with other scalings compare."""
    from .models import iw_log_likelihood
    from .featdir import feature_path, utterance_speakers

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


def reconstruct(tm: TrainedModel, feats: Features, *, sample: bool = False, seed: int = 0,
                postfilter: bool | None = None, what: str = "features", speaker: str | None = None) -> Features:
    """Features -> the same Features with c1..c39 replaced by the VAE's reconstruction.

    ``sample=False`` decodes the posterior mean; ``True`` draws z ~ q(z|x) (seeded).
    ``postfilter=None`` follows the model config's ``postfilter.gv``. ``speaker``: who speaks (required by
    a speaker-conditioned model, which encodes and decodes with that speaker's code).
    """
    check_compatible(feats, tm.cfg.analysis, what)
    mu, sigma = encode(tm, feats, speaker)
    z = mu + sigma * np.random.default_rng(seed).standard_normal(mu.shape) if sample else mu
    return with_latents(tm, feats, z, postfilter, speaker)


def with_latents(tm: TrainedModel, feats: Features, z: np.ndarray, postfilter: bool | None = None,
                 speaker: str | None = None) -> Features:
    """``feats`` with c1..c39 replaced by the decode of latents ``z (T', latent)`` (cut to ``feats.frames``; as
    ``speaker`` for a conditioned model), modulation-spectrum post-filtered when the model's ``postfilter.ms``, then
    GV post-filtered when ``postfilter`` (None: the model's ``postfilter.gv``), toward the training set's statistics
    (a conditioned model: ``speaker``'s); c0, F0 and aperiodicity kept (a decoder that takes prosody decodes with
    ``feats.f0``)."""
    rec = decode(tm, z, feats.frames, speaker, feats.f0)
    stats = tm.checkpoint.speaker_stats.get(speaker, tm.checkpoint.stats)
    pf = tm.cfg.postfilter
    if pf.ms:
        rec = ms_postfilter(rec, _ms_stats(tm, stats), pf.ms_weight)
    if postfilter if postfilter is not None else pf.gv:
        rec = gv_postfilter(rec, stats.mcep_gv, gv_weights(pf, rec.shape[1]))
    mcep = feats.mcep.copy()
    mcep[:, 1:] = rec
    return feats.replace_mcep(mcep)


@torch.no_grad()
def rate(tm: TrainedModel, featdir, utt_ids: list[str]) -> dict:
    """The code's rate on these utterances: mean KL(q(z|x) || N(0, I)) per frame (``kl_nats_per_frame``;
    a bound on the bits a code needs, per Hinton and van Camp's bits-back argument) and the same as
    ``kbit_per_s`` at the features' frame rate (1 nat/frame at 5 ms frames = 289 bit/s).

    A VQ-VAE: the exact ``bits_per_frame`` (codebooks x log2 entries / stride) and its ``kbit_per_s``, and
    ``codebooks``: per codebook the share of entries these utterances use and the perplexity."""
    from .featdir import feature_path, utterance_speakers
    from .models import gaussian_kl

    if tm.model.vq is not None:
        return _vq_rate(tm, featdir, utt_ids)
    spk = utterance_speakers(featdir) if tm.conditioned else {}
    kl, frames = 0.0, 0
    for u in utt_ids:
        f = Features.load(feature_path(featdir, u))
        mu, logvar = _encode(tm, f, spk.get(u))  # the KL needs only the posterior
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
def _vq_rate(tm: TrainedModel, featdir, utt_ids: list[str]) -> dict:
    from .featdir import feature_path, utterance_speakers

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
