"""Two scored conversions of the same sentences side by side, with paired bootstrap intervals (how the conversion
configurations were chosen on dev).

    python benchmarks/vc_compare.py A/vc.json B/vc.json [--resamples 2000] [--seed 0]

A and B: the vc.json files `evaluate-vc --quality` writes (benchmarks/vc_postfilter.py leaves one in every folder it
scores), of two systems converting the same source sentences to the same target. Per measure (DTW MCD dB, speaker
similarity to the target, DNSMOS P.808), the mean of each, the mean of B - A over the sentences both scored, and a 95%
interval of that mean by resampling sentences with replacement (the same resample for both systems: the sentences'
own difficulty cancels). An interval that holds 0 says the dev sentences cannot tell the two apart on that measure.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _common import table

MEASURES = (("DTW MCD dB", "mcd"), ("similarity to target", "similarity_target"), ("DNSMOS P.808", "dnsmos_p808"))


def per_sentence(m: dict, key: str) -> dict[str, float]:
    """``{converted id: value}`` of one measure of the model's conversions in an evaluate-vc dict ``m``."""
    if key == "mcd":
        return {u: float(r["mcd_db"]) for u, r in m["model"]["per_utterance"].items()}
    return {u: float(r["model"][key]) for u, r in m["quality"]["per_utterance"].items()
            if key in r.get("model", {})}


def load_scores(path: Path) -> dict:
    """The evaluate-vc dict in ``path``; a missing file, one that is not JSON, or one without the model's per-sentence
    MCD and quality measures is refused in one line (SystemExit)."""
    if not path.is_file():
        raise SystemExit(f"{path}: no such file (the vc.json of a folder evaluate-vc --quality scored)")
    try:
        m = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SystemExit(f"{path}: not JSON ({e})")
    if not (isinstance(m, dict) and "per_utterance" in m.get("model", {}) and "per_utterance" in m.get("quality", {})):
        raise SystemExit(f"{path}: not an evaluate-vc --quality result (no model MCD and quality per sentence)")
    return m


def paired_interval(a: np.ndarray, b: np.ndarray, resamples: int, rng: np.random.Generator,
                    level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``b - a`` (paired values, one per sentence) and its percentile bootstrap interval at ``level``.

    >>> paired_interval(np.zeros(4), np.ones(4), 100, np.random.default_rng(0))
    (1.0, 1.0, 1.0)
    """
    d = np.asarray(b, float) - np.asarray(a, float)
    means = d[rng.integers(0, len(d), (resamples, len(d)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(d.mean()), float(lo), float(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ma, mb = load_scores(args.a), load_scores(args.b)
    rng = np.random.default_rng(args.seed)
    rows = []
    for label, key in MEASURES:
        va, vb = per_sentence(ma, key), per_sentence(mb, key)
        both = sorted(set(va) & set(vb))
        if not both:
            raise SystemExit(f"{label}: no sentence scored in both {args.a} and {args.b}")
        a, b = np.array([va[u] for u in both]), np.array([vb[u] for u in both])
        mean, lo, hi = paired_interval(a, b, args.resamples, rng)
        rows.append([label, len(both), a.mean(), b.mean(), mean, f"[{lo:+.3f}, {hi:+.3f}]"])
    print(table(["measure", "sentences", "A", "B", "B - A", "95% interval"], rows))


if __name__ == "__main__":
    main()
