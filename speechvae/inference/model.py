"""A trained model, loaded from its experiment folder: encode, decode, reconstruct and convert utterances.

Mel-cepstra in, mel-cepstra out: c0 (power), F0 and aperiodicity are kept, so a reconstruction or a conversion has
the input's frames, length and loudness contour, and the post-filters of the model's config apply
(:mod:`speechvae.inference.postfilter`).

>>> import speechvae as sv
>>> model = sv.load_model("exp/demo")                                    # doctest: +SKIP
>>> feats = sv.analyze("a.wav")                                          # doctest: +SKIP
>>> rec = model.reconstruct(feats)                                       # doctest: +SKIP
>>> code = model.encode(feats)                                           # doctest: +SKIP
>>> again = model.decode(code, like=feats)                               # == rec  # doctest: +SKIP

(``tests/test_api.py`` runs these lines on a trained model.)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from speechvae.analysis.features import Features, check_compatible
from speechvae.analysis.stats import Stats, compute_stats
from speechvae.config import Config, validate
from speechvae.device import resolve_device
from speechvae.inference.postfilter import gv_postfilter, gv_weights, ms_postfilter
from speechvae.models.checkpoint import Checkpoint, checkpoint_path, load_checkpoint
from speechvae.models.prosody import f0_map, prosody_inputs


@dataclass
class Model:
    """A trained model with its checkpoint (config, normalisation statistics, speakers), on ``device``.

    ``load_model(path)`` makes one. The methods are the Python API of the commands ``reconstruct``, ``encode``,
    ``decode`` and ``convert``; the module functions below them take the model as their first argument.
    """

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

        p = np.zeros((steps, 2), dtype=np.float32)
        n = min(steps, len(f0))
        p[:n] = prosody_inputs(np.asarray(f0)[:n], self.checkpoint.stats)
        return torch.from_numpy(p)[None].to(self.device)

    def reconstruct(self, feats: Features, *, speaker: str | None = None, sample: bool = False, seed: int = 0,
                    postfilter: bool | None = None) -> Features:
        """``feats`` with c1..c39 replaced by the model's reconstruction (see :func:`reconstruct`): the same frames,
        F0, c0 and aperiodicity.

        >>> from speechvae.analysis.features import Features
        >>> f = Features.load("tests/golden/expected/feats/golden.npz")
        >>> model = load_model("tests/golden/premove/checkpoint.pt", device="cpu")
        >>> rec = model.reconstruct(f)
        >>> rec.mcep.shape == f.mcep.shape, bool((rec.mcep[:, 0] == f.mcep[:, 0]).all()), bool((rec.f0 == f.f0).all())
        (True, True, True)
        >>> code = model.encode(f); code.shape, code.dtype                # one 4-dim posterior mean per 5-ms frame
        ((101, 4), dtype('float32'))
        >>> bool((model.decode(code, like=f).mcep == rec.mcep).all())
        True
        """
        return reconstruct(self, feats, sample=sample, seed=seed, postfilter=postfilter, speaker=speaker)

    def encode(self, feats: Features, *, speaker: str | None = None) -> np.ndarray:
        """The code of an utterance: a VQ-VAE's code indices ``(T', codebooks)`` (the smallest unsigned dtype), else
        the posterior means ``(T', latent)`` float32; T' = ceil(T / stride) latent vectors. ``speaker``: for an
        encoder that is speaker-conditioned (``model.conditioning: both``)."""
        check_compatible(feats, self.cfg.analysis, "features")
        if self.model.vq is not None:
            return encode_codes(self, feats, speaker)
        return encode(self, feats, speaker)[0]

    def decode(self, code: np.ndarray, like: Features, *, speaker: str | None = None,
               postfilter: bool | None = None) -> Features:
        """:meth:`encode`'s ``code`` -> ``like`` with c1..c39 decoded from it (c0, F0, aperiodicity and length from
        ``like``; the same post-filters as :meth:`reconstruct`, so ``decode(encode(f), like=f) == reconstruct(f)``).
        A speaker-conditioned model decodes as ``speaker``."""
        steps = -(-like.frames // self.model.stride)  # latent vectors of an utterance of like.frames frames
        width = self.model.vq.n if self.model.vq is not None else self.cfg.model.latent
        code = np.asarray(code)
        if code.shape != (steps, width):
            raise ValueError(f"a code of shape {code.shape} does not fit this model and {like.frames} frames: expected "
                             f"({steps}, {width}) ({'code indices' if self.model.vq is not None else 'latent means'})")
        z = codes_to_latents(self, code) if self.model.vq is not None else code.astype(np.float32)
        return with_latents(self, like, z, postfilter, speaker)

    def convert(self, feats: Features, to: str, *, speaker: str | None = None,
                source_stats: Stats | None = None) -> Features:
        """``feats`` converted to the voice of ``to`` (one of :attr:`speakers`): c1..c39 decoded with ``to``'s code,
        log-F0 moved from the source's mean/std to ``to``'s (:func:`speechvae.models.prosody.f0_map`), c0 and
        aperiodicity kept. The source's statistics: ``source_stats``, else ``speaker``'s from the checkpoint when the
        model knows that speaker, else this utterance's own voiced log-F0."""
        self.checkpoint.speaker_index(to)  # refuses an unconditioned model or an unknown target
        check_compatible(feats, self.cfg.analysis, "features")
        if source_stats is None:
            source_stats = self.checkpoint.speaker_stats.get(speaker) if speaker is not None else None
        if source_stats is None:
            source_stats = compute_stats([(feats.mcep[:, 1:], feats.f0)], feats.mcep.shape[1] - 1)
        known = speaker if speaker in self.cfg.model.speakers else None
        return convert(self, feats, known, to, source_stats)

    @property
    def speakers(self) -> tuple[str, ...]:
        """The speakers a conditioned model knows (empty for an unconditioned one)."""
        return tuple(self.cfg.model.speakers) if self.conditioned else ()


def load_model(path: str | Path, device: str = "auto") -> Model:
    """An experiment folder (``speechvae train -o EXPDIR``) or its ``checkpoint.pt`` -> :class:`Model` in eval mode,
    with the config and normalisation statistics the checkpoint holds (nothing else is read). ``device``: ``auto``
    (CUDA when present), ``cpu`` or ``cuda``.

    >>> model = load_model("tests/golden/premove/checkpoint.pt", device="cpu")   # a 3-epoch model of the test data
    >>> model.cfg.model.latent, model.conditioned, len(model.checkpoint.stats.mcep_mean)
    (4, False, 39)
    """
    ck = load_checkpoint(path)
    dev = resolve_device(device)
    return Model(ck.build_model(dev), ck, dev, checkpoint_path(path))


def model_input(tm: Model, feats: Features) -> torch.Tensor:
    """Normalised c1..c39 of an utterance as one ``(1, T', 39)`` sequence, T' = T rounded up to a multiple
    of the model's stride (the last frame repeated)."""
    x = tm.checkpoint.stats.normalize(feats.mcep[:, 1:], tm.cfg.model.scaling)
    pad = -len(x) % tm.model.stride
    x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
    return torch.as_tensor(x, dtype=torch.float32, device=tm.device)[None]


def posterior(tm: Model, feats: Features, speaker: str | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    x = model_input(tm, feats)
    return tm.model.encode(x, None, tm.speaker_ids(speaker, x.shape[1], 0))


@torch.no_grad()
def encode(tm: Model, feats: Features, speaker: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and std of q(z|x): two ``(ceil(T / stride), latent)`` arrays (one row per frame
    for a frame-wise model). A VQ-VAE: the quantised latent and zeros. ``speaker``: who speaks, for a
    model whose encoder is speaker-conditioned (``model.conditioning: both``; ignored otherwise)."""
    mu, logvar = posterior(tm, feats, speaker)
    if tm.model.vq is not None:
        zq = tm.model.vq(mu)[0][0].cpu().numpy()
        return zq, np.zeros_like(zq)
    return mu[0].cpu().numpy(), torch.exp(0.5 * logvar[0]).cpu().numpy()


@torch.no_grad()
def encode_codes(tm: Model, feats: Features, speaker: str | None = None) -> np.ndarray:
    """A VQ-VAE's code indices ``(ceil(T / stride), n)`` in the smallest unsigned dtype that holds K - 1."""
    vq = _require_vq(tm)
    mu, _ = posterior(tm, feats, speaker)
    return vq(mu)[1][0].cpu().numpy().astype(np.min_scalar_type(vq.size - 1))


@torch.no_grad()
def codes_to_latents(tm: Model, codes: np.ndarray) -> np.ndarray:
    """Code indices ``(T', n)`` -> the quantised latent ``(T', latent)`` float32 that :func:`decode` takes; a residual
    quantiser also takes the first m < n codebooks' indices ``(T', m)`` (a coarser code)."""
    vq = _require_vq(tm)
    codes = np.asarray(codes)
    m = codes.shape[1] if codes.ndim == 2 else -1
    fits = m == vq.n or (vq.kind == "residual" and 1 <= m < vq.n)
    if not fits or codes.min(initial=0) < 0 or codes.max(initial=0) >= vq.size:
        raise ValueError(f"codes of shape {codes.shape} (max {codes.max(initial=0)}) do not fit this model's "
                         f"{vq.n} {vq.kind} codebooks of {vq.size} entries")
    return vq.lookup(torch.as_tensor(codes.astype(np.int64), device=tm.device)).cpu().numpy()


def _require_vq(tm: Model):
    if tm.model.vq is None:
        raise ValueError("this model has no codebooks (model.quantizer: none): its code is the latent mean")
    return tm.model.vq


@torch.no_grad()
def decode(tm: Model, z: np.ndarray, frames: int | None = None, speaker: str | None = None,
           f0: np.ndarray | None = None) -> np.ndarray:
    """Latents ``(T', latent)`` -> denormalised c1..c39 ``(T' * stride, 39)`` (decoder mean), cut to
    ``frames`` when given; a speaker-conditioned model decodes them as ``speaker``, a decoder that takes prosody
    (``model.prosody``) with ``f0 (T',)`` in Hz (the F0 the frames will be voiced with)."""
    mean, _ = tm.model.decode(torch.as_tensor(z, dtype=torch.float32, device=tm.device)[None], None,
                              tm.speaker_ids(speaker, len(z), 1), tm.prosody(f0, len(z)))
    mean = mean[0, :frames].cpu().numpy().astype(np.float64)
    return tm.checkpoint.stats.denormalize(mean, tm.cfg.model.scaling)


def reconstruct(tm: Model, feats: Features, *, sample: bool = False, seed: int = 0,
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


def with_latents(tm: Model, feats: Features, z: np.ndarray, postfilter: bool | None = None,
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
        rec = ms_postfilter(rec, ms_target(tm, stats), pf.ms_weight)
    if postfilter if postfilter is not None else pf.gv:
        rec = gv_postfilter(rec, stats.mcep_gv, gv_weights(pf, rec.shape[1]))
    mcep = feats.mcep.copy()
    mcep[:, 1:] = rec
    return feats.replace_mcep(mcep)


def convert(tm, feats: Features, src: str | None, tgt: str, src_stats: Stats) -> Features:
    """``feats`` of speaker ``src`` converted to ``tgt`` by the speaker-conditioned model ``tm``
    (:class:`speechvae.inference.model.Model`): c1..c39 decoded from the posterior mean with ``tgt``'s code
    (``src`` goes to the encoder of a ``both``-conditioned model), F0 mapped with ``src_stats`` and the
    target's statistics from the checkpoint; c0 and aperiodicity kept. Same frames as ``feats``. A decoder that
    takes prosody (``model.prosody``) decodes with the mapped F0, the one the conversion is voiced with."""

    mu, _ = encode(tm, feats, src)
    mapped = dataclasses.replace(feats, f0=f0_map(feats.f0, src_stats, tm.checkpoint.speaker_stats[tgt]))
    return with_latents(tm, mapped, mu, speaker=tgt)


def with_postfilter(tm: Model, gv: bool | None = None, weight: float | None = None, *, ms: bool | None = None,
                    ms_weight: float | None = None, high_from: int | None = None,
                    weight_high: float | None = None) -> Model:
    """``tm`` with its config's ``postfilter.gv`` / ``gv_weight`` / ``ms`` / ``ms_weight`` / ``gv_high_from`` /
    ``gv_weight_high`` replaced where given (a command's flags over the checkpoint's config; the weights are shared,
    not copied)."""

    pf = tm.cfg.postfilter
    given = {"gv": gv, "gv_weight": weight, "ms": ms, "ms_weight": ms_weight, "gv_high_from": high_from,
             "gv_weight_high": weight_high}
    pf = dataclasses.replace(pf, **{k: v for k, v in given.items() if v is not None})
    cfg = dataclasses.replace(tm.cfg, postfilter=pf)
    validate(cfg)
    if pf.ms:  # refuse before any work, not once per utterance
        for stats in tm.checkpoint.speaker_stats.values() or [tm.checkpoint.stats]:
            ms_target(tm, stats)
    return dataclasses.replace(tm, checkpoint=dataclasses.replace(tm.checkpoint, cfg=cfg))


def ms_target(tm: Model, stats) -> np.ndarray:
    if stats.mcep_ms is None:
        raise ValueError(f"{tm.checkpoint_path}: the model's statistics have no modulation spectrum (it was trained "
                         "before they were kept): retrain it to use the modulation-spectrum post-filter")
    return stats.mcep_ms
