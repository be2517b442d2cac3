"""Training memory against corpus size: peak RSS of one training epoch, frames in memory vs streamed from
the frame store, on synthetic feature folders whose size grows 10x per step.

    python benchmarks/framestore.py [--frames 260000,2600000] [--out data/bench/framestore]

Each folder holds utterances of 1000 random-walk mel-cepstrum frames (not speech: memory and speed do not
depend on what the frames say), generated here and not kept unless --keep. Each cell runs `speechvae train`
for one epoch (the default MLP, batch 128, a 10-utterance validation list) in a fresh process and reads its
peak RSS from the kernel (``ru_maxrss`` of the child). Prints a markdown table.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import ROOT, table

import speechvae  # noqa: F401
from speechvae.analysis.featdir import feature_path, write_featdir_analysis, write_manifest
from speechvae.analysis.features import Features, resolve_analysis
from speechvae.config import AnalysisConfig

UTT_FRAMES = 1000


def synthetic_featdir(out: Path, frames: int, seed: int = 0) -> Path:
    """A feature folder of ``frames`` frames in utterances of UTT_FRAMES (made once, reused)."""
    n = frames // UTT_FRAMES
    if (out / "manifest.tsv").is_file() and len((out / "manifest.tsv").read_text().splitlines()) == n + 1:
        return out
    a = resolve_analysis(AnalysisConfig())
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        mcep = np.cumsum(rng.standard_normal((UTT_FRAMES, 40)) * 0.05, axis=0) * np.r_[1.0, 1 / np.arange(1, 40)]
        f0 = np.where(rng.random(UTT_FRAMES) < 0.6, 120.0, 0.0)
        Features(f0=f0, mcep=mcep, bap=np.zeros((UTT_FRAMES, 1)), power_db=mcep[:, 0] * 8.7, fs=a.fs,
                 frame_period=a.frame_period, alpha=a.alpha, fft_size=a.fft_size).save(feature_path(out, f"u{i:06d}"))
        rows.append({"utt_id": f"u{i:06d}", "speaker": "synthetic", "path": "-", "frames": UTT_FRAMES,
                     "seconds": UTT_FRAMES * a.frame_period / 1000})
    write_manifest(out, rows)
    write_featdir_analysis(out, a)
    return out


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of a child process: ru_maxrss of the children is the maximum over
    children waited for, so each cell runs in its own python that starts one training."""
    runner = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
              "r = subprocess.run(sys.argv[1:]); w = time.perf_counter() - t; "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, w); sys.exit(r.returncode)")
    r = subprocess.run([sys.executable, "-c", runner, *cmd], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    rss, wall = r.stdout.split()[-2:]
    return float(rss), float(wall)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", default="260000,2600000", help="comma-separated corpus sizes in frames")
    ap.add_argument("--out", default=str(ROOT / "data" / "bench" / "framestore"))
    ap.add_argument("--keep", action="store_true", help="keep the synthetic feature folders")
    ap.add_argument("--modes", default="memory,store",
                    help="memory (all frames in one tensor) and/or store (streamed from the frame store)")
    args = ap.parse_args()
    out = Path(args.out)
    rows = []
    for frames in [int(v) for v in args.frames.split(",")]:
        t0 = time.perf_counter()
        feat = synthetic_featdir(out / f"feat{frames}", frames)
        made = time.perf_counter() - t0
        ids = [f"u{i:06d}" for i in range(frames // UTT_FRAMES)]
        (out / "valid.list").write_text("".join(f"{u}\n" for u in ids[-10:]))
        (out / "train.list").write_text("".join(f"{u}\n" for u in ids[:-10]))
        modes = {"memory": ("in memory", "100000"), "store": ("frame store", "0")}
        for mode, limit in (modes[m] for m in args.modes.split(",")):
            exp = out / f"exp{frames}_{limit}"
            shutil.rmtree(exp, ignore_errors=True)
            rss, wall = peak_rss_mb([sys.executable, "-m", "speechvae.cli", "-q", "train", str(feat), "-o", str(exp),
                                     "--epochs", "1", "--train-list", str(out / "train.list"), "--valid-list",
                                     str(out / "valid.list"), "--set", f"train.max_memory_mb={limit}",
                                     "--set", "train.device=cpu"])
            rows.append([f"{frames:,}", mode, rss, f"{rss * 1e6 / frames:.0f}", wall])
            print(f"({frames} frames, {mode}: {rss:.0f} MB, {wall:.0f} s; folder made in {made:.0f} s)", flush=True)
            shutil.rmtree(exp, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(feat)
    print("\n## Training memory: one epoch, default MLP, batch 128, CPU\n")
    print(table(["training frames", "frames kept", "peak RSS MB", "bytes / frame", "wall s (stats, packing, epoch)"],
                rows))


if __name__ == "__main__":
    main()
