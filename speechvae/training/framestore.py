"""Training frames of a corpus larger than memory: packed once into one float32 file, read back in blocks.

``EXPDIR/frames/train.f32`` holds the normalised c1..c39 frames of the training utterances, concatenated
in id order, ``(N, D)`` float32 row-major; ``train.json`` beside it the utterance ids, their frame offsets
and a fingerprint of what the frames came from (each feature file's name, size and modification time, the
normalisation stats, the scaling). A later run with the same fingerprint reuses the file; any change
rebuilds it. Packing reads one utterance at a time, and an epoch reads one block at a time, so peak memory
is a few blocks whatever the corpus size (frames are read with ``numpy.fromfile``, not memory-mapped, so
they do not stay resident in the process).

An epoch visits the blocks in a seeded random order and shuffles the frames within each block. With one
block (a corpus no larger than ``block_frames``) this is exactly the in-memory path's order, so both give
the same training run for the same seed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from speechvae.analysis.featdir import feature_path
from speechvae.analysis.features import Features
from speechvae.analysis.stats import Stats
from speechvae.store import atomic_path, write_json

log = logging.getLogger(__name__)

BLOCK_FRAMES = 1 << 20  # frames per block read: 1 Mi frames x 39 dims x 4 bytes = 156 MB


def fingerprint(featdir: str | Path, utt_ids: list[str], stats: Stats, scaling: str) -> str:
    """sha256 of the feature files' names, sizes and mtimes, the stats arrays and the scaling."""
    h = hashlib.sha256(scaling.encode())
    for u in utt_ids:
        st = os.stat(feature_path(featdir, u))
        h.update(f"{u}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    for k, v in sorted(stats.to_arrays().items()):
        h.update(k.encode())
        h.update(np.ascontiguousarray(np.asarray(v, dtype=np.float64)).tobytes())
    return h.hexdigest()


@dataclass
class FrameStore:
    path: Path  # the .f32 file
    frames: int
    dim: int
    offsets: np.ndarray  # (utterances + 1,) frame offsets

    def __len__(self) -> int:
        return self.frames

    @property
    def shape(self) -> tuple[int, int]:
        return (self.frames, self.dim)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` as a ``(stop - start, D)`` float32 array (one read, nothing kept)."""
        return np.fromfile(self.path, dtype=np.float32, count=(stop - start) * self.dim,
                           offset=start * self.dim * 4).reshape(-1, self.dim)

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Frames at sorted indices ``idx`` (a small probe), read through a memory map closed at once."""
        mm = np.memmap(self.path, dtype=np.float32, mode="r", shape=self.shape)
        try:
            return np.array(mm[np.sort(idx)])
        finally:
            del mm

    def blocks(self, g: torch.Generator, block_frames: int = BLOCK_FRAMES) -> list[tuple[int, int]]:
        """This epoch's ``(start, stop)`` blocks in a random order drawn from ``g`` (no draw for one block)."""
        edges = list(range(0, self.frames, block_frames)) + [self.frames]
        spans = list(zip(edges[:-1], edges[1:]))
        if len(spans) > 1:
            spans = [spans[i] for i in torch.randperm(len(spans), generator=g, device=g.device).tolist()]
        return spans


def pack(featdir: str | Path, utt_ids: list[str], stats: Stats, scaling: str, outdir: str | Path,
         name: str = "train") -> FrameStore:
    """The frame store of ``utt_ids`` in ``outdir`` (``<name>.f32`` + ``<name>.json``), reused when its
    fingerprint matches, else written one utterance at a time."""
    outdir = Path(outdir)
    data, meta = outdir / f"{name}.f32", outdir / f"{name}.json"
    fp = fingerprint(featdir, utt_ids, stats, scaling)
    if meta.is_file() and data.is_file():
        try:
            m = json.loads(meta.read_text())
            if m.get("fingerprint") == fp and data.stat().st_size == m["frames"] * m["dim"] * 4:
                return FrameStore(data, m["frames"], m["dim"], np.asarray(m["offsets"]))
        except (ValueError, KeyError):
            pass
        log.info("%s: features or stats changed since it was packed; packing again", data)
    offsets, dim = [0], None
    with atomic_path(data) as tmp, open(tmp, "wb") as f:
        for u in utt_ids:
            x = stats.normalize(Features.load(feature_path(featdir, u)).mcep[:, 1:], scaling).astype(np.float32)
            dim = x.shape[1]
            f.write(np.ascontiguousarray(x).tobytes())
            offsets.append(offsets[-1] + len(x))
    write_json(meta, {"fingerprint": fp, "frames": offsets[-1], "dim": dim, "utt_ids": list(utt_ids),
                      "offsets": offsets})
    log.info("packed %d frames of %d utterances into %s (%.0f MB)", offsets[-1], len(utt_ids), data,
             offsets[-1] * dim * 4 / 1e6)
    return FrameStore(data, offsets[-1], dim, np.asarray(offsets))
