"""Per-dimension statistics, streamed and mergeable, and the normalisation they define.

Accumulators hold (count, mean, M2) and combine with Chan et al.'s parallel update, so
statistics are computed one utterance at a time (never the whole corpus in memory) and
partial results from separate workers merge exactly.

>>> import numpy as np
>>> a, b = np.arange(6.).reshape(3, 2), np.arange(4.).reshape(2, 2) + 10
>>> s = RunningStats.of(a).merge(RunningStats.of(b))
>>> np.allclose(s.mean, np.vstack([a, b]).mean(0)), np.allclose(s.std, np.vstack([a, b]).std(0))
(True, True)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from speechvae.analysis.modspec import SEGMENT, modulation_spectrum
from speechvae.store import StoreError, load_npz, save_npz

# A dimension whose std is below this is treated as constant and scaled by 1 (no blow-up).
MIN_STD = 1e-8


@dataclass(frozen=True)
class RunningStats:
    """Count, mean ``(D,)`` and sum of squared deviations ``(D,)`` of a stream of ``(T, D)`` frames."""

    count: int
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> RunningStats:
        return cls(0, np.zeros(dim), np.zeros(dim))

    @classmethod
    def of(cls, x: np.ndarray) -> RunningStats:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if len(x) == 0:
            return cls.empty(x.shape[1])
        mean = x.mean(axis=0)
        return cls(len(x), mean, ((x - mean) ** 2).sum(axis=0))

    def merge(self, other: RunningStats) -> RunningStats:
        """Chan et al. (1979) pairwise combination; exact up to rounding."""
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.m2 + other.m2 + delta**2 * (self.count * other.count / n)
        return RunningStats(n, mean, m2)

    def update(self, x: np.ndarray) -> RunningStats:
        return self.merge(RunningStats.of(x))

    @property
    def var(self) -> np.ndarray:
        return self.m2 / max(self.count, 1)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.var)


def safe_scale(std: np.ndarray) -> np.ndarray:
    """Replace (near-)zero standard deviations by 1 so normalising a constant dim gives 0, not inf."""
    std = np.asarray(std, dtype=np.float64).copy()
    std[~(std > MIN_STD)] = 1.0
    return std


@dataclass(frozen=True)
class Stats:
    """Normalisation statistics of a feature set.

    mcep_mean, mcep_std: ``(39,)`` for c1..c39 (std already guarded: constant dims have std 1).
    mcep_gv: ``(39,)`` mean per-utterance variance of c1..c39 (the training global variance).
    lf0_mean, lf0_std: log-F0 (log Hz) over voiced frames. frames: frame count used.
    mcep_ms: ``(39, bins)`` mean per-utterance modulation spectrum of c1..c39 (natural log power;
    :mod:`speechvae.analysis.modspec`), or None in statistics written before it was kept.
    """

    mcep_mean: np.ndarray
    mcep_std: np.ndarray
    mcep_gv: np.ndarray
    lf0_mean: float
    lf0_std: float
    frames: int
    utterances: int
    mcep_ms: np.ndarray | None = None

    def scale(self, scaling: str = "per_dim") -> np.ndarray:
        """``(39,)`` divisor of centred frames. ``"per_dim"``: each dim's std (z-scores: c39 weighs as much
        as c1). ``"global"``: one std for every dim, the root of the mean per-dim variance, so that squared
        error in the normalised space is proportional to squared MCD (which weighs raw cepstral differences).

        >>> s = Stats(np.zeros(2), np.array([3.0, 1.0]), np.ones(2), 0.0, 1.0, 10, 1)
        >>> s.scale("per_dim").tolist(), s.scale("global").tolist()   # sqrt((9 + 1) / 2)
        ([3.0, 1.0], [2.23606797749979, 2.23606797749979])
        """
        if scaling == "per_dim":
            return self.mcep_std
        if scaling == "global":
            return np.full_like(self.mcep_std, np.sqrt(np.mean(self.mcep_std**2)))
        raise ValueError(f"unknown scaling {scaling!r} (per_dim or global)")

    def normalize(self, mcep: np.ndarray, scaling: str = "per_dim") -> np.ndarray:
        """``(T, 39)`` c1..c39 -> centred frames divided by :meth:`scale`."""
        return (mcep - self.mcep_mean) / self.scale(scaling)

    def denormalize(self, z: np.ndarray, scaling: str = "per_dim") -> np.ndarray:
        """Inverse of :meth:`normalize`."""
        return z * self.scale(scaling) + self.mcep_mean

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"mcep_mean": self.mcep_mean, "mcep_std": self.mcep_std, "mcep_gv": self.mcep_gv,
                "lf0_mean": np.float64(self.lf0_mean), "lf0_std": np.float64(self.lf0_std),
                "frames": np.int64(self.frames), "utterances": np.int64(self.utterances),
                **({} if self.mcep_ms is None else {"mcep_ms": self.mcep_ms})}

    @classmethod
    def from_arrays(cls, a: dict, where: str = "stats") -> Stats:
        try:
            s = cls(mcep_mean=np.asarray(a["mcep_mean"], np.float64), mcep_std=np.asarray(a["mcep_std"], np.float64),
                    mcep_gv=np.asarray(a["mcep_gv"], np.float64), lf0_mean=float(a["lf0_mean"]),
                    lf0_std=float(a["lf0_std"]), frames=int(a["frames"]), utterances=int(a["utterances"]),
                    mcep_ms=np.asarray(a["mcep_ms"], np.float64) if "mcep_ms" in a else None)
        except KeyError as e:
            raise StoreError(f"{where}: missing {e}") from None
        if not (s.mcep_mean.shape == s.mcep_std.shape == s.mcep_gv.shape) or s.mcep_mean.ndim != 1:
            raise StoreError(f"{where}: inconsistent shapes")
        if s.mcep_ms is not None and (s.mcep_ms.ndim != 2 or len(s.mcep_ms) != len(s.mcep_mean)):
            raise StoreError(f"{where}: inconsistent shapes")
        if not np.all(s.mcep_std > 0):
            raise StoreError(f"{where}: non-positive std")
        return s

    def save(self, path: str | Path) -> None:
        save_npz(path, self.to_arrays())

    @classmethod
    def load(cls, path: str | Path) -> Stats:
        return cls.from_arrays(load_npz(path), where=str(path))


class StatsAccumulator:
    """Accumulates :class:`Stats` one utterance at a time; partial accumulators merge."""

    def __init__(self, dim: int):
        self.mcep = RunningStats.empty(dim)
        self.lf0 = RunningStats.empty(1)
        self.gv_sum = np.zeros(dim)
        self.ms_sum = np.zeros((dim, SEGMENT // 2 + 1))
        self.utterances = 0

    def add(self, mcep_1: np.ndarray, f0: np.ndarray) -> None:
        """Add one utterance: ``(T, 39)`` c1..c39 and ``(T,)`` F0 in Hz."""
        self.mcep = self.mcep.update(mcep_1)
        voiced = f0[f0 > 0]
        self.lf0 = self.lf0.update(np.log(voiced))
        self.gv_sum += np.var(mcep_1, axis=0)
        self.ms_sum += modulation_spectrum(mcep_1)
        self.utterances += 1

    def merge(self, other: StatsAccumulator) -> StatsAccumulator:
        out = StatsAccumulator(len(self.gv_sum))
        out.mcep, out.lf0 = self.mcep.merge(other.mcep), self.lf0.merge(other.lf0)
        out.gv_sum, out.utterances = self.gv_sum + other.gv_sum, self.utterances + other.utterances
        out.ms_sum = self.ms_sum + other.ms_sum
        return out

    def result(self) -> Stats:
        if self.mcep.count == 0:
            raise ValueError("no frames to compute statistics from")
        lf0_mean = float(self.lf0.mean[0]) if self.lf0.count else 0.0
        lf0_std = float(safe_scale(self.lf0.std)[0]) if self.lf0.count else 1.0
        return Stats(mcep_mean=self.mcep.mean, mcep_std=safe_scale(self.mcep.std),
                     mcep_gv=self.gv_sum / self.utterances, lf0_mean=lf0_mean, lf0_std=lf0_std,
                     frames=self.mcep.count, utterances=self.utterances, mcep_ms=self.ms_sum / self.utterances)


def compute_stats(items: Iterable[tuple[np.ndarray, np.ndarray]], dim: int) -> Stats:
    """Stream ``(mcep c1..c39 (T, 39), f0 (T,))`` pairs into :class:`Stats`."""
    acc = StatsAccumulator(dim)
    for mcep_1, f0 in items:
        acc.add(mcep_1, f0)
    return acc.result()
