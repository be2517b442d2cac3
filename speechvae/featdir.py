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
import os
import unicodedata
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


class UnsafeNameError(FeatureFolderError):
    """An utterance id or speaker name that could not safely become a file name (it could name a file
    outside the folder it is meant for, or break the tab- and line-separated files that hold it)."""


def _name_problem(part: str) -> str | None:
    """Why one path part (a speaker name, a file name without suffix) is not safe, or None."""
    if not part:
        return "an empty part"
    if part in (".", ".."):
        return f"{part!r} as a part"
    if "\\" in part:
        return "a backslash"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in part):
        return "a control character"
    if any(c.isspace() for c in part):  # lists are whitespace-separated, manifests tab-separated
        return "white space"
    return None


def check_utt_id(utt_id: str, where: str = "") -> str:
    """``utt_id`` if it is ``name`` or ``speaker/name`` (each part non-empty, not ``.``/``..``, no backslash,
    control character or white space; not absolute); else :class:`UnsafeNameError` naming ``where``.

    Utterance ids become file names in every folder speechvae writes (``feats/<id>.npz``, ``wav/<id>.wav``,
    ``codes/<id>.npz``), so an id from a list, a manifest or a code folder of unknown origin is checked
    before any work.

    >>> check_utt_id("bdl/arctic_a0001")
    'bdl/arctic_a0001'
    >>> check_utt_id("../../escaped", "l.list:1")
    Traceback (most recent call last):
    ...
    speechvae.featdir.UnsafeNameError: l.list:1: unsafe utterance id '../../escaped' ('..' as a part): an id is 'name' or 'speaker/name'
    """
    parts = utt_id.split("/")
    why = ("an absolute path" if utt_id.startswith("/") else next(filter(None, map(_name_problem, parts)), None)
           or ("more than two parts" if len(parts) > 2 else None))
    if why:
        raise UnsafeNameError(f"{where + ': ' if where else ''}unsafe utterance id {utt_id!r} ({why}): "
                              "an id is 'name' or 'speaker/name'")
    return utt_id


def check_speaker(name: str, where: str = "") -> str:
    """``name`` if it can be one file-name part (see :func:`check_utt_id`); else :class:`UnsafeNameError`."""
    why = "a slash" if "/" in name else _name_problem(name)
    if why:
        raise UnsafeNameError(f"{where + ': ' if where else ''}unsafe speaker name {name!r} ({why})")
    return name


def inside(folder: str | Path, relative: str) -> Path:
    """``folder / relative``, checked to stay inside ``folder`` (after ``..`` and links are resolved): the
    last guard between a name from the input and the file system."""
    folder = Path(folder)
    path = folder / relative
    root = os.path.realpath(folder)
    if Path(relative).is_absolute() or os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise UnsafeNameError(f"{relative!r} would be written outside {folder}")
    return path


def feature_path(featdir: str | Path, utt_id: str) -> Path:
    """``FEATDIR/feats/<utt_id>.npz`` (the id checked, the path kept inside ``FEATDIR/feats``)."""
    return utt_file(Path(featdir) / FEATS_SUBDIR, utt_id, ".npz")


def utt_file(folder: str | Path, utt_id: str, suffix: str) -> Path:
    """``folder/<utt_id><suffix>`` for any per-utterance file (wavs, codes, pictures), checked like
    :func:`feature_path`."""
    return inside(folder, f"{check_utt_id(utt_id)}{suffix}")


def speaker_stats_path(featdir: str | Path, speaker: str) -> Path:
    """Where ``speechvae analyze`` keeps one speaker's statistics (folders of more than one speaker)."""
    return inside(Path(featdir) / SPEAKER_STATS_SUBDIR, f"{check_speaker(speaker)}.npz")


def speakers(featdir: str | Path, utt_ids: list[str] | None = None) -> dict[str, list[str]]:
    """Speaker -> its utterance ids (manifest order), over ``utt_ids`` or the whole folder."""
    keep = None if utt_ids is None else set(utt_ids)
    out: dict[str, list[str]] = {}
    for r in read_manifest(featdir):
        if keep is None or r["utt_id"] in keep:
            out.setdefault(r["speaker"], []).append(r["utt_id"])
    return out


def sentence_name(utt_id: str) -> str:
    """The sentence of an id: ``bdl/arctic_a0001`` -> ``arctic_a0001`` (parallel corpora name sentences alike)."""
    return utt_id.split("/")[-1]


def utterance_speakers(featdir: str | Path) -> dict[str, str]:
    """Utterance id -> its speaker, over the whole folder."""
    return {r["utt_id"]: r["speaker"] for r in read_manifest(featdir)}


def write_manifest(featdir: str | Path, rows: list[dict]) -> None:
    """Write ``manifest.tsv``: utt_id, speaker, path, frames, seconds (sorted by utt_id)."""
    lines = ["utt_id\tspeaker\tpath\tframes\tseconds"]
    for r in sorted(rows, key=lambda r: r["utt_id"]):
        check_utt_id(r["utt_id"]), check_speaker(r["speaker"])
        lines.append(f"{r['utt_id']}\t{r['speaker']}\t{r['path']}\t{r['frames']}\t{r['seconds']:.3f}")
    atomic_write_text(Path(featdir) / MANIFEST, "\n".join(lines) + "\n")


def read_manifest(featdir: str | Path) -> list[dict]:
    path = Path(featdir) / MANIFEST
    if not path.is_file():
        raise FeatureFolderError(f"{path}: no manifest; run `speechvae analyze ... -o {featdir}` first")
    rows = []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FeatureFolderError(f"{path}: cannot read ({e})") from None
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        try:
            utt, spk, src, frames, secs = line.split("\t")
            row = {"utt_id": utt, "speaker": spk, "path": src, "frames": int(frames), "seconds": float(secs)}
        except ValueError:
            raise FeatureFolderError(f"{path}:{n}: expected 'utt_id speaker path frames seconds' "
                                     f"separated by tabs, got {line!r}") from None
        check_utt_id(utt, f"{path}:{n}")
        check_speaker(spk, f"{path}:{n}")
        rows.append(row)
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
    except UnicodeDecodeError:
        raise FeatureFolderError(f"{path}: not a text list file") from None
    ids = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            ids.append(check_utt_id(line.split()[0], f"{path}:{n}"))
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
