"""Analysis speed: real-time factor per stage, ours vs the naive pysptk path, and -j 2 vs -j 1.

    python benchmarks/analysis.py [--corpus cmu_arctic]

RTF = processing seconds / audio seconds (lower is faster). Prints a markdown table.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pysptk
import pyworld
from _common import corpus_or_exit, table

import speechvae  # noqa: F401
from speechvae.analysis.audio import read_audio
from speechvae.analysis.corpus import analyze_corpus
from speechvae.analysis.features import extract_f0, highpass, resolve_analysis
from speechvae.analysis.inputs import collect_inputs
from speechvae.analysis.mcep import mcep_to_sp, sp_to_mcep
from speechvae.config import AnalysisConfig


def stage_times(wavs: list[Path], cfg: AnalysisConfig) -> dict[str, float]:
    cfg = resolve_analysis(cfg)
    t = dict.fromkeys(["read+highpass", "F0 (harvest)", "envelope (CheapTrick)", "aperiodicity (D4C)",
                       "sp->mcep ours", "sp->mcep pysptk.sp2mc", "mcep->sp ours", "mcep->sp pysptk.mc2sp"], 0.0)
    audio_s = 0.0
    for w in wavs:
        t0 = time.perf_counter()
        x = highpass(read_audio(w, cfg.fs), cfg.fs, cfg.highpass_hz)
        audio_s += len(x) / cfg.fs
        t1 = time.perf_counter()
        f0, tt = extract_f0(x, cfg)
        t2 = time.perf_counter()
        sp = pyworld.cheaptrick(x, f0, tt, cfg.fs, f0_floor=cfg.f0_floor, fft_size=cfg.fft_size)
        t3 = time.perf_counter()
        pyworld.d4c(x, f0, tt, cfg.fs, fft_size=cfg.fft_size)
        t4 = time.perf_counter()
        mc = sp_to_mcep(sp, cfg.order, cfg.alpha)
        t5 = time.perf_counter()
        mc_ref = pysptk.sp2mc(sp, cfg.order, cfg.alpha)
        t6 = time.perf_counter()
        mcep_to_sp(mc, cfg.alpha, cfg.fft_size)
        t7 = time.perf_counter()
        pysptk.mc2sp(mc_ref, cfg.alpha, cfg.fft_size)
        t8 = time.perf_counter()
        assert np.max(np.abs(mc - mc_ref)) < 1e-8
        for k, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6, t8 - t7)):
            t[k] += dt
    return {k: v / audio_s for k, v in t.items()} | {"_audio_s": audio_s}


def pool_time(wavs: list[Path], jobs: int, scheduler: str | None = None) -> float:
    out = Path(tempfile.mkdtemp())
    try:
        t0 = time.perf_counter()
        analyze_corpus(collect_inputs(wavs), out, AnalysisConfig(), jobs=jobs, progress=False, scheduler=scheduler)
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", default="aishell1_S0913", help="folder under ../shared/corpora")
    ap.add_argument("--limit", type=int, default=24, help="at most this many files")
    args = ap.parse_args()
    wavs = sorted(corpus_or_exit(args.corpus).rglob("*.wav"))[: args.limit]
    sp_to_mcep(np.ones((1, 513)), 39, 0.41)  # build the cached warping matrices outside the timing
    mcep_to_sp(np.zeros((1, 40)), 0.41, 1024)
    rtf = stage_times(wavs, AnalysisConfig())
    audio_s = rtf.pop("_audio_s")
    print(f"## Analysis: {len(wavs)} files of {args.corpus}, {audio_s:.1f} s of audio, 16 kHz, order 39\n")
    rows = [[k, v, ""] for k, v in rtf.items()]
    for i, (ours, ref) in enumerate(
        [("sp->mcep ours", "sp->mcep pysptk.sp2mc"), ("mcep->sp ours", "mcep->sp pysptk.mc2sp")]
    ):
        speed = rtf[ref] / rtf[ours]
        for r in rows:
            if r[0] == ours:
                r[2] = f"{speed:.0f}x faster than pysptk"
    print(table(["stage", "RTF", "note"], rows))
    t1, t2 = pool_time(wavs, 1), pool_time(wavs, 2)
    rows = [["-j 1 (in process)", t1, t1 / audio_s, "1.0x"], ["-j 2 (process pool)", t2, t2 / audio_s,
                                                              f"{t1 / t2:.2f}x"]]
    try:
        import distributed  # noqa: F401

        td = pool_time(wavs, 2, scheduler="local")
        rows.append(
            ["-j 2 --scheduler local (Dask LocalCluster, start-up included)", td, td / audio_s, f"{t1 / td:.2f}x"]
        )
    except ImportError:
        rows.append(["Dask LocalCluster", "n/a", "n/a", "pip install 'speechvae[dask]'"])
    print()
    print(table(["analyze (whole corpus call)", "wall s", "RTF", "speed-up"], rows))


if __name__ == "__main__":
    main()
