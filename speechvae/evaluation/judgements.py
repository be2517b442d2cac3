"""Judgements of a waveform kept on disk, keyed by the waveform itself.

The references a conversion stands beside (the source through WORLD, its mean/std map, the target's copy synthesis
and recording, the recordings a speaker's centroid is made of) do not change from one model to the next, yet each
``evaluate-vc --quality`` judged them again: DNSMOS and a speaker embedding, about 2 s a waveform on a CPU. With a
cache folder each waveform is judged once; a re-run, or the next model, reads the judgement back.

The key is the SHA-256 of the samples (float64, as judged), their rate and the measures' versions
(:func:`speechvae.evaluation.quality.conventions`): a changed file, vocoder, statistic or library version is a miss,
never a stale figure. An entry is one JSON file, ``CACHE/<key[:2]>/<key>.json``, written atomically; one that cannot
be read back (truncated, edited, of another format) is judged again and rewritten.

>>> import tempfile
>>> cache = JudgementCache(tempfile.mkdtemp())
>>> x = np.sin(np.arange(16000) / 10.0)
>>> cache.judged(x, 16000, lambda: {"dnsmos_p808": 3.5}), cache.judged(x, 16000, lambda: {"dnsmos_p808": 0.0})
({'dnsmos_p808': 3.5}, {'dnsmos_p808': 3.5})
>>> cache.hits, cache.misses
(1, 1)
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Callable

import numpy as np

from speechvae.evaluation.quality import conventions
from speechvae.store import atomic_write_text

log = logging.getLogger(__name__)

FORMAT = "speechvae-judgement-1"


class JudgementCache:
    """Judgements (JSON-able dicts) of waveforms under ``folder``; ``hits`` and ``misses`` count this run's look-ups."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.hits = self.misses = 0
        self._salt = json.dumps(conventions(), sort_keys=True).encode()

    def key(self, x: np.ndarray, fs: int, kind: str = "") -> str:
        """The entry name of samples ``x`` ``(N,)`` at ``fs`` Hz under this run's measure versions, for judgements of
        ``kind`` (one waveform may be judged in several ways)."""
        h = hashlib.sha256(self._salt)
        h.update(f"{kind}|{int(fs)}|".encode())
        h.update(np.ascontiguousarray(x, dtype=np.float64).tobytes())
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The judgement stored under ``key``, or None (absent, or unreadable: then judged again)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text())
            if entry.get("format") == FORMAT and entry.get("key") == key and isinstance(entry.get("value"), dict):
                return entry["value"]
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            pass
        log.warning("%s: not a judgement this version wrote: judged again", path)
        return None

    def put(self, key: str, value: dict) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"format": FORMAT, "key": key, "value": value}))

    def judged(self, x: np.ndarray, fs: int, judge: Callable[[], dict], kind: str = "") -> dict:
        """``judge()`` of the waveform ``x`` at ``fs`` Hz, read back when this cache holds it."""
        key = self.key(x, fs, kind)
        value = self.get(key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = judge()
        self.put(key, value)
        return value
