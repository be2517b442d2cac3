"""``speechvae plot``: a model's figures on one utterance (scatter, trajectory) and over its training (loss split
into reconstruction and KL, posterior mu / sigma, dead units, latent PCA).
"""
from __future__ import annotations

from pathlib import Path

import speechvae.plots as plots
from speechvae.analysis.featdir import feature_path
from speechvae.analysis.features import Features
from speechvae.inference.model import Model, encode, reconstruct


def write_plots(tm: Model, history: list[dict], featdir: str | Path, utt_id: str, outdir: str | Path,
                dims: tuple[int, int] = (1, 2), traj_dim: int = 21) -> list[Path]:
    """scatter.png, trajectory.png (utterance ``utt_id``), loss.png, posterior.png, dead_units.png,
    latent_pca.png into ``outdir``; returns their paths."""
    outdir = Path(outdir)
    f = Features.load(feature_path(featdir, utt_id))
    order = f.order
    for d in (*dims, traj_dim):
        if not 1 <= d <= order:
            raise ValueError(f"dimension {d} out of range: mel-cepstrum dims are 1..{order} (c0 is power)")
    rec = reconstruct(tm, f, what=str(feature_path(featdir, utt_id)))
    mu, _ = encode(tm, f)
    figs = {
        "scatter.png": plots.scatter(f.mcep, rec.mcep, *dims),
        "trajectory.png": plots.trajectory(f.mcep, rec.mcep, traj_dim, f.frame_period, f"{utt_id}: c{traj_dim}"),
        "latent_pca.png": plots.latent_pca(mu, f.vuv[:: tm.model.stride][: len(mu)]),
    }
    if history:
        figs.update({"loss.png": plots.loss_curves(history), "posterior.png": plots.posterior_monitors(history),
                     "dead_units.png": plots.dead_units(history)})
    return [plots.save_figure(fig, outdir / name) for name, fig in figs.items()]
