"""How conversions sound: speaker similarity and DNSMOS of a converted folder beside its references.

For each scored sentence (a converted utterance and the target speaker's recording of the same sentence), five
waveforms (:func:`versions`), all at the features' rate:

- ``none``: the source utterance through WORLD copy synthesis (the voice before any conversion, through the
  same vocoder as every other system, so vocoder artefacts do not tell the systems apart);
- ``meanstd``: the mean/std map of the source's c1..c39 and log-F0 (:func:`speechvae.vc.references.meanstd_convert`);
- ``model``: the conversion (``CONVERTED/wav/<id>.wav`` when convert wrote it, else synthesised);
- ``target_copy``: WORLD copy synthesis of the target's recording: the ceiling a WORLD-based converter can reach;
- ``target_recording``: the target's recording itself (when its file is readable).

Speaker similarity (:mod:`speechvae.evaluation.quality`): cosine between an utterance's GE2E embedding and the centroid
of a speaker's reference recordings: the target's (``similarity_target``) and the source's (``similarity_source``).
The references are recordings the model was not trained on and, where enough remain (:data:`MIN_CENTROID`),
of sentences other than those scored; the JSON lists them. ``nearer_target`` is the share of utterances whose
similarity to the target beats that to the source.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from speechvae.analysis.audio import AudioError, read_audio
from speechvae.analysis.featdir import feature_path, read_manifest, sentence_name, speakers, utt_file
from speechvae.analysis.features import Features, vocode
from speechvae.console import progress_bar
from speechvae.evaluation.judgements import JudgementCache
from speechvae.evaluation.quality import (
    BadAudio,
    centroid,
    conventions,
    cosine,
    measures,
    pool_versions,
    score_version,
)

log = logging.getLogger(__name__)

SYSTEMS = ("none", "meanstd", "model", "target_copy", "target_recording")
MIN_CENTROID = 5  # fewer held-out recordings of other sentences than this: the scored sentences' own join in
MAX_CENTROID = 50  # the centroid settles well before this many utterances; more only costs time


def versions(converted: Path, source_dir: Path, target_dir: Path, u: str, t: str, meanstd, recording: str | None,
             ) -> tuple[dict[str, np.ndarray], int]:
    """The waveforms of one scored sentence (see the module docstring) and their rate; ``meanstd``: the
    source's features -> the mean/std map's."""
    src = Features.load(feature_path(source_dir, u))
    tgt = Features.load(feature_path(target_dir, t))
    wav = utt_file(converted / "wav", u, ".wav")
    fs = src.fs
    out = {"none": vocode(src), "meanstd": vocode(meanstd(src)),
           "model": read_audio(wav, fs) if wav.is_file() else vocode(Features.load(feature_path(converted, u))),
           "target_copy": vocode(tgt)}
    if recording:
        try:
            out["target_recording"] = read_audio(recording, fs)
        except AudioError as e:
            log.warning("%s: target recording not usable (%s)", t, e)
    return out, fs


def scores(m, x: np.ndarray, fs: int, what: str, cache: JudgementCache | None = None) -> dict:
    """:func:`~speechvae.evaluation.quality.score_version` of one waveform (DNSMOS), read back from ``cache`` when it
    holds this waveform (then its error lines name the utterance first judged)."""
    if cache is None:
        return score_version(m, x, fs, what)
    return cache.judged(x, fs, lambda: score_version(m, x, fs, what), "scores")


def embedding(m, x: np.ndarray, fs: int, what: str, cache: JudgementCache | None = None) -> tuple[np.ndarray | None,
                                                                                                  str | None]:
    """One waveform's speaker embedding ``(256,)`` float32 and None, or None and why it could not be made; read back
    from ``cache`` when it holds this waveform (a recording in a centroid and as a system is embedded once)."""

    def run() -> dict:
        try:
            return {"embedding": [float(v) for v in m.embedding(x, fs, what)], "error": None}
        except BadAudio as e:
            return {"embedding": None, "error": str(e)}

    j = run() if cache is None else cache.judged(x, fs, run, "embedding")
    return (None if j["embedding"] is None else np.asarray(j["embedding"], dtype=np.float32)), j["error"]


def reference_centroid(featdir: Path, speaker: str, exclude_names: set[str], trained: set[str],
                       cache: JudgementCache | None = None) -> tuple[np.ndarray | None, dict]:
    """The centroid of ``speaker``'s recordings in ``featdir`` (manifest paths) not trained on, preferring sentences
    not in ``exclude_names``; returns it (None when no recording could be embedded: similarity to this speaker is
    then not measured, and the reason is logged) and what it was made of (for the JSON). ``cache``: embeddings
    judged before are read back (:class:`~speechvae.evaluation.judgements.JudgementCache`)."""
    paths = {r["utt_id"]: r["path"] for r in read_manifest(featdir)}
    own = speakers(featdir).get(speaker, [])
    held = [u for u in own if u not in trained]
    other = [u for u in held if sentence_name(u) not in exclude_names]
    use, note = (other, "held out, other sentences than those scored") if len(other) >= MIN_CENTROID else \
        (held, "held out, the scored sentences included (too few others)") if held else \
        (own, "TRAINING recordings (no held-out recording of this speaker)")
    if not held:
        log.warning("speaker %s: no recording the model was not trained on: its centroid uses training recordings",
                    speaker)
    use = use[:MAX_CENTROID]
    m, embs, failed = measures(), [], []
    fs = Features.load(feature_path(featdir, use[0])).fs if use else 16000
    for u in use:
        try:
            x = read_audio(paths[u], fs)
        except AudioError as e:
            failed.append(str(e))
            continue
        e, why = embedding(m, x, fs, u, cache)
        if e is None:
            failed.append(why)
        else:
            embs.append(e)
    if not embs:
        log.warning("speaker %s: no usable recording in %s for a speaker-similarity reference (%s): similarity to "
                    "this speaker not measured", speaker, featdir, "; ".join(failed[:3]) or "none listed")
    return (centroid(embs) if embs else None), {"speaker": speaker, "featdir": str(featdir), "recordings": len(embs),
                                                "which": note,
                            "utterances": use, "failures": failed}


def conversion_quality(
    converted: Path,
    source_dir: Path,
    target_dir: Path,
    pairs: list[tuple[str, str]],
    src_of: dict[str, str],
    tgt: str,
    meanstd_of,
    trained: set[str],
    progress: bool = True,
    cache: JudgementCache | None = None,
) -> dict:
    """Speaker similarity and DNSMOS of every system (:data:`SYSTEMS`) on the scored ``pairs`` (converted id,
    target id). ``meanstd_of(source speaker)`` -> the mean/std map of that speaker's features.
    Returns ``{"systems": {name: {similarity_target, similarity_source, nearer_target, dnsmos_*}},
    "per_utterance": {id: {name: {...}}}, "centroids": {...}, "failures": [...], "conventions": {...}}``. With a
    ``cache``, a waveform judged before (the references, unchanged from one model to the next) is read back."""
    names = {sentence_name(x) for p in pairs for x in p}  # the same set for parallel pairs; both sides otherwise
    cents, about = {}, {}
    for spk, folder in [(tgt, target_dir)] + [(s, source_dir) for s in sorted(set(src_of[u] for u, _ in pairs))]:
        if spk not in cents:
            cents[spk], about[spk] = reference_centroid(folder, spk, names, trained, cache)
    recordings = {r["utt_id"]: r["path"] for r in read_manifest(target_dir)}
    m, per, failures = measures(), {}, []
    for u, t in progress_bar(pairs, desc="speaker similarity, DNSMOS", unit="utt", enabled=progress):
        waves, fs = versions(converted, source_dir, target_dir, u, t, meanstd_of(src_of[u]), recordings.get(t))
        row = {}
        for name, x in waves.items():
            what = f"{u} ({name})"
            r = dict(scores(m, x, fs, what, cache))
            if "errors" in r:
                r["errors"] = list(r["errors"])  # this run's own list: the embedding's error may join it
            ct, cs = cents[tgt], cents[src_of[u]]
            e = None
            if ct is not None or cs is not None:
                e, why = embedding(m, x, fs, what, cache)
                if e is None:
                    r.setdefault("errors", []).append(why)
            if e is not None and ct is not None:
                r["similarity_target"] = cosine(e, ct)
            if e is not None and cs is not None:
                r["similarity_source"] = cosine(e, cs)
            if "similarity_target" in r and "similarity_source" in r:
                r["nearer_target"] = float(r["similarity_target"] > r["similarity_source"])
            failures += r.get("errors", [])
            row[name] = r
        per[u] = row
    for line in failures:
        log.warning("%s", line)
    systems = pool_versions(per)
    for name, s in systems.items():
        rows = {u: p[name] for u, p in per.items() if name in p}
        for k in ("similarity_target", "similarity_source", "nearer_target"):
            vals = [r[k] for r in rows.values() if k in r]
            s[k] = float(np.mean(vals)) if vals else None
    return {"systems": {k: systems[k] for k in SYSTEMS if k in systems}, "per_utterance": per,
            "centroids": about, "failures": failures, "conventions": conventions()}
