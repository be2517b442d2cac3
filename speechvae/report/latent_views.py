"""A look inside the latent: what the decoder makes of points of the latent space.

- :func:`latent_grid` (2-dim latent models): decoded spectral envelopes over a grid of the latent plane;
- :func:`latent_scatter` (2-dim latent): the posterior means of frames, coloured voiced / unvoiced and
  by speaker;
- :func:`prior_samples` (any model): frames decoded from z ~ N(0, I) (a VQ-VAE: uniformly drawn codes),
  their envelopes and GV beside the data's;
- :func:`interpolate` (any model): utterance A's latents moved step by step toward those of utterance B's
  DTW-aligned frames, with A's F0, power and aperiodicity, so the path can be heard.

Envelopes are shown in dB over frequency in kHz, at the mean training power (c0 fixed), so the picture
shows spectral shape, not loudness.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from speechvae.analysis.align import dtw_path
from speechvae.analysis.audio import write_wav
from speechvae.analysis.featdir import feature_path, speakers, utt_file
from speechvae.analysis.features import Features, vocode
from speechvae.analysis.mcep import mcep_to_sp
from speechvae.inference.model import Model, encode, with_latents
from speechvae.plots import gv_comparison, save_figure


def envelope_db(tm: Model, mcep_1: np.ndarray, c0: float) -> tuple[np.ndarray, np.ndarray]:
    """c1..c39 ``(N, 39)`` at power ``c0`` -> frequencies ``(F,)`` kHz and envelopes ``(N, F)`` dB."""
    a = tm.cfg.analysis
    sp = mcep_to_sp(np.c_[np.full(len(mcep_1), c0), mcep_1], a.alpha, a.fft_size)
    return np.arange(sp.shape[1]) * a.fs / a.fft_size / 1000.0, 10.0 * np.log10(sp)


@torch.no_grad()
def decode_points(tm: Model, z: np.ndarray) -> np.ndarray:
    """Latent vectors ``(N, latent)``, each decoded on its own -> c1..c39 ``(N, 39)`` (a temporal model's
    ``stride`` frames per vector: the middle one; a decoder that takes prosody: voiced at the training mean F0)."""
    zt = np.asarray(z, dtype=np.float32)[:, None, :]  # N sequences of one latent vector
    pros = torch.tensor([[[0.0, 1.0]]], device=tm.device).expand(len(zt), 1, 2) if tm.model.n_prosody_inputs else None
    mean, _ = tm.model.decode(torch.as_tensor(zt, device=tm.device), pros=pros)
    mid = mean[:, tm.model.stride // 2].cpu().numpy().astype(np.float64)
    return tm.checkpoint.stats.denormalize(mid, tm.cfg.model.scaling)


def _require_2d(tm: Model) -> None:
    if tm.cfg.model.latent != 2 or tm.model.vq is not None:
        raise ValueError(f"the latent plane needs a Gaussian model with model.latent=2 (this one: latent "
                         f"{tm.cfg.model.latent}{', VQ' if tm.model.vq is not None else ''})")


def latent_grid(tm: Model, c0: float, n: int = 7, extent: float = 2.5) -> Figure:
    """``n x n`` decoded envelopes over z in [-extent, extent]^2 (prior standard deviations), z1 across,
    z2 up; one small panel per point, dB over kHz, shared axes."""
    _require_2d(tm)
    grid = np.linspace(-extent, extent, n)
    z = np.array([[x, y] for y in grid[::-1] for x in grid])
    khz, db = envelope_db(tm, decode_points(tm, z), c0)
    fig = Figure(figsize=(1.5 * n, 1.2 * n))
    axes = fig.subplots(n, n, sharex=True, sharey=True)
    for k, ax in enumerate(axes.flat):
        ax.plot(khz, db[k], lw=0.8)
        ax.tick_params(labelsize=5)
        r, c = divmod(k, n)
        if c == 0:
            ax.set_ylabel(f"z2={grid[::-1][r]:.1f}\ndB", fontsize=6)
        if r == n - 1:
            ax.set_xlabel(f"kHz\nz1={grid[c]:.1f}", fontsize=6)
    fig.suptitle("decoded spectral envelopes over the latent plane (mean power)", fontsize=9)
    fig.tight_layout()
    return fig


def latent_scatter(tm: Model, feats: list[Features], speakers: list[str]) -> Figure:
    """Posterior means of every frame of ``feats`` on the latent plane: voiced / unvoiced, and (a second
    panel) by speaker when there are several."""
    _require_2d(tm)
    mus = [encode(tm, f)[0] for f in feats]
    mu = np.concatenate(mus)
    voiced = np.concatenate([f.vuv[:: tm.model.stride][: len(m)] for f, m in zip(feats, mus)])
    spk = np.concatenate([[s] * len(m) for s, m in zip(speakers, mus)])
    several = len(set(speakers)) > 1
    fig = Figure(figsize=(11 if several else 5.5, 5))
    axes = np.atleast_1d(fig.subplots(1, 2 if several else 1))
    for mask, name, col in ((~voiced, "unvoiced", "tab:gray"), (voiced, "voiced", "tab:red")):
        axes[0].scatter(mu[mask, 0], mu[mask, 1], s=3, alpha=0.4, color=col, label=name)
    if several:
        for s in sorted(set(speakers)):
            axes[1].scatter(mu[spk == s, 0], mu[spk == s, 1], s=3, alpha=0.4, label=s)
    for ax in axes:
        ax.set(xlabel="z1", ylabel="z2")
        ax.legend(markerscale=4, fontsize=7)
        ax.grid(alpha=0.3)
    axes[0].set_title(f"posterior means of {len(mu)} held-out frames")
    fig.tight_layout()
    return fig


@torch.no_grad()
def prior_samples(tm: Model, n: int, seed: int = 0) -> np.ndarray:
    """c1..c39 ``(n, 39)`` decoded from ``n`` draws of the prior: z ~ N(0, I), or for a VQ-VAE codes drawn
    uniformly (its prior)."""
    g = np.random.default_rng(seed)
    vq = tm.model.vq
    if vq is not None:
        codes = torch.as_tensor(g.integers(0, vq.size, (n, vq.n)), device=tm.device)
        z = vq.lookup(codes).cpu().numpy()
    else:
        z = g.standard_normal((n, tm.cfg.model.latent))
    return decode_points(tm, z)


def prior_figures(tm: Model, samples: np.ndarray, data_gv: np.ndarray, c0: float, shown: int = 8) -> dict:
    """``prior_envelopes.png`` (the first ``shown`` samples' envelopes) and ``prior_gv.png`` (the samples'
    per-dimension variance beside the data's, ``data_gv (39,)``)."""

    khz, db = envelope_db(tm, samples[:shown], c0)
    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    for k in range(len(db)):
        ax.plot(khz, db[k], lw=0.8)
    ax.set(xlabel="frequency (kHz)", ylabel="dB", title=f"envelopes decoded from {shown} prior samples (mean power)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    label = "decodes of uniform random codes" if tm.model.vq is not None else "decodes of z ~ N(0, I)"
    return {"prior_envelopes.png": fig, "prior_gv.png": gv_comparison(data_gv, samples.var(axis=0), label)}


def interpolate(tm: Model, a: Features, b: Features, steps: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
                ) -> list[Features]:
    """Utterance ``a`` with its latents moved toward those of ``b``: b's frames are DTW-aligned to a's (on
    c1..c39), encoded as one sequence of a's length, and z_t = (1 - t) z_a + t z_b decoded for each t of
    ``steps``; F0, c0 and aperiodicity stay a's. t = 0 is a's own reconstruction."""
    path = dtw_path(a.mcep[:, 1:], b.mcep[:, 1:])
    b_on_a = a.replace_mcep(b.mcep[path])  # b's spectra on a's time axis
    za, zb = encode(tm, a)[0], encode(tm, b_on_a)[0]
    return [with_latents(tm, a, (1 - t) * za + t * zb) for t in steps]


def interpolation_figure(tm: Model, versions: list[Features], steps: tuple[float, ...], voiced: np.ndarray,
                         title: str) -> Figure:
    """Mean envelope over a's voiced frames for each step t (dB over kHz, mean power)."""
    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    mask = voiced if voiced.any() else np.ones_like(voiced)
    c0 = float(np.mean(versions[0].mcep[mask, 0]))
    for t, f in zip(steps, versions):
        khz, db = envelope_db(tm, f.mcep[mask, 1:].mean(axis=0, keepdims=True), c0)
        ax.plot(khz, db[0], lw=1, label=f"t = {t:g}")
    ax.set(xlabel="frequency (kHz)", ylabel="dB", title=title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def write_views(tm: Model, featdir: str | Path, utt_ids: list[str], outdir: str | Path, *,
                samples: int = 256, interpolate_pair: tuple[str, str] | None = None, seed: int = 0) -> list[Path]:
    """The views that apply to the model into ``outdir``: prior_envelopes.png, prior_gv.png; latent_grid.png
    and latent_scatter.png for a 2-dim latent; with ``interpolate_pair`` (A, B), interp/A_to_B_t<t>.wav and
    interpolation.png. Returns the paths written."""

    outdir = Path(outdir)
    # envelopes drawn at the mean power of (up to 20 of) these utterances; data GV = training variance per dim
    c0 = float(np.mean([Features.load(feature_path(featdir, u)).mcep[:, 0].mean() for u in utt_ids[:20]]))
    figs = prior_figures(tm, prior_samples(tm, samples, seed), tm.checkpoint.stats.mcep_std**2, c0)
    if tm.cfg.model.latent == 2 and tm.model.vq is None:
        spk = {u: s for s, us in speakers(featdir, utt_ids).items() for u in us}
        feats = [Features.load(feature_path(featdir, u)) for u in utt_ids]
        figs["latent_grid.png"] = latent_grid(tm, c0)
        figs["latent_scatter.png"] = latent_scatter(tm, feats, [spk.get(u, "-") for u in utt_ids])
    paths = [save_figure(fig, outdir / name) for name, fig in figs.items()]
    if interpolate_pair:
        ua, ub = interpolate_pair
        a, b = Features.load(feature_path(featdir, ua)), Features.load(feature_path(featdir, ub))
        steps = (0.0, 0.25, 0.5, 0.75, 1.0)
        versions = interpolate(tm, a, b, steps)
        for t, f in zip(steps, versions):
            p = utt_file(outdir / "interp", f"{ua}_to_{ub.replace('/', '_')}", f"_t{t:.2f}.wav")
            write_wav(p, vocode(f), f.fs)
            paths.append(p)
        fig = interpolation_figure(tm, versions, steps, a.vuv, f"{ua} toward {ub}: mean voiced envelope")
        paths.append(save_figure(fig, outdir / "interpolation.png"))
    return paths
