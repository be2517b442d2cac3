"""A listening page for a conversion folder: ``speechvae report CONVERTED TARGET_FEATDIR -o PAGEDIR``.

``PAGEDIR/index.html`` opens from disk (no server, no network). A summary table, sortable, with one row per
system (no conversion, mean/std map, the model, the target's WORLD copy synthesis and recording): DTW MCD under
both protocols, F0 RMSE, speaker similarity to the target and the source, the share nearer the target, DNSMOS.
Then one row per sentence, sortable by its numbers, with an audio player and a spectrogram per system. The
figures are ``evaluate-vc``'s (``--metrics`` reuses a JSON it wrote, else they are computed and saved beside the
page as ``vc.json``).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from speechvae.analysis.audio import write_wav
from speechvae.analysis.featdir import read_manifest, sentence_name, speaker_stats_path, utt_file
from speechvae.analysis.stats import Stats
from speechvae.console import progress_bar
from speechvae.evaluation.quality import require
from speechvae.plots import save_figure, spectrogram
from speechvae.report.html import CSS, JS, escape, num
from speechvae.store import atomic_write_text, write_json
from speechvae.vc.convert import CONVERT_JSON, read_convert_info
from speechvae.vc.evaluate import evaluate_conversion
from speechvae.vc.quality import versions
from speechvae.vc.references import by_sentence, meanstd_convert

log = logging.getLogger(__name__)

LABELS = {"none": "source (no conversion)", "meanstd": "mean/std map", "model": "the model",
          "target_copy": "target, WORLD copy synthesis", "target_recording": "target recording"}
NAN = float("nan")


def is_conversion_folder(path: str | Path) -> bool:
    return (Path(path) / CONVERT_JSON).is_file()


def build_conversion_page(converted: str | Path, target_dir: str | Path, outdir: str | Path,
                          metrics: str | Path | None = None, progress: bool = True) -> Path:
    """Write the page of a folder of :func:`speechvae.vc.convert.convert_folder` into ``outdir``; returns index.html.
    ``metrics``: an ``evaluate-vc`` JSON of the same folders (with or without ``--quality``) to show; default: computed
    now, with the quality measures when ``speechvae[quality]`` is installed."""

    converted, target_dir, outdir = Path(converted), Path(target_dir), Path(outdir)
    info = read_convert_info(converted)
    if metrics is not None:
        try:
            m = json.loads(Path(metrics).read_text())
            m["pairs"], m.get("scored") or m["model"]["per_utterance"]
        except (OSError, ValueError, KeyError, TypeError):
            raise ValueError(f"--metrics {metrics}: not a JSON written by `speechvae evaluate-vc`") from None
        source = str(metrics)
    else:
        try:
            require()
            quality = True
        except RuntimeError as e:
            log.warning("%s: the page shows MCD and F0 only", e)
            quality = False
        m = evaluate_conversion(converted, target_dir, quality=quality, progress=progress)
        write_json(outdir / "vc.json", m)
        source = "vc.json (computed for this page)"
    tgt = info["target"]
    by_name = by_sentence(target_dir, tgt)
    stats = {s: Stats.load(speaker_stats_path(converted, s)) for s in {*info["sources"].values(), tgt}}
    recordings = {r["utt_id"]: r["path"] for r in read_manifest(target_dir)}
    rows = []
    # the scored pairs (a JSON of an older evaluate-vc has none: its sentences matched by name)
    scored = m.get("scored") or [(u, by_name[sentence_name(u)]) for u in m["model"]["per_utterance"]]
    for u, t in progress_bar(sorted(scored), desc="page", unit="utt", enabled=progress):
        s = info["sources"][u]
        waves, fs = versions(converted, Path(info["source_featdir"]), target_dir, u, t,
                             lambda f, s=s: meanstd_convert(f, stats[s], stats[tgt]), recordings.get(t))
        files = {}
        for name, x in waves.items():
            wav = utt_file(outdir / "audio" / name, u, ".wav")
            write_wav(wav, x, fs)
            png = utt_file(outdir / "img" / "spec" / name, u, ".png")
            save_figure(spectrogram(x, fs, f"{sentence_name(u)}: {LABELS[name]}"), png, dpi=72)
            files[name] = (wav.relative_to(outdir).as_posix(), png.relative_to(outdir).as_posix())
        rows.append((u, t, files))
    atomic_write_text(outdir / "index.html", _page(converted, target_dir, info, m, source, rows))
    return outdir / "index.html"


def _get(d: dict | None, key: str) -> float:
    v = (d or {}).get(key)
    return NAN if v is None else float(v)


def _page(converted: Path, target_dir: Path, info: dict, m: dict, source: str, rows: list) -> str:
    tgt = info["target"]
    q = m.get("quality", {})
    systems = q.get("systems", {})
    held = "held-out sentences" if m.get("held_out") else '<span class="warn">includes TRAINING sentences</span>'
    out = [
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>speechvae: conversion to {escape(tgt)}</title>",
        f"<style>{CSS}</style><script>{JS}</script></head><body>",
        f"<h1>speechvae conversion page: {escape(', '.join(m.get('sources', [])))} &rarr; {escape(tgt)}</h1>",
        f"<p>Converted folder <code>{escape(converted)}</code>, model <code>{escape(info.get('model', '?'))}</code>, "
        f"target recordings in <code>{escape(target_dir)}</code>; {m['pairs']} sentences ({held}). Figures from "
        f"{escape(source)}.</p>",
    ]
    if m.get("parallel") is False:
        out.append(
            f'<p class="warn">{escape(tgt)} did not read these sentences: no MCD or F0 RMSE; the target columns '
            "hold its recordings of other sentences.</p>"
        )
    if not systems:
        out.append('<p class="warn">No speaker-similarity or DNSMOS figures (evaluate-vc without --quality, or '
                   "speechvae[quality] not installed).</p>")
    head = "<th>system</th>" + "".join(
        f'<th class="sort" onclick="sortBy(this)">{h}</th>'
        for h in (
            "DTW MCD (dB)",
            "MCD c0, voiced (dB)",
            "F0 RMSE (cents)",
            f"similarity to {escape(tgt)}",
            "similarity to source",
            f"nearer {escape(tgt)}",
            "DNSMOS P.808",
            "SIG",
            "BAK",
            "OVRL",
        )
    )
    out.append(f'<h2>Systems (same sentences)</h2><table id="systems"><thead><tr>{head}</tr></thead><tbody>')
    for name, label in LABELS.items():
        mcd = m.get(name, {})
        s = systems.get(name)
        if not mcd and not s:
            continue
        out.append(
            f'<tr data-system="{escape(name)}"><td>{escape(label)}</td>'
            + num(_get(mcd, "mcd_db"), "{:.2f}")
            + num(_get(mcd, "mcd_c0_voiced_db"), "{:.2f}")
            + num(_get(mcd, "f0_rmse_cents"), "{:.0f}")
            + num(_get(s, "similarity_target"))
            + num(_get(s, "similarity_source"))
            + num(_get(s, "nearer_target"), "{:.0%}")
            + "".join(num(_get(s, f"dnsmos_{k}"), "{:.2f}") for k in ("p808", "sig", "bak", "ovrl"))
            + "</tr>"
        )
    out.append(
        "</tbody></table><p>MCD protocols: "
        + "; ".join(
            f"<b>{escape(k)}</b>: {escape(', '.join(v.values()))}" for k, v in m.get("mcd_protocols", {}).items()
        )
        + ". The target's own rows have no MCD (it is the reference). Speaker similarity: cosine of GE2E embeddings "
        "with the centroid of each speaker's reference recordings"
        + "".join(
            f"; {escape(k)}: {c['recordings']} recordings, {escape(c['which'])}"
            for k, c in q.get("centroids", {}).items()
        )
        + ".</p>"
    )
    per_q = q.get("per_utterance", {})
    out.append(
        '<h2>Sentences</h2><p>Click a numeric column header to sort.</p><table id="utterances"><thead><tr>'
        "<th>sentence</th>"
        + "".join(
            f'<th class="sort" onclick="sortBy(this)">{h}</th>'
            for h in ("model MCD (dB)", "mean/std MCD (dB)", f"model similarity to {escape(tgt)}", "model DNSMOS P.808")
        )
        + "".join(f"<th>{escape(label)}</th>" for label in LABELS.values())
        + "</tr></thead><tbody>"
    )
    for u, t, files in rows:
        mq = per_q.get(u, {}).get("model")
        cells = [
            f'<td><audio controls preload="none" src="{escape(files[n][0])}"></audio>'
            f'<img class="spec" loading="lazy" alt="spectrogram {escape(n)}" src="{escape(files[n][1])}"></td>'
            if n in files
            else "<td>(not available)</td>"
            for n in LABELS
        ]
        out.append(
            f'<tr data-utt="{escape(u)}"><td>{escape(u)}<br>target {escape(t)}</td>'
            + num(_get(m.get("model", {}).get("per_utterance", {}).get(u), "mcd_db"), "{:.2f}")
            + num(_get(m.get("meanstd", {}).get("per_utterance", {}).get(u), "mcd_db"), "{:.2f}")
            + num(_get(mq, "similarity_target"))
            + num(_get(mq, "dnsmos_p808"), "{:.2f}")
            + "".join(cells)
            + "</tr>"
        )
    out.append("</tbody></table>")
    if q.get("failures"):
        out.append("<h2>Not measured</h2><pre>" + escape("\n".join(q["failures"])) + "</pre>")
    out.append('<pre id="load-errors" hidden></pre></body></html>\n')
    return "\n".join(out)
