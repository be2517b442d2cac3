"""Plots people expect from spectral-VAE work. Each function returns a matplotlib Figure
(object API, no pyplot state), so callers decide where it goes; :func:`save_figure` writes PNG.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from scipy.signal import stft

from speechvae.store import atomic_path


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    return path


def f0_power_histogram(f0: np.ndarray, power_db: np.ndarray, speaker: str, floor: float, ceil: float) -> Figure:
    """Histograms of voiced-frame F0 (Hz) and frame power (dB) of one speaker, with the F0 search
    range used marked, so f0_floor / f0_ceil can be chosen from data."""
    fig = Figure(figsize=(10, 3.5))
    a, b = fig.subplots(1, 2)
    a.hist(f0, bins=np.arange(0, ceil + 10, 5), color="tab:blue")
    for v in (floor, ceil):
        a.axvline(v, color="tab:red", ls="--")
    a.set(xlabel="F0 of voiced frames (Hz)", ylabel="frames",
          title=f"{speaker}: F0 (search range {floor:.0f}-{ceil:.0f} Hz dashed)")
    b.hist(power_db[np.isfinite(power_db)], bins=60, color="tab:green")
    b.set(xlabel="frame power (dB)", ylabel="frames", title=f"{speaker}: frame power")
    fig.tight_layout()
    return fig


def scatter(inp: np.ndarray, rec: np.ndarray, i: int, j: int) -> Figure:
    """Input (left) vs reconstruction (right) mel-cepstra, dim i vs dim j, on identical axes.
    inp, rec: ``(T, 40)`` with c0 in column 0, so dim k is column k."""
    fig = Figure(figsize=(10, 4.6))
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, m, name in zip(axes, (inp, rec), ("input", "reconstruction")):
        ax.scatter(m[:, i], m[:, j], s=3, alpha=0.4, color="tab:blue" if name == "input" else "tab:orange")
        ax.set(
            xlabel=f"mel-cepstrum c{i}", ylabel=f"mel-cepstrum c{j}", title=f"{name} (GV c{i}: {np.var(m[:, i]):.3g})"
        )
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def trajectory(inp: np.ndarray, rec: np.ndarray, dim: int, frame_period_ms: float, title: str = "") -> Figure:
    """One mel-cepstrum dimension over time, input vs reconstruction."""
    t = np.arange(len(inp)) * frame_period_ms / 1000.0
    fig = Figure(figsize=(10, 3.5))
    ax = fig.subplots()
    ax.plot(t, inp[:, dim], label="input", lw=1.2)
    ax.plot(t, rec[:, dim], label="reconstruction", lw=1.2)
    ax.set(xlabel="time (s)", ylabel=f"mel-cepstrum c{dim}", title=title or f"c{dim} trajectory")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _col(history: list[dict], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in history])


def loss_curves(history: list[dict]) -> Figure:
    """Total, reconstruction and KL (nats/frame) per epoch, train vs valid."""
    ep = _col(history, "epoch")
    fig = Figure(figsize=(13, 3.6))
    for ax, key, label in zip(
        fig.subplots(1, 3),
        ("loss", "recon", "kl"),
        ("total (recon + beta KL)", "reconstruction NLL", "KL(q(z|x) || p(z))"),
    ):
        ax.plot(ep, _col(history, f"train_{key}"), label="train", marker=".")
        ax.plot(ep, _col(history, f"valid_{key}"), label="valid", marker=".")
        ax.set(xlabel="epoch", ylabel="nats / frame", title=label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def posterior_monitors(history: list[dict]) -> Figure:
    """Mean mu and mean sigma of q(z|x) on the valid set, and active latent dims, per epoch."""
    ep = _col(history, "epoch")
    fig = Figure(figsize=(10, 3.6))
    a, b = fig.subplots(1, 2)
    a.plot(ep, _col(history, "mean_mu"), label="mean mu", marker=".")
    a.plot(ep, _col(history, "mean_sigma"), label="mean sigma", marker=".")
    a.axhline(0, color="gray", lw=0.5)
    a.axhline(1, color="gray", lw=0.5, ls="--")
    a.set(xlabel="epoch", ylabel="value", title="posterior q(z|x) (prior: mu 0, sigma 1)")
    a.legend()
    a.grid(alpha=0.3)
    b.plot(ep, _col(history, "active_dims"), marker=".", color="tab:purple")
    b.set(xlabel="epoch", ylabel="latent dims with KL > 0.01 nats", title="active latent dims")
    b.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def dead_units(history: list[dict]) -> Figure:
    """Fraction of ReLU units that are zero on every probe frame, per hidden layer, per epoch."""
    ep = _col(history, "epoch")
    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    for k in [k for k in history[0] if k.startswith("dead_")]:
        ax.plot(ep, _col(history, k), marker=".", label=k.replace("dead_", ""))
    ax.set(xlabel="epoch", ylabel="dead fraction", ylim=(-0.02, 1.02), title="dead ReLU units per hidden layer")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def latent_pca(mu: np.ndarray, voiced: np.ndarray) -> Figure:
    """2-D PCA of posterior means ``(T, latent)``, coloured voiced / unvoiced."""
    c = mu - mu.mean(axis=0)
    _, s, vt = np.linalg.svd(c, full_matrices=False)
    p = c @ vt[:2].T
    ev = s**2 / max(np.sum(s**2), 1e-12)
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for mask, name, col in ((~voiced, "unvoiced", "tab:gray"), (voiced, "voiced", "tab:red")):
        ax.scatter(p[mask, 0], p[mask, 1], s=3, alpha=0.5, label=name, color=col)
    ax.set(xlabel=f"PC1 ({100 * ev[0]:.0f}% var)", ylabel=f"PC2 ({100 * ev[1]:.0f}% var)" if len(ev) > 1 else "PC2",
           title="posterior means, PCA")
    ax.legend(markerscale=4)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def heatmap(
    values: np.ndarray,
    rows: list[str],
    cols: list[str],
    row_name: str,
    col_name: str,
    title: str,
    status: np.ndarray | None = None,
    fmt: str = "{:.2f}",
) -> Figure:
    """Grid of a figure of merit; cells whose status is not "ok" are hatched and labelled."""
    fig = Figure(figsize=(1.2 * len(cols) + 2.5, 0.7 * len(rows) + 1.8))
    ax = fig.subplots()
    shown = np.ma.masked_invalid(np.where(status == "ok", values, np.nan) if status is not None else values)
    im = ax.imshow(shown, cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax)
    for r in range(len(rows)):
        for c in range(len(cols)):
            st = status[r, c] if status is not None else "ok"
            if st != "ok":
                ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=True, color="lightgray", hatch="//"))
                label = st if not np.isfinite(values[r, c]) else f"{st}\n{fmt.format(values[r, c])}"
                ax.text(c, r, label, ha="center", va="center", fontsize=8, color="black")
            else:
                ax.text(c, r, fmt.format(values[r, c]), ha="center", va="center", fontsize=8, color="white")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set(xlabel=col_name, ylabel=row_name, title=title)
    fig.tight_layout()
    return fig


def rate_distortion(kl: np.ndarray, mcd: np.ndarray, labels: list[str]) -> Figure:
    """KL (nats/frame, the rate) vs held-out MCD (dB, the distortion), one point per config."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ax.plot(kl, mcd, marker="o")
    for x, y, s in zip(kl, mcd, labels):
        ax.annotate(s, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set(xlabel="rate: KL(q(z|x) || p(z)) (nats / frame)", ylabel="distortion: held-out MCD (dB)",
           title="rate-distortion over beta")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def gv_comparison(gv_data: np.ndarray, gv_prior: np.ndarray, label: str = "decodes of z ~ N(0, I)") -> Figure:
    """Per-dimension global variance of data vs decodes of prior samples (log scale)."""
    d = np.arange(1, len(gv_data) + 1)
    fig = Figure(figsize=(8, 3.6))
    ax = fig.subplots()
    ax.semilogy(d, gv_data, marker=".", label="data")
    ax.semilogy(d, gv_prior, marker=".", label=label)
    ax.set(xlabel="mel-cepstrum dimension", ylabel="global variance", title="GV: data vs prior samples")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def gv_ratio_dims_figure(curves: dict[str, np.ndarray]) -> Figure:
    """Per-dimension GV ratio (estimate / reference variance, log scale) of each labelled ``(D,)`` curve, with the
    line at 1 (as varied as the reference): where an over-smoothed model loses its variance."""
    fig = Figure(figsize=(8, 3.6))
    ax = fig.subplots()
    for label, r in curves.items():
        ax.semilogy(np.arange(1, len(r) + 1), r, marker=".", label=label)
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set(xlabel="mel-cepstrum dimension", ylabel="GV ratio (converted / target)", title="variance kept per dimension")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def rate_distortion_curves(rows: list[dict]) -> dict[str, Figure]:
    """Held-out distortion against code size, models beside PCA-k.

    rows: dicts with ``model`` ("pca" for the baseline), ``cell``, ``latent``, ``mcd_db``, ``gv_ratio``, optionally
    ``stride`` (frames per latent vector, 1 if absent) and, for models, ``kbit_per_s``. Returns ``{"rd_dims.png": MCD
    and GV ratio vs numbers per frame (latent / stride), "rd_rate.png": MCD vs rate (kbit/s, held-out KL)}``; models
    sharing every grid value but latent form one line; PCA of stacked frames is a line of its own per stride.
    """

    def stride(r) -> int:
        return int(float(r.get("stride") or 1))

    def per_frame(r) -> float:
        return float(r["latent"]) / stride(r)

    def series(rs):
        groups: dict[str, list[dict]] = {}
        for r in rs:
            rest = ",".join(p for p in str(r["cell"]).split(",") if not p.startswith("model.latent="))
            groups.setdefault(rest or r["model"], []).append(r)
        return {k: sorted(v, key=per_frame) for k, v in groups.items()}

    models = [r for r in rows if r["model"] != "pca"]
    pcas: dict[int, list[dict]] = {}
    for r in rows:
        if r["model"] == "pca":
            pcas.setdefault(stride(r), []).append(r)
    fig = Figure(figsize=(11, 4))
    a, b = fig.subplots(1, 2)
    for name, rs in series(models).items():
        x = [per_frame(r) for r in rs]
        a.plot(x, [float(r["mcd_db"]) for r in rs], marker="o", label=name)
        b.plot(x, [float(r["gv_ratio"]) for r in rs], marker="o", label=name)
    for s, rs in sorted(pcas.items()):
        rs = sorted(rs, key=per_frame)
        label, style = ("PCA-k", "--") if s == 1 else (f"PCA of {s} stacked frames", ":")
        x = [per_frame(r) for r in rs]
        a.plot(x, [float(r["mcd_db"]) for r in rs], marker="s", ls=style, color="black", label=label)
        b.plot(x, [float(r["gv_ratio"]) for r in rs], marker="s", ls=style, color="black", label=label)
    for ax, yl in ((a, "held-out MCD (dB)"), (b, "GV ratio (1 = no over-smoothing)")):
        ax.set_xscale("log", base=2)
        ax.set(xlabel="numbers per frame (latent dims / stride; PCA: components / frames)", ylabel=yl)
        ax.grid(alpha=0.3)
    a.set_title("distortion vs code size")
    b.set_title("variance kept")
    handles, labels = a.get_legend_handles_labels()  # one legend under both panels, clear of the points
    rows = -(-len(labels) // 3)
    fig.set_size_inches(11, 4 + 0.22 * rows)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.22 * rows / (4 + 0.22 * rows) + 0.02, 1, 1))
    fig2 = Figure(figsize=(6.5, 4.5))
    ax = fig2.subplots()
    for name, rs in series(models).items():
        ax.plot([float(r["kbit_per_s"]) for r in rs], [float(r["mcd_db"]) for r in rs], marker="o", label=name)
        for r in rs:
            ax.annotate(f"{float(r['latent']):g}", (float(r["kbit_per_s"]), float(r["mcd_db"])),
                        textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
    for r in (r for rs in pcas.values() for r in rs):
        ax.axhline(float(r["mcd_db"]), color="gray", ls=":", lw=0.8)
        name = f"PCA-{r['latent']}" if stride(r) == 1 else f"PCA-{r['latent']} x{stride(r)}"
        ax.annotate(name, (ax.get_xlim()[0], float(r["mcd_db"])), fontsize=7, color="gray")
    ax.set(xlabel="rate (kbit/s): held-out KL, or the exact code bits of a quantiser", ylabel="held-out MCD (dB)",
           title="rate-distortion (labels: latent dims; quantisers: bits/frame)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig2.tight_layout()
    return {"rd_dims.png": fig, "rd_rate.png": fig2}


def spectrogram(x: np.ndarray, fs: int, title: str = "") -> Figure:
    """Log-magnitude spectrogram (dB, 25 ms Hann windows, 5 ms hop) of ``(N,)`` samples at ``fs`` Hz,
    frequency in kHz; 80 dB of dynamic range below the peak."""

    nper = int(0.025 * fs)
    f, t, z = stft(x, fs=fs, window="hann", nperseg=nper, noverlap=nper - int(0.005 * fs))
    db = 20 * np.log10(np.abs(z) + 1e-10)
    fig = Figure(figsize=(4.2, 2.2))
    ax = fig.subplots()
    ax.pcolormesh(t, f / 1000, db, vmin=db.max() - 80, vmax=db.max(), cmap="magma", shading="auto")
    ax.set(xlabel="time (s)", ylabel="kHz", title=title)
    ax.title.set_fontsize(8)
    fig.tight_layout()
    return fig


def envelope_panels(
    panels: list[tuple[str, np.ndarray]], khz: np.ndarray, frame_period_ms: float, title: str = ""
) -> Figure:
    """Spectral envelopes over time side by side, one panel per ``(label, (T, F) dB array)`` (e.g. source,
    converted, target of a voice conversion), frequency ``khz (F,)``, one colour scale for all panels
    (60 dB below the loudest value)."""
    top = max(float(db.max()) for _, db in panels)
    fig = Figure(figsize=(3.2 * len(panels), 2.6))
    axes = fig.subplots(1, len(panels), sharey=True)
    for ax, (label, db) in zip(np.atleast_1d(axes), panels):
        t = np.arange(len(db)) * frame_period_ms / 1000.0
        ax.pcolormesh(t, khz, db.T, vmin=top - 60, vmax=top, cmap="magma", shading="auto")
        ax.set(xlabel="time (s)", title=label)
        ax.title.set_fontsize(9)
    np.atleast_1d(axes)[0].set_ylabel("kHz")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def conversion_matrices(speakers: list[str], panels: list[tuple[str, np.ndarray, str, bool]]) -> Figure:
    """Source x target heat maps of a many-speaker conversion, one panel per measure: (title, (N, N) values, number
    format, lower is better). Cells without a figure (the diagonal, a direction with no parallel sentence for MCD)
    are grey and marked "-"; colours run from worse (light) to better (dark) in every panel."""
    n = len(speakers)
    fig = Figure(figsize=(max(3.2, 0.9 * n + 1.6) * len(panels), max(2.8, 0.7 * n + 1.6)))
    for ax, (title, values, fmt, lower_better) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
        v = np.asarray(values, dtype=float)
        ax.imshow(np.ma.masked_invalid(-v if lower_better else v), cmap="Blues", aspect="equal")
        ax.set_facecolor("lightgray")
        finite = v[np.isfinite(v)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for r in range(n):
            for c in range(n):
                dark = np.isfinite(v[r, c]) and ((v[r, c] < mid) if lower_better else (v[r, c] > mid))
                ax.text(c, r, fmt.format(v[r, c]) if np.isfinite(v[r, c]) else "-", ha="center", va="center",
                        fontsize=8, color="white" if dark else "black")
        ax.set_xticks(range(n), speakers, rotation=45 if n > 4 else 0)
        ax.set_yticks(range(n), speakers)
        ax.set(xlabel="target", ylabel="source", title=title)
    fig.tight_layout()
    return fig
