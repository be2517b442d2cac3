"""What a command is given to analyse: wav files, folders (recursive ``*.wav``) or ``utt_id path`` list files, turned
into :class:`Utterance` records (id, path, speaker = the folder holding the wav), the ids checked and made
``<speaker>/<name>`` where a name occurs for more than one speaker. ``speechvae lists`` and ``analyze`` both start
here; this module draws nothing, so ``lists`` does not import matplotlib (0.35 s of a 1.25 s start-up)."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from speechvae.analysis.featdir import check_speaker, check_utt_id


class CorpusError(ValueError):
    """Inputs that cannot form a corpus (no files, duplicate ids, bad list lines)."""


@dataclass(frozen=True)
class Utterance:
    utt_id: str
    path: str
    speaker: str


def _utt(utt_id: str, path: Path | str, where: str) -> Utterance:
    """An utterance whose speaker is the name of its wav's folder; id and speaker checked to be safe file
    names (``where`` names the list line or file they came from)."""
    folder = Path(path).parent.name
    if folder in ("", ".", ".."):  # 'a.wav', './a.wav', '../a.wav': the folder's real name, or 'unknown'
        folder = Path(os.path.abspath(path)).parent.name if folder else ""
    speaker = check_speaker(folder or "unknown", f"{where} (the speaker is the name of the wav's folder)")
    return Utterance(check_utt_id(utt_id, where), str(path), speaker)


def collect_inputs(inputs: list[str | Path]) -> list[Utterance]:
    """Expand wav files, folders and list files into utterances sorted by id.

    Raises CorpusError on a missing input path, duplicate utterance ids, malformed list lines or no
    input at all. A list-file entry whose path does not exist is kept: it fails at analysis with its
    own error line and the rest of the corpus goes on.
    """
    utts: list[Utterance] = []
    missing = [str(i) for i in inputs if not Path(i).exists()]
    if missing:  # a typo on the command line: refuse before any work (or any output folder)
        raise CorpusError(f"no such file or folder: {', '.join(missing)}")
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            utts += [_utt(w.stem, w, str(w)) for w in sorted(p.rglob("*.wav")) if w.is_file()]
        elif p.suffix.lower() == ".wav":
            utts.append(_utt(p.stem, p, str(p)))
        else:  # a list file; paths in it are used as given, relative to the current folder
            try:
                text = p.read_text()
            except UnicodeDecodeError:
                raise CorpusError(f"{p}: neither a wav file, a folder nor a text list of 'utt_id path' lines") from None
            for n, line in enumerate(text.splitlines(), 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split(maxsplit=1)
                if len(parts) != 2:
                    raise CorpusError(f"{p}:{n}: expected 'utt_id path', got {line!r}")
                utts.append(_utt(parts[0], parts[1].strip(), f"{p}:{n}"))
    if not utts:
        raise CorpusError(f"no wav files found in {[str(i) for i in inputs]}")
    utts = [dataclasses.replace(u, utt_id=check_utt_id(u.utt_id, u.path)) for u in qualify_by_speaker(utts)]
    seen: dict[str, str] = {}
    dups = []
    for u in utts:
        if u.utt_id in seen:
            dups.append(f"{u.utt_id} ({seen[u.utt_id]} and {u.path})")
        seen[u.utt_id] = u.path
    if dups:
        raise CorpusError("duplicate utterance ids: " + "; ".join(dups[:5]) + (" ..." if len(dups) > 5 else ""))
    return sorted(utts, key=lambda u: u.utt_id)


def qualify_by_speaker(utts: list[Utterance]) -> list[Utterance]:
    """Parallel corpora name the same sentence alike for every speaker (CMU ARCTIC: ``bdl/arctic_a0001.wav``
    and ``slt/arctic_a0001.wav``). When some id occurs for more than one speaker, every id becomes
    ``<speaker>/<id>``, so ids stay unique and say whose they are; otherwise ids are the file names.

    >>> u = [Utterance("a1", "bdl/a1.wav", "bdl"), Utterance("a1", "slt/a1.wav", "slt")]
    >>> [x.utt_id for x in qualify_by_speaker(u)]
    ['bdl/a1', 'slt/a1']
    """
    speakers: dict[str, set[str]] = {}
    for u in utts:
        speakers.setdefault(u.utt_id, set()).add(u.speaker)
    if all(len(s) == 1 for s in speakers.values()):
        return utts
    return [dataclasses.replace(u, utt_id=f"{u.speaker}/{u.utt_id}") for u in utts]
