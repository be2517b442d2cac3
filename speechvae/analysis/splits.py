"""Fixed train / dev / eval lists (``speechvae lists``): by sorted utterance id, or, for speaker folders reading the
same sentences, by sentence, so that no held-out sentence is heard in training by any speaker.
"""
from __future__ import annotations

import logging
from pathlib import Path

from speechvae.analysis.featdir import inside, sentence_name
from speechvae.analysis.inputs import CorpusError, Utterance
from speechvae.store import atomic_write_text

log = logging.getLogger(__name__)


HELD_OUT_CAP = 0.1  # dev and eval each take at most this share of a small corpus (at least 1 utterance)


def split_sizes(n: int, n_dev: int, n_eval: int) -> tuple[int, int]:
    """Dev and eval sizes for ``n`` utterances: as asked, but each at most ``max(1, n // 10)`` so that
    a small corpus keeps >= 80% for training (20 wavs with 8 + 8 asked -> 2 + 2, 16 train).
    (0, 0) when fewer than 3 utterances leave nothing to hold out.

    >>> split_sizes(80, 8, 8), split_sizes(20, 8, 8), split_sizes(10, 8, 8), split_sizes(2, 1, 1)
    ((8, 8), (2, 2), (1, 1), (0, 0))
    """
    if n < 3:
        return 0, 0
    cap = max(1, int(n * HELD_OUT_CAP))
    return min(n_dev, cap), min(n_eval, cap)


def write_split_lists(utts: list[Utterance], datadir: str | Path, n_dev: int, n_eval: int) -> dict[str, int]:
    """Fixed split by sorted utterance id: the last eval ids are eval, the dev ids before them dev, the
    rest train (sizes from :func:`split_sizes`). Writes ``all/train/dev/eval.list`` (``utt_id path``
    lines) into ``datadir``. With too few utterances to hold any out, every list holds all of them
    (a demo, not a benchmark: ``evaluate`` then marks its figures as measured on training data)."""
    utts = sorted(utts, key=lambda u: u.utt_id)
    dev, ev = split_sizes(len(utts), n_dev, n_eval)
    if (n_dev or n_eval) and (dev, ev) == (0, 0):
        log.warning("only %d utterance(s): train, dev and eval lists all hold every utterance", len(utts))
        parts = {"all": utts, "train": utts, "dev": utts, "eval": utts}
    else:
        if (dev, ev) != (n_dev, n_eval):
            log.warning("%d utterances: holding out %d dev + %d eval (asked %d + %d) so that %d remain for training",
                        len(utts), dev, ev, n_dev, n_eval, len(utts) - dev - ev)
        n_train = len(utts) - dev - ev
        parts = {"all": utts, "train": utts[:n_train], "dev": utts[n_train:n_train + dev],
                 "eval": utts[n_train + dev:]}
    return _write_lists(datadir, parts)


def _write_lists(datadir: str | Path, lists: dict[str, list[Utterance]]) -> dict[str, int]:
    """``datadir/<name>.list`` of ``utt_id path`` lines for each list; returns their sizes."""
    for name, us in lists.items():
        atomic_write_text(inside(datadir, f"{name}.list"), "".join(f"{u.utt_id} {u.path}\n" for u in us))
    return {k: len(v) for k, v in lists.items()}


def write_sentence_split(utts: list[Utterance], datadir: str | Path, n_dev: int, n_eval: int) -> dict[str, int]:
    """Split a corpus of several speakers for voice conversion, by sentence name, so that no held-out sentence
    was heard in training in anybody's voice: of the sentence names read by two or more speakers (sorted), the last
    ``n_eval`` are eval and the ``n_dev`` before them dev (each at most a quarter of them, so that at least half
    remain for training), for every speaker who read them. A speaker who reads none of the eval sentences (a
    non-parallel speaker) holds out its own last utterances by name instead (:func:`split_sizes`), so that every
    speaker has eval and dev utterances when it has three or more. Writes ``all/train/dev/eval.list`` and
    ``eval_<speaker>.list`` / ``dev_<speaker>.list`` (``utt_id path`` lines) into ``datadir``; refuses fewer than
    two speakers. Returns the list sizes (the per-speaker lists as ``eval_<speaker>``)."""
    utts = sorted(utts, key=lambda u: u.utt_id)
    by_spk: dict[str, list[Utterance]] = {}
    for u in utts:
        by_spk.setdefault(u.speaker, []).append(u)
    if len(by_spk) < 2:
        raise CorpusError(f"voice conversion needs two or more speakers (one folder of wavs each); found "
                          f"{', '.join(by_spk) or 'none'} in {len(utts)} file(s)")
    readers: dict[str, set[str]] = {}
    for u in utts:
        readers.setdefault(sentence_name(u.utt_id), set()).add(u.speaker)
    shared = sorted(n for n, s in readers.items() if len(s) >= 2)
    cap = len(shared) // 4
    ev_n, dev_n = min(n_eval, cap), min(n_dev, cap)
    if shared and (ev_n, dev_n) != (n_eval, n_dev):
        log.warning("%d shared sentences: holding out %d dev + %d eval (asked %d + %d)", len(shared), dev_n, ev_n,
                    n_dev, n_eval)
    eval_names = set(shared[len(shared) - ev_n:]) if ev_n else set()
    dev_names = set(shared[len(shared) - ev_n - dev_n:len(shared) - ev_n]) if dev_n else set()
    part: dict[str, str] = {}
    for spk, own in sorted(by_spk.items()):
        names = {sentence_name(u.utt_id) for u in own}
        if names & eval_names:
            for u in own:
                n = sentence_name(u.utt_id)
                part[u.utt_id] = "eval" if n in eval_names else "dev" if n in dev_names else "train"
            continue
        rest = [u for u in own if sentence_name(u.utt_id) not in eval_names | dev_names]
        dev, ev = split_sizes(len(rest), n_dev, n_eval)
        log.info("speaker %s reads none of the shared eval sentences: its own last %d utterances are eval, the %d "
                 "before them dev", spk, ev, dev)
        part.update((u.utt_id, "train") for u in own)
        for i, u in enumerate(rest[len(rest) - ev - dev:] if ev + dev else []):
            part[u.utt_id] = "dev" if i < dev else "eval"
    lists = {"all": utts, **{k: [u for u in utts if part[u.utt_id] == k] for k in ("train", "dev", "eval")}}
    for spk in by_spk:
        for k in ("eval", "dev"):
            lists[f"{k}_{spk}"] = [u for u in lists[k] if u.speaker == spk]
    return _write_lists(datadir, lists)
