"""Classical references a learned code must beat, scored by the same evaluation code as the models.

PCA with k components, fitted on the training frames in the MCD's own scale (raw, centred c1..c39:
squared reconstruction error is proportional to squared MCD, so PCA-k is the best linear k-dim code
for that metric on the training frames).

>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal((500, 2)) @ np.array([[3.0, 0.0], [0.0, 0.1]])   # nearly one-dimensional
>>> pca = PCA.fit(RunningMoments.of(x))
>>> bool(np.abs(pca.reconstruct(x, 1) - x).max() < 0.5), bool(np.allclose(pca.reconstruct(x, 2), x))
(True, True)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .features import Features
from .store import feature_path


@dataclass(frozen=True)
class RunningMoments:
    """Count, sum ``(D,)`` and sum of outer products ``(D, D)`` of a stream of ``(T, D)`` frames."""

    count: int
    total: np.ndarray
    outer: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> "RunningMoments":
        x = np.asarray(x, dtype=np.float64)
        return cls(len(x), x.sum(axis=0), x.T @ x)

    def merge(self, other: "RunningMoments") -> "RunningMoments":
        return RunningMoments(self.count + other.count, self.total + other.total, self.outer + other.outer)


@dataclass(frozen=True)
class PCA:
    """Principal axes of c1..c39 frames: ``mean (D,)``, ``axes (D, D)`` (rows, by decreasing variance),
    ``variance (D,)`` along each axis."""

    mean: np.ndarray
    axes: np.ndarray
    variance: np.ndarray

    @classmethod
    def fit(cls, m: RunningMoments) -> "PCA":
        mean = m.total / m.count
        cov = m.outer / m.count - np.outer(mean, mean)
        var, vec = np.linalg.eigh(cov)
        order = np.argsort(var)[::-1]
        return cls(mean, vec[:, order].T, np.maximum(var[order], 0.0))

    def reconstruct(self, x: np.ndarray, k: int) -> np.ndarray:
        """``(T, D)`` frames -> their projection on the first ``k`` axes, ``(T, D)``."""
        v = self.axes[:k]
        return self.mean + ((x - self.mean) @ v.T) @ v


def fit_pca(featdir: str | Path, utt_ids: list[str]) -> PCA:
    """PCA of the raw c1..c_order frames of ``utt_ids`` (streamed, one utterance at a time)."""
    m = None
    for u in utt_ids:
        part = RunningMoments.of(Features.load(feature_path(featdir, u)).mcep[:, 1:])
        m = part if m is None else m.merge(part)
    if m is None:
        raise ValueError("PCA needs at least one training utterance")
    return PCA.fit(m)


def pca_rebuild(pca: PCA, k: int):
    """Features -> the same Features with c1..c39 replaced by their PCA-k reconstruction."""
    def rebuild(f: Features) -> Features:
        mcep = f.mcep.copy()
        mcep[:, 1:] = pca.reconstruct(f.mcep[:, 1:], k)
        return f.replace_mcep(mcep)
    return rebuild


def run_pca(featdir: str | Path, outdir: str | Path, dims: list[int], train_ids: list[str],
            eval_ids: list[str]) -> list[dict]:
    """Fit PCA on ``train_ids``, score PCA-k for each k of ``dims`` on ``eval_ids`` with the models'
    evaluation code; write ``outdir/pca<k>.json`` (the keys of ``speechvae evaluate``'s metrics.json)
    and ``outdir/pca.csv``. Returns the table rows."""
    from .metrics import score
    from .store import write_csv, write_json

    pca = fit_pca(featdir, train_ids)
    seen = sorted(set(train_ids) & set(eval_ids))
    rows = []
    for k in dims:
        if not 1 <= k <= len(pca.mean):
            raise ValueError(f"PCA dims must be in 1..{len(pca.mean)}, got {k}")
        m = {**score(featdir, eval_ids, pca_rebuild(pca, k)), "baseline": "pca", "components": k,
             "held_out": not seen, "training_utterances": seen,
             "explained_variance": float(pca.variance[:k].sum() / pca.variance.sum())}
        write_json(Path(outdir) / f"pca{k}.json", m)
        rows.append({"components": k, "mcd_db": m["mcd_db"], "gv_ratio": m["gv_ratio"],
                     "share_over_2db": m["share_over_2db"], "share_over_4db": m["share_over_4db"],
                     "explained_variance": m["explained_variance"], "held_out": m["held_out"]})
    write_csv(Path(outdir) / "pca.csv", rows)
    return rows
