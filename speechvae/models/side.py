"""Scalar quantisers of the streams a speech codec sends beside the envelope code: per latent vector (``stride``
frames, 20 ms for the codec's model) voicing and log-F0, c0 and each band aperiodicity. Each stream's levels are
fitted on the training set's block values by Lloyd-Max (1-D k-means, the least-squares scalar quantiser) for every
bit depth 1..:data:`MAX_BITS`, and stored in the checkpoint: the decoder reads the same levels the encoder used.

Blocks: frames ``[k s, (k + 1) s)``, the last padded by repeating the final frame. A block is voiced when at least
half of its frames are; its log-F0 is the mean over its voiced frames; c0 and aperiodicity (dB) are block means.
Back to frames: every stream is interpolated linearly between block centres, log-F0 between voiced blocks only,
and a frame is voiced when its block is.

>>> import numpy as np
>>> f0 = np.r_[np.zeros(8), np.full(8, 120.0), np.zeros(4)]            # (T,) Hz, 0 = unvoiced
>>> b = block_streams(f0, np.linspace(-2, 2, 20), np.zeros((20, 1)), stride=4)
>>> b["voiced"].tolist(), round(float(np.exp(b["lf0"][2])), 6)
([False, False, True, True, False], 120.0)
>>> f, c0, bap = frame_streams(b, frames=20, stride=4)
>>> bool(np.array_equal(f > 0, f0 > 0)), round(float(f[10]), 6)
(True, 120.0)
"""
from __future__ import annotations

import numpy as np

MAX_BITS = 8  # levels are stored for 1..MAX_BITS bits per value
STREAMS = ("lf0", "c0", "bap")


def block_streams(f0: np.ndarray, c0: np.ndarray, bap: np.ndarray, stride: int) -> dict[str, np.ndarray]:
    """Per block of ``stride`` frames: ``voiced (T',)`` bool, ``lf0 (T',)`` mean log-F0 of its voiced frames (NaN
    where the block is unvoiced), ``c0 (T',)`` and ``bap (T', B)`` dB means. ``f0 (T,)`` Hz (0 unvoiced),
    ``c0 (T,)``, ``bap (T, B)``; T' = ceil(T / stride)."""
    f0, c0, bap = np.asarray(f0, float), np.asarray(c0, float), np.asarray(bap, float)
    if bap.ndim != 2 or not len(f0) == len(c0) == len(bap) or len(f0) == 0:
        raise ValueError(f"f0 {f0.shape}, c0 {c0.shape}, bap {bap.shape}: need (T,), (T,), (T, B), T >= 1")
    n = -(-len(f0) // stride)
    pad = n * stride - len(f0)
    f0, c0, bap = (np.concatenate([a, np.repeat(a[-1:], pad, axis=0)]) for a in (f0, c0, bap))
    v = (f0 > 0).reshape(n, stride)
    voiced = v.mean(axis=1) >= 0.5
    logf = np.log(np.where(f0 > 0, f0, 1.0)).reshape(n, stride)
    lf0 = np.where(voiced, (logf * v).sum(axis=1) / np.maximum(v.sum(axis=1), 1), np.nan)
    return {"voiced": voiced, "lf0": lf0, "c0": c0.reshape(n, stride).mean(axis=1),
            "bap": bap.reshape(n, stride, -1).mean(axis=1)}


def frame_streams(blocks: dict[str, np.ndarray], frames: int, stride: int) -> tuple[np.ndarray, np.ndarray,
                                                                                       np.ndarray]:
    """Block streams -> ``f0 (T,)`` Hz, ``c0 (T,)``, ``bap (T, B)`` at the frame rate (``frames`` = T)."""
    n = len(blocks["c0"])
    t = np.arange(frames, dtype=float)
    centre = (np.arange(n) + 0.5) * stride - 0.5
    c0 = np.interp(t, centre, blocks["c0"])
    bap = np.stack([np.interp(t, centre, b) for b in np.asarray(blocks["bap"]).T], axis=1)
    voiced = np.asarray(blocks["voiced"], bool)
    f0 = np.zeros(frames)
    on = voiced[np.minimum(np.arange(frames) // stride, n - 1)]
    if voiced.any():
        f0[on] = np.exp(np.interp(t[on], centre[voiced], blocks["lf0"][voiced]))
    return f0, c0, bap


def lloyd_max(values: np.ndarray, levels: int, iters: int = 60) -> np.ndarray:
    """The ``levels`` reconstruction values (sorted) of the least-squares scalar quantiser of ``values`` (1-D),
    started at the quantiles (i + 1/2) / levels; fewer distinct values than levels repeat the top one.

    >>> lloyd_max(np.r_[np.zeros(50), np.ones(50)], 2).tolist()
    [0.0, 1.0]
    """
    v = np.sort(np.asarray(values, float).ravel())
    v = v[np.isfinite(v)]
    if len(v) == 0:
        raise ValueError("no finite values to fit a quantiser on")
    q = np.quantile(v, (np.arange(levels) + 0.5) / levels)
    for _ in range(iters):
        idx = np.searchsorted((q[1:] + q[:-1]) / 2, v)
        count = np.bincount(idx, minlength=levels)
        new = np.where(count > 0, np.bincount(idx, v, minlength=levels) / np.maximum(count, 1), q)
        new = np.maximum.accumulate(new)
        if np.allclose(new, q, rtol=0, atol=1e-12):
            break
        q = new
    return q


def nearest(levels: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index of the nearest of the sorted ``levels`` for each value of ``x``."""
    edges = (levels[1:] + levels[:-1]) / 2
    return np.searchsorted(edges, x).astype(np.int64)


class SideQuantizers:
    """Lloyd-Max levels per stream and bit depth: ``tables["lf0"]``, ``tables["c0"]`` ``(MAX_BITS, 2**MAX_BITS)``
    and ``tables["bap"]`` ``(B, MAX_BITS, 2**MAX_BITS)``; row ``b - 1`` holds the ``2**b`` levels of b bits (log-F0:
    ``2**b - 1``, code 0 being unvoiced), NaN after them."""

    def __init__(self, tables: dict[str, np.ndarray]):
        width = 2 ** MAX_BITS
        try:
            lf0, c0, bap = (np.asarray(tables[k], float) for k in STREAMS)
        except KeyError as e:
            raise ValueError(f"side quantisers: no {e} table") from None
        if lf0.shape != (MAX_BITS, width) or c0.shape != (MAX_BITS, width) or bap.ndim != 3 \
                or bap.shape[1:] != (MAX_BITS, width) or len(bap) < 1:
            raise ValueError(f"side quantisers: tables of shape lf0 {lf0.shape}, c0 {c0.shape}, bap {bap.shape}")
        for b in range(1, MAX_BITS + 1):
            for name, rows in (("lf0", [lf0]), ("c0", [c0]), ("bap", list(bap))):
                n = 2 ** b - (name == "lf0")
                for row in rows:
                    used = row[b - 1, :n]
                    if not np.all(np.isfinite(used)) or np.any(np.diff(used) < 0):
                        raise ValueError(f"side quantisers: {name} levels of {b} bits are not finite and sorted")
        self.tables = {"lf0": lf0, "c0": c0, "bap": bap}

    @property
    def bands(self) -> int:
        return len(self.tables["bap"])

    @classmethod
    def fit(cls, blocks: list[dict[str, np.ndarray]]) -> SideQuantizers:
        """Fit every stream's levels on the block values of training utterances (:func:`block_streams`)."""
        width = 2 ** MAX_BITS
        voiced = np.concatenate([b["lf0"][b["voiced"]] for b in blocks])
        c0 = np.concatenate([b["c0"] for b in blocks])
        bap = np.concatenate([b["bap"] for b in blocks])
        if len(voiced) == 0:
            raise ValueError("no voiced blocks in the training set: cannot fit the log-F0 quantiser")

        def table(values, minus):
            out = np.full((MAX_BITS, width), np.nan)
            for b in range(1, MAX_BITS + 1):
                out[b - 1, :2 ** b - minus] = lloyd_max(values, 2 ** b - minus)
            return out

        return cls({"lf0": table(voiced, 1), "c0": table(c0, 0),
                    "bap": np.stack([table(bap[:, j], 0) for j in range(bap.shape[1])])})

    def to_arrays(self) -> dict[str, np.ndarray]:
        return dict(self.tables)

    def quantize(self, blocks: dict[str, np.ndarray], f0_bits: int, c0_bits: int, bap_bits: int) -> np.ndarray:
        """Block streams -> indices ``(T', 2 + B)`` int64: log-F0 (0 = unvoiced, else 1 + level), c0, bands."""
        if blocks["bap"].shape[1] != self.bands:
            raise ValueError(f"{blocks['bap'].shape[1]} aperiodicity bands, the quantisers have {self.bands}")
        t = self.tables
        lf0 = np.where(blocks["voiced"], 1 + nearest(self._levels(t["lf0"], f0_bits, 1),
                                                     np.nan_to_num(blocks["lf0"])), 0)
        c0 = nearest(self._levels(t["c0"], c0_bits), blocks["c0"])
        bap = [nearest(self._levels(t["bap"][j], bap_bits), blocks["bap"][:, j]) for j in range(self.bands)]
        return np.stack([lf0, c0, *bap], axis=1)

    def dequantize(self, idx: np.ndarray, f0_bits: int, c0_bits: int, bap_bits: int) -> dict[str, np.ndarray]:
        """Indices ``(T', 2 + B)`` (:meth:`quantize`) -> block streams; an index beyond its levels: ValueError."""
        t = self.tables
        lev_f0 = self._levels(t["lf0"], f0_bits, 1)
        lev_c0 = self._levels(t["c0"], c0_bits)
        if idx.ndim != 2 or idx.shape[1] != 2 + self.bands or idx.min(initial=0) < 0 \
                or idx[:, 0].max(initial=0) > len(lev_f0) or idx[:, 1].max(initial=0) >= len(lev_c0):
            raise ValueError("side-stream indices out of range")
        voiced = idx[:, 0] > 0
        lf0 = np.where(voiced, lev_f0[np.maximum(idx[:, 0] - 1, 0)], np.nan)
        bap = np.stack([self._levels(t["bap"][j], bap_bits)[idx[:, 2 + j]] for j in range(self.bands)], axis=1)
        return {"voiced": voiced, "lf0": lf0, "c0": lev_c0[idx[:, 1]], "bap": bap}

    @staticmethod
    def _levels(table: np.ndarray, bits: int, minus: int = 0) -> np.ndarray:
        if not 1 <= bits <= MAX_BITS:
            raise ValueError(f"{bits} bits: the side quantisers hold 1..{MAX_BITS}")
        return table[bits - 1, :2 ** bits - minus]
