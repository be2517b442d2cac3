"""Per-speaker F0 search ranges found from the data (``analyze --f0-ranges auto``).

Wrong ranges give octave errors that no model repairs; sprocket and crank make users read histograms and write
the ranges by hand. Here a fast first pass (DIO + StoneMask, 5 ms frames) over up to :data:`PROBE_UTTERANCES` of
each speaker's utterances, spread over the sorted list, searches the configured wide range
(``analysis.f0_floor``..``f0_ceil``); the range kept is

    floor = FLOOR_FACTOR x the 5th percentile of the voiced frames' F0   (5 semitones below it)
    ceil  = CEIL_FACTOR  x the 95th percentile                           (an octave above it)

clipped to the configured range. Percentiles rather than extremes, because the wide pass makes octave errors of its
own; margins wider upward, where emphasis takes F0 (the asymmetry of the two-pass rules of Hirst and of De Looze
and Hirst, whose ceilings are 1.5-1.9 x an upper quartile). The floor stays low on purpose: on CMU ARCTIC slt the
recipe's hand-set floor (120 Hz) leaves the low, creaky ends of phrases (100-120 Hz) to harvest's octave errors,
which a lower floor avoids (benchmarks/f0_ranges.py and README: the ranges found and the octave errors of each).

A speaker with fewer than :data:`MIN_VOICED_FRAMES` voiced frames in the first pass keeps the configured range,
with a warning. The ranges are written to ``FEATDIR/f0_ranges.txt`` in the format users write, so that they can be
read, edited and passed back with ``--f0-ranges FILE``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyworld

from speechvae.analysis.audio import AudioError, read_audio
from speechvae.analysis.features import highpass
from speechvae.store import atomic_write_text

log = logging.getLogger(__name__)

PROBE_UTTERANCES = 40
MIN_VOICED_FRAMES = 400  # 2 s of voiced speech at 5 ms frames
FLOOR_FACTOR = 0.75
CEIL_FACTOR = 2.0
RANGES_FILE = "f0_ranges.txt"


def range_from_f0(voiced_f0: np.ndarray, floor: float, ceil: float) -> tuple[float, float] | None:
    """The search range for voiced-frame F0 values ``(N,)`` Hz (module docstring), within ``floor``..``ceil``
    Hz; None with fewer than :data:`MIN_VOICED_FRAMES` values.

    >>> f0 = np.linspace(100, 200, 1001)   # 5th / 95th percentiles 105 / 195 Hz
    >>> range_from_f0(f0, 71, 800)         # 0.75 x 105, 2 x 195
    (79.0, 390.0)
    >>> range_from_f0(f0[:10], 71, 800) is None
    True
    """
    v = np.asarray(voiced_f0, dtype=float)
    v = v[v > 0]
    if len(v) < MIN_VOICED_FRAMES:
        return None
    lo, hi = np.percentile(v, [5, 95])
    lo, hi = max(floor, round(FLOOR_FACTOR * lo)), min(ceil, round(CEIL_FACTOR * hi))
    return (float(lo), float(hi)) if lo < hi else None


def _probe(args: tuple[str, object]) -> np.ndarray:
    """Worker: voiced F0 (Hz) of one wav by DIO + StoneMask over the configured wide range."""

    path, cfg = args
    try:
        x = highpass(read_audio(path, cfg.fs), cfg.fs, cfg.highpass_hz)
    except AudioError:
        return np.zeros(0)  # the analysis proper reports the file
    f0, t = pyworld.dio(x, cfg.fs, f0_floor=cfg.f0_floor, f0_ceil=cfg.f0_ceil, frame_period=cfg.frame_period)
    f0 = pyworld.stonemask(x, f0, t, cfg.fs)
    return f0[f0 > 0]


def estimate_ranges(utts: list, cfg, run) -> dict[str, tuple[float, float]]:
    """Speaker -> (floor, ceil) Hz for the utterances ``utts`` (:class:`speechvae.analysis.corpus.Utterance`) with the
    resolved analysis config ``cfg``; ``run``: a :func:`speechvae.parallel.task_runner` backend. Speakers whose first
    pass finds too little voiced speech are left out (they keep the configured range), with a warning."""
    by_spk: dict[str, list] = {}
    for u in sorted(utts, key=lambda u: u.utt_id):
        by_spk.setdefault(u.speaker, []).append(u)
    work, owner = [], []
    for spk, us in by_spk.items():
        step = max(1, len(us) // PROBE_UTTERANCES)
        for u in us[::step][:PROBE_UTTERANCES]:
            work.append((u.path, cfg))
            owner.append(spk)
    f0s = run(_probe, work, desc="F0 ranges")
    ranges = {}
    for spk in by_spk:
        v = np.concatenate([f for f, s in zip(f0s, owner) if s == spk] or [np.zeros(0)])
        r = range_from_f0(v, cfg.f0_floor, cfg.f0_ceil)
        if r is None:
            log.warning("speaker %s: %d voiced frames in the first pass, too few to set an F0 range: "
                        "keeps %.0f-%.0f Hz",
                        spk, len(v), cfg.f0_floor, cfg.f0_ceil)
            continue
        ranges[spk] = r
        log.info("speaker %s: F0 range %.0f-%.0f Hz (from %d voiced frames of %d utterances; 5th / 95th percentile "
                 "%.0f / %.0f Hz)", spk, *r, len(v), owner.count(spk), *np.percentile(v, [5, 95]))
    return ranges


def write_ranges(path: str | Path, ranges: dict[str, tuple[float, float]], note: str) -> None:
    """``speaker floor_hz ceil_hz`` lines (the format of ``--f0-ranges FILE``), with a comment line ``note``."""

    lines = [f"# {note}"] + [f"{s} {lo:g} {hi:g}" for s, (lo, hi) in sorted(ranges.items())]
    atomic_write_text(Path(path), "\n".join(lines) + "\n")
