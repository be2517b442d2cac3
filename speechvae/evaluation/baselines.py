"""Classical references a learned code must beat, scored by the same evaluation code as the models.

Both are fitted on the training frames in the MCD's own scale (raw c1..c39: squared reconstruction
error is proportional to squared MCD):

- PCA with k components: the best linear k-dim code for that metric on the training frames; with ``stack``
  s > 1, PCA of s consecutive frames side by side (blocks cut as a strided model cuts them): the best linear code
  of k numbers per s frames, the reference for a model with one latent vector per s frames.
- k-means vector quantisation at a given number of bits per frame, n codebooks of K = 2^(bits/n)
  entries: "split" (each codebook quantises one contiguous band of dims) or "residual" (each stage
  quantises what the previous ones left). Codes one can store: n integers per frame.

>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal((500, 2)) @ np.array([[3.0, 0.0], [0.0, 0.1]])   # nearly one-dimensional
>>> pca = PCA.fit(RunningMoments.of(x))
>>> bool(np.abs(pca.reconstruct(x, 1) - x).max() < 0.5), bool(np.allclose(pca.reconstruct(x, 2), x))
(True, True)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.cluster.vq import kmeans2, vq

from speechvae.analysis.featdir import feature_path
from speechvae.analysis.features import Features
from speechvae.evaluation.metrics import score
from speechvae.store import write_csv, write_json


@dataclass(frozen=True)
class RunningMoments:
    """Count, sum ``(D,)`` and sum of outer products ``(D, D)`` of a stream of ``(T, D)`` frames."""

    count: int
    total: np.ndarray
    outer: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> RunningMoments:
        x = np.asarray(x, dtype=np.float64)
        return cls(len(x), x.sum(axis=0), x.T @ x)

    def merge(self, other: RunningMoments) -> RunningMoments:
        return RunningMoments(self.count + other.count, self.total + other.total, self.outer + other.outer)


@dataclass(frozen=True)
class PCA:
    """Principal axes of c1..c39 frames (``stack`` s > 1: of blocks of s frames side by side, D = s * 39):
    ``mean (D,)``, ``axes (D, D)`` (rows, by decreasing variance), ``variance (D,)`` along each axis."""

    mean: np.ndarray
    axes: np.ndarray
    variance: np.ndarray
    stack: int = 1

    @classmethod
    def fit(cls, m: RunningMoments, stack: int = 1) -> PCA:
        mean = m.total / m.count
        cov = m.outer / m.count - np.outer(mean, mean)
        var, vec = np.linalg.eigh(cov)
        order = np.argsort(var)[::-1]
        return cls(mean, vec[:, order].T, np.maximum(var[order], 0.0), stack)

    def reconstruct(self, x: np.ndarray, k: int) -> np.ndarray:
        """``(T, D)`` frames -> their projection on the first ``k`` axes, ``(T, D)``."""
        v = self.axes[:k]
        return self.mean + ((x - self.mean) @ v.T) @ v


def stack_frames(x: np.ndarray, s: int) -> np.ndarray:
    """``(T, D)`` frames -> ``(ceil(T / s), s * D)`` blocks of s consecutive frames side by side, the last frame
    repeated to fill the last block (as a strided model's input is padded).

    >>> stack_frames(np.arange(5.0)[:, None], 2).tolist()
    [[0.0, 1.0], [2.0, 3.0], [4.0, 4.0]]
    """
    pad = -len(x) % s
    x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)]) if pad else x
    return x.reshape(len(x) // s, s * x.shape[1])


def fit_pca(featdir: str | Path, utt_ids: list[str], stack: int = 1) -> PCA:
    """PCA of the raw c1..c_order frames of ``utt_ids`` (streamed, one utterance at a time); ``stack`` s > 1:
    of their blocks of s frames (:func:`stack_frames`)."""
    m = None
    for u in utt_ids:
        part = RunningMoments.of(stack_frames(Features.load(feature_path(featdir, u)).mcep[:, 1:], stack))
        m = part if m is None else m.merge(part)
    if m is None:
        raise ValueError("PCA needs at least one training utterance")
    return PCA.fit(m, stack)


def frame_rebuild(code):
    """A frame code ``(T, 39) -> (T, 39)`` as a Features -> Features function (c0, F0, aperiodicity kept),
    the form :func:`speechvae.evaluation.metrics.score` takes."""
    def rebuild(f: Features) -> Features:
        mcep = f.mcep.copy()
        mcep[:, 1:] = code(f.mcep[:, 1:])
        return f.replace_mcep(mcep)
    return rebuild


def pca_rebuild(pca: PCA, k: int):
    """Features -> the same Features with c1..c39 replaced by their PCA-k reconstruction (a stacked PCA: k
    components per block of ``pca.stack`` frames)."""
    def code(x: np.ndarray) -> np.ndarray:
        return pca.reconstruct(stack_frames(x, pca.stack), k).reshape(-1, x.shape[1])[: len(x)]
    return frame_rebuild(code)


@dataclass(frozen=True)
class VQ:
    """A k-means quantiser of ``(T, D)`` frames: ``kind`` "split" or "residual", ``mean (D,)``, one
    ``(K, d)`` codebook per stage and, for split, the ``(start, stop)`` dims each codebook covers."""

    kind: str
    mean: np.ndarray
    codebooks: tuple[np.ndarray, ...]
    bands: tuple[tuple[int, int], ...]

    @property
    def bits_per_frame(self) -> float:
        return float(sum(math.log2(len(c)) for c in self.codebooks))

    def encode(self, x: np.ndarray) -> np.ndarray:
        """``(T, D)`` -> ``(T, n)`` codes in the smallest unsigned dtype that holds K - 1."""
        r = np.asarray(x, dtype=np.float64) - self.mean
        codes = []
        for cb, (a, b) in zip(self.codebooks, self.bands):
            c, _ = vq(r[:, a:b], cb, check_finite=False)
            codes.append(c)
            if self.kind == "residual":
                r = r - cb[c]
        return np.stack(codes, axis=1).astype(np.min_scalar_type(max(len(c) for c in self.codebooks) - 1))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """``(T, n)`` codes -> ``(T, D)`` frames."""
        out = np.tile(self.mean, (len(codes), 1))
        for i, (cb, (a, b)) in enumerate(zip(self.codebooks, self.bands)):
            out[:, a:b] += cb[codes[:, i].astype(np.int64)]
        return out

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(x))


def fit_vq(x: np.ndarray, kind: str, bits: int, codebooks: int, seed: int = 0, iters: int = 20) -> VQ:
    """k-means (``scipy.cluster.vq.kmeans2``, k-means++ start, seeded) of ``(T, D)`` frames at ``bits`` per
    frame split over ``codebooks`` codebooks of 2^(bits / codebooks) entries each.

    >>> rng = np.random.default_rng(0)
    >>> centres = rng.standard_normal((4, 3)) * 10
    >>> x = centres[rng.integers(0, 4, 400)] + 0.01 * rng.standard_normal((400, 3))
    >>> q = fit_vq(x, "residual", bits=2, codebooks=1)   # 4 entries for 4 clusters
    >>> bool(np.abs(q.reconstruct(x) - x).max() < 0.1), q.encode(x).dtype.name, q.bits_per_frame
    (True, 'uint8', 2.0)
    """
    if kind not in ("split", "residual"):
        raise ValueError(f"VQ kind must be split or residual, got {kind!r}")
    if bits % codebooks or not 1 <= bits // codebooks <= 16:
        raise ValueError(f"{bits} bits over {codebooks} codebooks: need a whole number of 1..16 bits per codebook")
    x = np.asarray(x, dtype=np.float64)
    k = 2 ** (bits // codebooks)
    if len(x) < k:
        raise ValueError(f"{len(x)} training frames cannot fit {k} codebook entries")
    mean = x.mean(axis=0)
    r = x - mean
    d = x.shape[1]
    if kind == "split":  # contiguous bands of nearly equal width (low dims first get the extra one)
        edges = np.linspace(0, d, codebooks + 1).round().astype(int)
        bands = tuple((int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]))
    else:
        bands = ((0, d),) * codebooks
    books = []
    for i, (a, b) in enumerate(bands):
        cb, _ = kmeans2(r[:, a:b], k, iter=iters, minit="++", seed=seed + i, missing="warn")
        books.append(cb)
        if kind == "residual":
            r = r - cb[vq(r, cb, check_finite=False)[0]]
    return VQ(kind, mean, tuple(books), bands)


def vq_rebuild(q: VQ):
    """Features -> the same Features with c1..c39 replaced by their quantised version."""
    return frame_rebuild(q.reconstruct)


def training_frames(featdir: str | Path, utt_ids: list[str], max_frames: int = 200_000, seed: int = 0) -> np.ndarray:
    """Raw c1..c39 of ``utt_ids`` ``(N, 39)``; a seeded random subset of ``max_frames`` when there are more
    (k-means needs the frames in memory)."""
    x = np.concatenate([Features.load(feature_path(featdir, u)).mcep[:, 1:] for u in utt_ids])
    if len(x) > max_frames:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), max_frames, replace=False))]
    return x


def run_vq(featdir: str | Path, outdir: str | Path, kinds: list[str], bits: list[int], codebooks: int,
           train_ids: list[str], eval_ids: list[str]) -> list[dict]:
    """Fit each VQ (kind x bits) on ``train_ids``, score on ``eval_ids`` with the models' evaluation code;
    write ``outdir/vq_<kind><bits>.json`` and ``outdir/vq.csv``. Returns the table rows."""

    x = training_frames(featdir, train_ids)
    seen = sorted(set(train_ids) & set(eval_ids))
    rows = []
    for kind in kinds:
        for b in bits:
            q = fit_vq(x, kind, b, codebooks)
            m = {**score(featdir, eval_ids, vq_rebuild(q)), "baseline": f"{kind} k-means VQ", "bits_per_frame": b,
                 "codebooks": codebooks, "entries": len(q.codebooks[0]), "held_out": not seen,
                 "training_utterances": seen}
            write_json(Path(outdir) / f"vq_{kind}{b}.json", m)
            rows.append({"kind": kind, "bits_per_frame": b, "codebooks": codebooks, "entries": len(q.codebooks[0]),
                         "mcd_db": m["mcd_db"], "gv_ratio": m["gv_ratio"], "share_over_2db": m["share_over_2db"],
                         "held_out": m["held_out"]})
    write_csv(Path(outdir) / "vq.csv", rows)
    return rows


def pca_name(k: int, stack: int = 1) -> str:
    """File and cell name of PCA-k: ``pca16``, or ``pca64x4`` for 64 components per block of 4 frames."""
    return f"pca{k}" if stack == 1 else f"pca{k}x{stack}"


def pca_table_name(stack: int = 1) -> str:
    """File name of :func:`run_pca`'s table: ``pca.csv``, or ``pca_x4.csv`` for blocks of 4 frames."""
    return "pca.csv" if stack == 1 else f"pca_x{stack}.csv"


def run_pca(featdir: str | Path, outdir: str | Path, dims: list[int], train_ids: list[str],
            eval_ids: list[str], stack: int = 1) -> list[dict]:
    """Fit PCA on ``train_ids`` (``stack`` s > 1: on blocks of s frames), score PCA-k for each k of ``dims``
    (components per block) on ``eval_ids`` with the models' evaluation code; write ``outdir/pca<k>.json``
    (``pca<k>x<s>.json`` for s > 1; the keys of ``speechvae evaluate``'s metrics.json) and ``outdir/pca.csv``
    (``pca_x<s>.csv``). Returns the table rows."""

    if stack < 1:
        raise ValueError(f"PCA stack must be >= 1 frames, got {stack}")
    pca = fit_pca(featdir, train_ids, stack)
    seen = sorted(set(train_ids) & set(eval_ids))
    rows = []
    for k in dims:
        if not 1 <= k <= len(pca.mean):
            raise ValueError(f"PCA dims must be in 1..{len(pca.mean)}, got {k}")
        m = {**score(featdir, eval_ids, pca_rebuild(pca, k)), "baseline": "pca", "components": k, "stack": stack,
             "dims_per_frame": k / stack, "held_out": not seen, "training_utterances": seen,
             "explained_variance": float(pca.variance[:k].sum() / pca.variance.sum())}
        write_json(Path(outdir) / f"{pca_name(k, stack)}.json", m)
        rows.append({"components": k, "stack": stack, "mcd_db": m["mcd_db"], "gv_ratio": m["gv_ratio"],
                     "share_over_2db": m["share_over_2db"], "share_over_4db": m["share_over_4db"],
                     "explained_variance": m["explained_variance"], "held_out": m["held_out"]})
    write_csv(Path(outdir) / pca_table_name(stack), rows)
    return rows
