"""F0 ranges found from the data (analyze --f0-ranges auto) beside the hand-set ranges of recipes/arctic_vc, on
the shared CMU ARCTIC bdl (US male) and slt (US female).

    python benchmarks/f0_ranges.py [--sentences 50] [-j 2]

Prints (1) each speaker's automatic range (a first pass over 40 of its 400 utterances) beside the hand-set one and
their relative difference; (2) octave errors of harvest with either range on the last --sentences sentences of each
speaker, against a careful reference: the frames where harvest and DIO + StoneMask, both searching the wide default
range (71-800 Hz), agree within 5% (two estimators of different principles rarely make the same error there). An
octave error is a frame voiced in both whose F0 is within a quarter octave of half or double the reference's; a
gross error one more than 20% off.
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import pyworld
from _common import ROOT, corpus_or_exit, table

import speechvae  # noqa: F401
from speechvae.analysis.audio import read_audio
from speechvae.analysis.corpus import read_f0_ranges
from speechvae.analysis.f0range import estimate_ranges
from speechvae.analysis.features import extract_f0, highpass, resolve_analysis
from speechvae.analysis.inputs import collect_inputs
from speechvae.config import AnalysisConfig
from speechvae.parallel import task_runner

HAND = ROOT / "recipes" / "arctic_vc" / "conf" / "f0_ranges.txt"
SPEAKERS = ("bdl", "slt")


def _f0s(args) -> dict[str, np.ndarray]:
    """Worker: harvest with the hand and the automatic range, and the wide harvest / DIO pair, of one wav."""
    path, cfg, hand, auto = args
    x = highpass(read_audio(path, cfg.fs), cfg.fs, cfg.highpass_hz)
    out = {}
    for name, (lo, hi) in (("hand", hand), ("auto", auto), ("wide", (cfg.f0_floor, cfg.f0_ceil))):
        out[name] = extract_f0(x, dataclasses.replace(cfg, f0_floor=lo, f0_ceil=hi))[0]
    f0, t = pyworld.dio(x, cfg.fs, f0_floor=cfg.f0_floor, f0_ceil=cfg.f0_ceil, frame_period=cfg.frame_period)
    out["dio_wide"] = pyworld.stonemask(x, f0, t, cfg.fs)
    return out


def errors(test: np.ndarray, ref: np.ndarray) -> tuple[int, int, int]:
    """(reference frames voiced in ``test``, octave errors, gross errors)."""
    both = (test > 0) & (ref > 0)
    r = np.log2(test[both] / ref[both])
    octave = np.abs(np.abs(r) - 1) < 0.25
    gross = np.abs(test[both] / ref[both] - 1) > 0.2
    return int(both.sum()), int(octave.sum()), int(gross.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=50, help="last N sentences of each speaker for the error count")
    ap.add_argument("-j", type=int, default=2)
    args = ap.parse_args()
    db = corpus_or_exit("cmu_arctic_bdl_slt")
    cfg = resolve_analysis(AnalysisConfig())
    hand = read_f0_ranges(HAND, cfg)
    utts = collect_inputs([db / s for s in SPEAKERS])
    t0 = time.perf_counter()
    with task_runner(args.j) as run:
        auto = estimate_ranges(utts, cfg, run)
        probe_s = time.perf_counter() - t0
        rows = []
        for s in SPEAKERS:
            (hl, hh), (al, ah) = hand[s], auto[s]
            rows.append([s, f"{hl:g}-{hh:g}", f"{al:g}-{ah:g}", f"{100 * (al / hl - 1):+.0f}%",
                         f"{100 * (ah / hh - 1):+.0f}%"])
        print(f"\n## Automatic F0 ranges (first pass: {probe_s:.0f} s for both speakers)\n")
        print(table(["speaker", "hand-set Hz", "auto Hz", "floor vs hand", "ceil vs hand"], rows))
        chosen = [u for s in SPEAKERS for u in [v for v in utts if v.speaker == s][-args.sentences:]]
        work = [(u.path, cfg, hand[u.speaker], auto[u.speaker]) for u in chosen]
        res = run(_f0s, work, desc="harvest x3 + DIO")
    rows = []
    for s in SPEAKERS:
        mine = [r for r, u in zip(res, chosen) if u.speaker == s]
        counts = {k: np.zeros(3, int) for k in ("hand", "auto")}
        ref_frames = 0
        for r in mine:
            h, d = r["wide"], r["dio_wide"]
            agree = (h > 0) & (d > 0) & (np.abs(h / np.where(d > 0, d, 1) - 1) < 0.05)
            ref = np.where(agree, h, 0.0)
            ref_frames += int(agree.sum())
            for k in counts:
                counts[k] += errors(r[k], ref)
        for k, (n, octave, gross) in counts.items():
            rows.append([s, k, ref_frames, n, f"{100 * octave / n:.3f}%", f"{100 * gross / n:.3f}%"])
    print(
        f"\n## Octave errors of harvest, last {args.sentences} sentences per speaker "
        f"({time.perf_counter() - t0:.0f} s)\n"
    )
    print(
        table(["speaker", "range", "reference frames", "voiced in both", "octave errors", "gross errors (> 20%)"], rows)
    )


if __name__ == "__main__":
    main()
