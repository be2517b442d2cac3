"""The feature folder: where a corpus's features live and what describes them, in one place.

    FEATDIR/analysis.yaml      resolved analysis settings (fs, frame period, alpha, FFT size, order, F0 search)
    FEATDIR/manifest.tsv       utt_id, speaker, source path, frames, seconds: one row per stored utterance
    FEATDIR/feats/<utt>.npz    the features of one utterance (:class:`speechvae.features.Features`)
    FEATDIR/stats.npz          normalisation statistics over the folder (``speechvae analyze`` / ``stats``)
    FEATDIR/stats/<spk>.npz    the same per speaker, when the folder holds several (mel-cepstrum and log-F0)
    FEATDIR/lists/*.list       utterance ids, one per line (first field), e.g. train / dev / eval

Utterance ids are the wav names; when the same name occurs for several speakers (parallel corpora such as
CMU ARCTIC, where bdl and slt both read ``arctic_a0001``), every id of the corpus is ``<speaker>/<name>``
and its features are ``feats/<speaker>/<name>.npz``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from .config import AnalysisConfig, ConfigError, config_from_dict
from .features import resolve_analysis
from .store import StoreError, atomic_write_text

MANIFEST = "manifest.tsv"
FEATS_SUBDIR = "feats"
ANALYSIS_YAML = "analysis.yaml"
STATS_FILE = "stats.npz"
SPEAKER_STATS_SUBDIR = "stats"


class FeatureFolderError(StoreError):
    """A folder that is not a usable feature folder, or a list naming utterances it does not hold."""


def feature_path(featdir: str | Path, utt_id: str) -> Path:
    return Path(featdir) / FEATS_SUBDIR / f"{utt_id}.npz"


def speaker_stats_path(featdir: str | Path, speaker: str) -> Path:
    """Where ``speechvae analyze`` keeps one speaker's statistics (folders of more than one speaker)."""
    return Path(featdir) / SPEAKER_STATS_SUBDIR / f"{speaker}.npz"


def speakers(featdir: str | Path, utt_ids: list[str] | None = None) -> dict[str, list[str]]:
    """Speaker -> its utterance ids (manifest order), over ``utt_ids`` or the whole folder."""
    keep = None if utt_ids is None else set(utt_ids)
    out: dict[str, list[str]] = {}
    for r in read_manifest(featdir):
        if keep is None or r["utt_id"] in keep:
            out.setdefault(r["speaker"], []).append(r["utt_id"])
    return out


def utterance_speakers(featdir: str | Path) -> dict[str, str]:
    """Utterance id -> its speaker, over the whole folder."""
    return {r["utt_id"]: r["speaker"] for r in read_manifest(featdir)}


def write_manifest(featdir: str | Path, rows: list[dict]) -> None:
    """Write ``manifest.tsv``: utt_id, speaker, path, frames, seconds (sorted by utt_id)."""
    lines = ["utt_id\tspeaker\tpath\tframes\tseconds"]
    for r in sorted(rows, key=lambda r: r["utt_id"]):
        lines.append(f"{r['utt_id']}\t{r['speaker']}\t{r['path']}\t{r['frames']}\t{r['seconds']:.3f}")
    atomic_write_text(Path(featdir) / MANIFEST, "\n".join(lines) + "\n")


def read_manifest(featdir: str | Path) -> list[dict]:
    path = Path(featdir) / MANIFEST
    if not path.is_file():
        raise FeatureFolderError(f"{path}: no manifest; run `speechvae analyze ... -o {featdir}` first")
    rows = []
    lines = path.read_text().splitlines()
    for line in lines[1:]:
        if not line.strip():
            continue
        utt, spk, src, frames, secs = line.split("\t")
        rows.append({"utt_id": utt, "speaker": spk, "path": src, "frames": int(frames), "seconds": float(secs)})
    return rows


def read_featdir_analysis(featdir: str | Path) -> AnalysisConfig:
    """The resolved analysis config stored beside the features (``FEATDIR/analysis.yaml``)."""
    path = Path(featdir) / ANALYSIS_YAML
    if not path.is_file():
        raise FeatureFolderError(f"{featdir} is not a feature folder (no {ANALYSIS_YAML}): "
                                 f"run `speechvae analyze WAVS... -o FEATDIR` first and pass FEATDIR")
    try:
        return config_from_dict({"analysis": yaml.safe_load(path.read_text())["analysis"]}).analysis
    except OSError as e:
        raise FeatureFolderError(f"{path}: cannot read ({e.strerror})") from None
    except (ConfigError, KeyError, TypeError, yaml.YAMLError) as e:
        raise FeatureFolderError(f"{path}: unreadable analysis config ({e})") from None


def write_featdir_analysis(featdir: str | Path, cfg: AnalysisConfig) -> None:
    """Store the resolved analysis config beside features (read back by :func:`read_featdir_analysis`)."""
    atomic_write_text(Path(featdir) / ANALYSIS_YAML,
                      yaml.safe_dump({"analysis": dataclasses.asdict(resolve_analysis(cfg))}, sort_keys=False))


def read_id_list(path: str | Path) -> list[str]:
    """Utterance ids from a list file: the first whitespace-separated field of each line."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise FeatureFolderError(f"{path}: cannot read list file ({e.strerror})") from None
    ids = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            ids.append(line.split()[0])
    return ids


def select_utts(featdir: str | Path, list_file: str | Path | None = None) -> list[str]:
    """Utterance ids of ``featdir``'s manifest, optionally restricted to those in ``list_file``."""
    ids = [r["utt_id"] for r in read_manifest(featdir)]
    if list_file is None:
        return ids
    wanted = read_id_list(list_file)
    known = set(ids)
    missing = [u for u in wanted if u not in known]
    if missing:
        raise FeatureFolderError(f"{list_file}: {len(missing)} id(s) not in {featdir}/manifest.tsv, e.g. {missing[:3]}")
    return sorted(set(wanted))
