"""Corpus-level analysis: find utterances, analyse them in a process pool, store, summarise.

Inputs are wav files, folders (searched recursively for ``*.wav``) or list files with
``utt_id path`` lines (Kaldi ``wav.scp`` style). The speaker of an utterance is the name of the
folder that holds its wav file (used for the per-speaker F0/power histograms).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speechvae.analysis.audio import AudioError
from speechvae.analysis.f0range import RANGES_FILE, estimate_ranges, write_ranges
from speechvae.analysis.featdir import (
    ANALYSIS_YAML,
    FEATS_SUBDIR,
    STATS_FILE,
    FeatureFolder,
    check_speaker,
    feature_path,
    inside,
    read_featdir_analysis,
    read_manifest,
    speaker_stats_path,
    speakers,
    stats_for,
    write_featdir_analysis,
    write_manifest,
)
from speechvae.analysis.features import Features, resolve_analysis, wav2features
from speechvae.analysis.inputs import CorpusError, Utterance, collect_inputs
from speechvae.config import AnalysisConfig, config_diff
from speechvae.parallel import task_runner
from speechvae.plots import f0_power_histogram, save_figure
from speechvae.store import StoreError, remove_stale_tmp

log = logging.getLogger(__name__)


@dataclass
class AnalysisReport:
    rows: list[dict] = field(default_factory=list)  # manifest rows of the utterances now stored
    analysed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)  # one line each, naming file and cause


def _analyse_one(args: tuple[Utterance, str, AnalysisConfig, bool]) -> tuple[dict | None, str | None, bool]:
    """Worker: analyse and store one utterance. Returns (manifest row, error line, was_skipped)."""
    utt, featdir, cfg, overwrite = args
    out = feature_path(featdir, utt.utt_id)
    row = {"utt_id": utt.utt_id, "speaker": utt.speaker, "path": utt.path}
    if out.exists() and not overwrite:
        try:
            f = Features.load(out)
            return {**row, "frames": f.frames, "seconds": f.frames * f.frame_period / 1000.0}, None, True
        except StoreError:
            pass  # unreadable leftover: analyse again
    try:
        f = wav2features(utt.path, cfg)
    except AudioError as e:
        return None, str(e), False
    except Exception as e:  # a WORLD/pysptk failure on odd input: report, keep the corpus going
        return None, f"{utt.path}: analysis failed ({type(e).__name__}: {e})", False
    f.save(out)
    return {**row, "frames": f.frames, "seconds": f.frames * f.frame_period / 1000.0}, None, False


def _check_featdir_config(featdir: Path, cfg: AnalysisConfig, overwrite: bool) -> None:
    """Refuse to mix features of two analysis configs in one folder (unless --overwrite)."""
    if overwrite or not (featdir / ANALYSIS_YAML).exists():
        return
    diff = config_diff(read_featdir_analysis(featdir), cfg)
    if diff:
        raise CorpusError(f"{featdir} holds features made with other analysis settings "
                          f"({featdir / ANALYSIS_YAML} -> this run: {'; '.join(diff)}); "
                          "use --overwrite to re-analyse everything, or another output folder")


def analyze_corpus(utts: list[Utterance], featdir: str | Path, cfg: AnalysisConfig, jobs: int = 1,
                   overwrite: bool = False, progress: bool = True, scheduler: str | None = None) -> AnalysisReport:
    """Analyse every utterance into ``featdir/feats/<utt>.npz``, then write the manifest, the resolved
    analysis config, ``stats.npz`` over all stored utterances (and ``stats/<speaker>.npz`` per speaker when
    there are several) and per-speaker F0/power histograms.

    Results do not depend on ``jobs`` or ``scheduler`` (None: local process pool of ``jobs``;
    "local" or "tcp://HOST:PORT": Dask): utterances are independent, statistics are merged from
    fixed partitions in id order.
    """
    featdir = Path(featdir)
    cfg = resolve_analysis(cfg)
    featdir.mkdir(parents=True, exist_ok=True)
    _check_featdir_config(featdir, cfg, overwrite)
    for folder in (featdir, featdir / FEATS_SUBDIR):  # what a killed earlier run left half-written
        remove_stale_tmp(folder)
    write_featdir_analysis(featdir, cfg)
    log.info("analysis: fs %d Hz, F0 %s in %.0f-%.0f Hz, frame period %.1f ms, order %d, alpha %.3f, FFT %d",
             cfg.fs, cfg.f0_method, cfg.f0_floor, cfg.f0_ceil, cfg.frame_period, cfg.order, cfg.alpha, cfg.fft_size)
    with task_runner(jobs, scheduler) as run:
        if cfg.f0_ranges == AUTO:  # a first pass per speaker; the ranges kept where users can read and edit them

            ranges = estimate_ranges(utts, cfg, run)
            write_ranges(featdir / RANGES_FILE, ranges, "speaker floor_hz ceil_hz, found by analyze --f0-ranges auto "
                         f"(a first pass over {cfg.f0_floor:g}-{cfg.f0_ceil:g} Hz); edit and pass back with "
                         "--f0-ranges FILE")
            log.info("F0 ranges -> %s", featdir / RANGES_FILE)
        else:
            ranges = read_f0_ranges(cfg.f0_ranges, cfg) if cfg.f0_ranges else {}
        work = [(u, str(featdir), speaker_analysis(cfg, ranges, u.speaker), overwrite) for u in utts]
        results = run(_analyse_one, work, desc="analyze", progress=progress)
        report = _collect(results)
        rows = _manifest_rows(featdir, report)
        if rows:
            write_manifest(featdir, rows)
            stats_for(featdir, [r["utt_id"] for r in rows], run=run).save(featdir / STATS_FILE)
            by_speaker = speakers(featdir)
            if len(by_speaker) > 1:  # voice conversion maps one speaker's statistics onto another's
                for spk, ids in by_speaker.items():
                    stats_for(featdir, ids, run=run).save(speaker_stats_path(featdir, spk))
    if rows:
        _speaker_histograms(featdir, rows, cfg, ranges)
    return report


def analyze_folder(inputs: list[str | Path] | str | Path, featdir: str | Path, config: AnalysisConfig | None = None,
                   *, jobs: int = 1, overwrite: bool = False, progress: bool = True) -> FeatureFolder:
    """``speechvae analyze INPUT... -o FEATDIR`` from Python: wav files, folders (recursive ``*.wav``) or
    ``utt_id path`` list files -> the feature folder (:class:`~speechvae.analysis.featdir.FeatureFolder`).
    ``config``: the analysis settings (default: the built-in ones). A file that fails is logged and left out;
    :class:`CorpusError` when none could be analysed."""
    inputs = [inputs] if isinstance(inputs, (str, Path)) else inputs
    report = analyze_corpus(collect_inputs(inputs), featdir, config or AnalysisConfig(), jobs=jobs,
                            overwrite=overwrite, progress=progress)
    if not report.analysed and not report.skipped:
        raise CorpusError(f"no utterance could be analysed: {'; '.join(report.failures[:3])}")
    return FeatureFolder(featdir)


AUTO = "auto"  # analysis.f0_ranges: find each speaker's range from the data (speechvae.analysis.f0range)


def read_f0_ranges(path: str | Path, cfg: AnalysisConfig) -> dict[str, tuple[float, float]]:
    """Per-speaker F0 search ranges from ``speaker floor_hz ceil_hz`` lines.

    A speaker's floor may not go below ``analysis.f0_floor``: that floor sets the FFT size shared by
    every utterance of the feature folder (CheapTrick needs a longer window for lower F0)."""
    ranges = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise CorpusError(f"{path}: cannot read F0 ranges ({e.strerror})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        try:
            spk, lo, hi = parts[0], float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise CorpusError(f"{path}:{n}: expected 'speaker floor_hz ceil_hz', got {line!r}") from None
        if not cfg.f0_floor <= lo < hi < cfg.fs / 2:
            raise CorpusError(f"{path}:{n}: need analysis.f0_floor ({cfg.f0_floor:g} Hz) <= floor < ceil < fs/2; "
                              f"got {lo:g}-{hi:g} Hz (lower analysis.f0_floor to search lower)")
        ranges[spk] = (lo, hi)
    return ranges


def speaker_analysis(cfg: AnalysisConfig, ranges: dict[str, tuple[float, float]], speaker: str) -> AnalysisConfig:
    """The (resolved) analysis config of one speaker: its own F0 range, everything else shared."""
    if speaker not in ranges:
        return cfg
    lo, hi = ranges[speaker]
    return dataclasses.replace(cfg, f0_floor=lo, f0_ceil=hi)


def _collect(results: list) -> AnalysisReport:
    report = AnalysisReport()
    for row, err, skipped in results:
        if err:
            report.failures.append(err)
        else:
            report.rows.append(row)
            report.skipped += skipped
            report.analysed += not skipped
    return report


def _manifest_rows(featdir: Path, report: AnalysisReport) -> list[dict]:
    """This run's rows plus those of earlier runs into the same folder whose files are still there."""
    this_run = {r["utt_id"] for r in report.rows}
    try:
        earlier = [r for r in read_manifest(featdir) if r["utt_id"] not in this_run
                   and feature_path(featdir, r["utt_id"]).exists()]
    except StoreError:
        earlier = []
    return sorted(report.rows + earlier, key=lambda r: r["utt_id"])


def _speaker_histograms(featdir: Path, rows: list[dict], cfg: AnalysisConfig,
                        ranges: dict[str, tuple[float, float]]) -> None:
    """F0 (voiced frames) and frame-power histograms per speaker, as PNG, with a log hint for
    choosing f0_floor/f0_ceil (the range that holds 99% of voiced frames)."""

    by_spk: dict[str, list[str]] = {}
    for r in rows:
        by_spk.setdefault(r["speaker"], []).append(r["utt_id"])
    for spk, ids in sorted(by_spk.items()):
        floor, ceil = ranges.get(spk, (cfg.f0_floor, cfg.f0_ceil))
        f0s, pows = [], []
        for u in ids:
            f = Features.load(feature_path(featdir, u))
            f0s.append(f.f0[f.f0 > 0])
            pows.append(f.power_db)
        f0 = np.concatenate(f0s)
        fig = f0_power_histogram(f0, np.concatenate(pows), spk, floor, ceil)
        save_figure(fig, inside(featdir, f"f0_power_hist_{check_speaker(spk)}.png"))
        if len(f0):
            lo, hi = np.percentile(f0, [0.5, 99.5])
            log.info("speaker %s: used F0 range %.0f-%.0f Hz; 99%% of voiced frames lie in %.0f-%.0f Hz "
                     "(see %s)", spk, floor, ceil, lo, hi, featdir / f"f0_power_hist_{spk}.png")
        else:
            log.warning("speaker %s: no voiced frames found with F0 range %.0f-%.0f Hz", spk, floor, ceil)
