"""The feature folder: where a corpus's features live and what describes them, in one place::

    FEATDIR/analysis.yaml      resolved analysis settings (fs, frame period, alpha, FFT size, order, F0 search)
    FEATDIR/manifest.tsv       utt_id, speaker, source path, frames, seconds: one row per stored utterance
    FEATDIR/feats/<utt>.npz    the features of one utterance (speechvae.analysis.features.Features)
    FEATDIR/stats.npz          normalisation statistics over the folder (``speechvae analyze`` / ``stats``)
    FEATDIR/stats/<spk>.npz    the same per speaker, when the folder holds several (mel-cepstrum and log-F0)
    FEATDIR/lists/*.list       utterance ids, one per line (first field), e.g. train / dev / eval

Utterance ids are the wav names; when the same name occurs for several speakers (parallel corpora such as
CMU ARCTIC, where bdl and slt both read ``arctic_a0001``), every id of the corpus is ``<speaker>/<name>``
and its features are ``feats/<speaker>/<name>.npz``.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import unicodedata
from pathlib import Path

import yaml

from speechvae.analysis.features import Features, resolve_analysis
from speechvae.analysis.stats import Stats, StatsAccumulator
from speechvae.config import AnalysisConfig, ConfigError, config_from_dict
from speechvae.parallel import Runner
from speechvae.store import StoreError, atomic_write_text

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
    >>> check_utt_id("../../escaped", "l.list:1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    speechvae.analysis.featdir.UnsafeNameError: l.list:1: unsafe utterance id '../../escaped' ('..' as a part): ...
    """
    parts = utt_id.split("/")
    why = ("an absolute path" if utt_id.startswith("/") else next(filter(None, map(_name_problem, parts)), None)
           or ("more than two parts" if len(parts) > 2 else None))
    if why:
        raise UnsafeNameError(
            f"{where + ': ' if where else ''}unsafe utterance id {utt_id!r} ({why}): an id is 'name' or 'speaker/name'"
        )
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
    """The rows of ``FEATDIR/manifest.tsv`` (utt_id, speaker, path, frames, seconds), each id and speaker checked; a
    :class:`FeatureFolder` gives the rows it read already."""
    if isinstance(featdir, FeatureFolder):
        return featdir.manifest
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
            raise FeatureFolderError(
                f"{path}:{n}: expected 'utt_id speaker path frames seconds' separated by tabs, got {line!r}"
            ) from None
        check_utt_id(utt, f"{path}:{n}")
        check_speaker(spk, f"{path}:{n}")
        rows.append(row)
    return rows


def read_featdir_analysis(featdir: str | Path) -> AnalysisConfig:
    """The resolved analysis config stored beside the features (``FEATDIR/analysis.yaml``; a :class:`FeatureFolder`
    gives the one it read already)."""
    if isinstance(featdir, FeatureFolder):
        return featdir.analysis
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


STATS_PARTITION = 32  # utterances per partial-statistics task


def _partial_stats(args: tuple[str, list[str], int]) -> StatsAccumulator:
    """Worker: statistics of one partition of utterances (their frames never leave the worker)."""
    featdir, ids, order = args
    acc = StatsAccumulator(order)
    for u in ids:
        f = Features.load(feature_path(featdir, u))
        if f.order != order:
            raise StoreError(f"{feature_path(featdir, u)}: mel-cepstrum order {f.order}, the folder's is {order}")
        acc.add(f.mcep[:, 1:], f.f0)
    return acc


def stats_for(featdir: str | Path, utt_ids: list[str], *, run: Runner | None = None) -> Stats:
    """Statistics of c1..c_order and voiced log-F0 over the given stored utterances (the order is
    that of the stored features, e.g. 39 -> ``(39,)`` statistics).

    The sorted ids are cut into fixed partitions; each partition's (count, mean, M2) is computed
    where the work runs and the partials are merged left to right (Chan et al.), so the result is
    the same bytes whatever the backend, and no node ever holds the whole corpus.
    """
    ids = sorted(utt_ids)
    if not ids:
        raise FeatureFolderError(f"{featdir}: no utterances to compute statistics from")
    order = Features.load(feature_path(featdir, ids[0])).order
    parts = [(str(featdir), ids[i : i + STATS_PARTITION], order) for i in range(0, len(ids), STATS_PARTITION)]
    if run is None:
        partials = [_partial_stats(p) for p in parts]
    else:
        partials = run(_partial_stats, parts)
    return functools.reduce(StatsAccumulator.merge, partials).result()


class FeatureFolder:
    """A feature folder as one object, passed down the flow instead of its path: the manifest (read once), the
    analysis settings, the speakers and their utterances, the lists, the statistics, and the one place where an
    utterance id or a speaker name becomes a path (checked to stay inside the folder).

    It is path-like (``os.fspath(folder)`` is its path), so it goes wherever a folder path is taken.

    >>> folder = FeatureFolder("tests/golden/expected")
    >>> folder.utt_ids, folder.speakers(), folder.analysis.fs
    (['golden'], {'spk': ['golden']}, 16000)
    >>> folder.feature_path("golden").name, folder.load("golden").mcep.shape
    ('golden.npz', (101, 40))
    >>> folder.feature_path("../x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    speechvae.analysis.featdir.UnsafeNameError: unsafe utterance id '../x' ('..' as a part): an id is ...
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._manifest: list[dict] | None = None
        self._analysis: AnalysisConfig | None = None

    @classmethod
    def of(cls, folder: FeatureFolder | str | Path) -> FeatureFolder:
        """``folder`` itself when it is a :class:`FeatureFolder` (its manifest already read), else a new one."""
        return folder if isinstance(folder, FeatureFolder) else cls(folder)

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __truediv__(self, relative: str) -> Path:
        return self.path / relative

    def __repr__(self) -> str:
        return f"FeatureFolder({str(self.path)!r})"

    @property
    def manifest(self) -> list[dict]:
        """The rows of ``manifest.tsv`` (utt_id, speaker, path, frames, seconds), read and checked once."""
        if self._manifest is None:
            self._manifest = read_manifest(self.path)
        return self._manifest

    @property
    def analysis(self) -> AnalysisConfig:
        """The resolved analysis settings of every feature file here (``analysis.yaml``)."""
        if self._analysis is None:
            self._analysis = read_featdir_analysis(self.path)
        return self._analysis

    @property
    def utt_ids(self) -> list[str]:
        """Every stored utterance id, in manifest order."""
        return [r["utt_id"] for r in self.manifest]

    def speakers(self, utt_ids: list[str] | None = None) -> dict[str, list[str]]:
        """Speaker -> its utterance ids (manifest order), over ``utt_ids`` or the whole folder."""
        return speakers(self, utt_ids)

    def speaker_of(self) -> dict[str, str]:
        """Utterance id -> its speaker, over the whole folder."""
        return utterance_speakers(self)

    def frames(self) -> dict[str, int]:
        """Utterance id -> its number of frames."""
        return {r["utt_id"]: r["frames"] for r in self.manifest}

    def select(self, list_file: str | Path | None = None) -> list[str]:
        """The utterance ids, optionally only those of ``list_file`` (refused when it names one not stored)."""
        return select_utts(self, list_file)

    def feature_path(self, utt_id: str) -> Path:
        """``feats/<utt_id>.npz``, the id checked (:func:`check_utt_id`) and the path kept inside the folder."""
        return feature_path(self.path, utt_id)

    def load(self, utt_id: str):
        """The :class:`~speechvae.analysis.features.Features` of one utterance."""
        return Features.load(self.feature_path(utt_id))

    @property
    def stats_path(self) -> Path:
        """The folder's normalisation statistics, ``stats.npz``."""
        return self.path / STATS_FILE

    def speaker_stats_path(self, speaker: str) -> Path:
        """``stats/<speaker>.npz``, the name checked (:func:`check_speaker`)."""
        return speaker_stats_path(self.path, speaker)

    def stats(self, utt_ids: list[str], *, run: Runner | None = None) -> Stats:
        """Statistics of c1..c39 and voiced log-F0 over ``utt_ids`` (:func:`stats_for`)."""
        return stats_for(self.path, utt_ids, run=run)

    def speaker_stats(self, speaker: str, utt_ids: list[str] | None = None) -> Stats:
        """One speaker's statistics over its utterances among ``utt_ids`` (default: all of them); refuses a speaker
        with none there."""
        own = self.speakers(utt_ids).get(speaker)
        if not own:
            raise FeatureFolderError(
                f"{self.path}: no utterances of speaker {speaker!r}"
                + (" among the utterances given" if utt_ids is not None else "")
                + f" (speakers: {', '.join(sorted(self.speakers())) or 'none'})"
            )
        return self.stats(own)
