"""A listening page for an experiment: ``speechvae report EXPDIR [FEATDIR] -o REPORTDIR``.

``REPORTDIR/index.html`` is one static page that opens from disk (no server, no network, no CDN):
the run's config, metrics overall, training curves and monitors, a per-utterance table sortable by
MCD / GV ratio whose rows hold audio players side by side (original, WORLD copy synthesis, through the
model) with a spectrogram of each, the rate-distortion plot and table when the experiment folder
has them, and with ``--compare`` one row per experiment. Audio, images and ``metrics.json`` sit next
to index.html and are referenced by relative paths.
"""
from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

import yaml

from speechvae.analysis.audio import read_audio, write_wav
from speechvae.analysis.featdir import check_utt_id, feature_path, read_manifest, select_utts
from speechvae.analysis.features import Features, vocode
from speechvae.analysis.inputs import CorpusError
from speechvae.config import config_to_dict
from speechvae.console import progress_bar
from speechvae.evaluation.evaluate import evaluate
from speechvae.expdir import DATA_JSON
from speechvae.inference.model import Model, load_model, reconstruct
from speechvae.plots import save_figure, spectrogram
from speechvae.report.html import CSS, JS, escape, num
from speechvae.report.model_plots import write_plots
from speechvae.store import atomic_write_text, write_json

log = logging.getLogger(__name__)


VERSIONS = (("original", "original recording"), ("copy", "WORLD copy synthesis"), ("model", "through the model"))


def experiment_featdir(expdir: str | Path) -> Path:
    """The feature folder an experiment was trained on (recorded by ``speechvae train`` in EXPDIR/data.json)."""
    p = Path(expdir) / DATA_JSON
    try:
        return Path(json.loads(p.read_text())["featdir"])
    except (OSError, KeyError, ValueError):
        raise CorpusError(f"{p}: no record of the feature folder; pass FEATDIR") from None


def build_report(expdir: str | Path, outdir: str | Path, featdir: str | Path | None = None,
                 eval_list: str | Path | None = None, compare: list[str | Path] = (), device: str = "auto",
                 progress: bool = True) -> Path:
    """Write the listening page of ``expdir`` into ``outdir``; returns the path of index.html.

    Utterances: ``eval_list``, else those of ``expdir/metrics.json``, else every utterance of the feature
    folder the model was not trained on. Metrics come from ``expdir/metrics.json`` when it covers exactly
    these utterances, else they are computed (``speechvae evaluate``) and saved to ``outdir/metrics.json``.
    """
    expdir, outdir = Path(expdir), Path(outdir)
    tm = load_model(expdir, device)
    others = {Path(e).name: load_model(e, device) for e in compare}  # refuse a bad --compare before any work
    featdir = Path(featdir) if featdir is not None else experiment_featdir(expdir)
    utts, metrics, metrics_src = _utterances_and_metrics(tm, expdir, featdir, eval_list)
    if metrics_src is None:
        write_json(outdir / "metrics.json", metrics)
        metrics_src = "metrics.json (computed for this page)"
    manifest = {r["utt_id"]: r for r in read_manifest(featdir)}
    rows = []
    for u in progress_bar(utts, desc="report", unit="utt", enabled=progress):
        rows.append(_utterance_files(tm, featdir, u, manifest.get(u, {}).get("path"), outdir))
    plots = _plots(tm, expdir, featdir, utts[0], outdir)
    rd = _rd(expdir, outdir)
    comparison = [_compare_row(expdir.name, tm, metrics)]
    for name, other in others.items():  # scored on the same utterances
        comparison.append(_compare_row(name, other, evaluate(other, featdir, utts)))
    page = _page(expdir, tm, featdir, metrics, metrics_src, rows, plots, rd, comparison if compare else [])
    atomic_write_text(outdir / "index.html", page)
    return outdir / "index.html"


def _utterances_and_metrics(tm: Model, expdir: Path, featdir: Path, eval_list) -> tuple[list[str], dict, str | None]:
    saved = expdir / "metrics.json"
    saved_m = json.loads(saved.read_text()) if saved.is_file() else None
    if eval_list is not None:
        utts = select_utts(featdir, eval_list)
    elif saved_m is not None:
        utts = sorted(saved_m["per_utterance"])
    else:
        trained = set(tm.checkpoint.train_utts)
        utts = [u for u in select_utts(featdir) if u not in trained] or select_utts(featdir)
    if saved_m is not None and sorted(saved_m["per_utterance"]) == sorted(utts):
        return utts, saved_m, f"{saved.name} of the experiment"
    return utts, evaluate(tm, featdir, utts), None


def _utterance_files(tm: Model, featdir: Path, utt: str, source: str | None, outdir: Path) -> dict:
    f = Features.load(feature_path(featdir, utt))
    waves = {"copy": vocode(f), "model": vocode(reconstruct(tm, f))}
    files = {}
    if source and Path(source).is_file():
        files["original"] = f"audio/original/{check_utt_id(utt)}{Path(source).suffix.lower()}"
        (outdir / files["original"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, outdir / files["original"])
    for name, x in waves.items():
        files[name] = f"audio/{name}/{utt}.wav"
        write_wav(outdir / files[name], x, f.fs)
    if "original" in files:
        waves["original"] = read_audio(outdir / files["original"], f.fs)
    specs = {name: f"img/spec/{utt}_{name}.png" for name in waves}
    for name, x in waves.items():
        save_figure(spectrogram(x, f.fs, f"{utt}: {dict(VERSIONS)[name]}"), outdir / specs[name], dpi=72)
    return {"utt": utt, "audio": files, "spec": specs}


def _plots(tm: Model, expdir: Path, featdir: Path, utt: str, outdir: Path) -> list[str]:
    """The experiment's plots (expdir/plots, as the recipes write them), else drawn now."""
    src = expdir / "plots"
    dest = outdir / "img" / "plots"
    if src.is_dir() and any(src.glob("*.png")):
        dest.mkdir(parents=True, exist_ok=True)
        for p in sorted(src.glob("*.png")):
            shutil.copyfile(p, dest / p.name)
        return [f"img/plots/{p.name}" for p in sorted(src.glob("*.png"))]
    return [f"img/plots/{p.name}" for p in write_plots(tm, tm.checkpoint.history, featdir, utt, dest)]


def _rd(expdir: Path, outdir: Path) -> dict | None:
    """rd.csv and its plots when the experiment folder holds a rate-distortion run (or is one of its
    cells: RDDIR/cells/<cell>)."""
    for folder in (expdir, expdir.parent.parent):
        if (folder / "rd.csv").is_file():
            expdir, table = folder, folder / "rd.csv"
            break
    else:
        return None
    with open(table) as fh:
        rows = list(csv.DictReader(fh))
    imgs = []
    for name in ("rd_dims.png", "rd_rate.png"):
        if (expdir / name).is_file():
            (outdir / "img").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(expdir / name, outdir / "img" / name)
            imgs.append(f"img/{name}")
    return {"rows": rows, "images": imgs}


def _compare_row(name: str, tm: Model, m: dict) -> dict:
    c = tm.cfg
    return {"name": name, "model": f"{c.model.kind} latent {c.model.latent}, stride {c.model.stride}, "
                                         f"beta {c.loss.beta:g}, {c.model.scaling} scaling",
            "mcd_db": m["mcd_db"], "gv_ratio": m["gv_ratio"], "kbit_per_s": m.get("kbit_per_s", float("nan"))}


def _page(expdir, tm, featdir, m, metrics_src, rows, plots, rd, comparison) -> str:
    cfg_text = yaml.safe_dump(config_to_dict(tm.cfg), sort_keys=False)
    held = {True: "held-out utterances", False: '<span class="warn">includes TRAINING utterances</span>',
            None: "held-out status unknown"}[m.get("held_out")]
    out = [
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>speechvae: {escape(expdir.name)}</title>",
        f"<style>{CSS}</style><script>{JS}</script></head><body>",
        f"<h1>speechvae listening page: {escape(expdir.name)}</h1>",
        f"<p>Model <code>{escape(expdir)}</code>, features <code>{escape(featdir)}</code>, "
        f"{len(rows)} utterances ({held}). "
        f"Metrics from {escape(metrics_src)}: MCD over c1..c{tm.cfg.analysis.order} in dB, c0 excluded; GV ratio = "
        "per-dimension variance of the reconstruction over the input's.</p>",
        '<h2>Overall</h2><table id="overall"><tr><th>MCD (dB)</th><th>voiced MCD (dB)</th><th>GV ratio</th>'
        "<th>frames &gt; 2 dB</th><th>frames &gt; 4 dB</th><th>rate (kbit/s)</th><th>frames</th></tr><tr>",
        num(m["mcd_db"]),
        num(m["mcd_voiced_db"]),
        num(m["gv_ratio"]),
        num(m.get("share_over_2db", float("nan")), "{:.1%}"),
        num(m.get("share_over_4db", float("nan")), "{:.1%}"),
        num(m.get("kbit_per_s", float("nan")), "{:.2f}"),
        f'<td class="num">{m["frames"]}</td></tr></table>',
    ]
    if comparison:
        out.append('<h2>Experiments compared (same utterances)</h2><table id="compare"><thead><tr><th>experiment</th>'
                   '<th>model</th><th class="sort" onclick="sortBy(this)">MCD (dB)</th>'
                   '<th class="sort" onclick="sortBy(this)">GV ratio</th><th class="sort" onclick="sortBy(this)">kbit/s'
                   "</th></tr></thead><tbody>")
        for c in comparison:
            out.append(
                f"<tr><td>{escape(c['name'])}</td><td>{escape(c['model'])}</td>{num(c['mcd_db'])}{num(c['gv_ratio'])}"
                f"{num(c['kbit_per_s'], '{:.2f}')}</tr>"
            )
        out.append("</tbody></table>")
    out.append(
        '<h2>Utterances</h2><p>Click a numeric column header to sort.</p><table id="utterances"><thead><tr>'
        '<th>utterance</th><th class="sort" onclick="sortBy(this)">MCD (dB)</th>'
        '<th class="sort" onclick="sortBy(this)">GV ratio</th>'
        + "".join(f"<th>{escape(label)}</th>" for _, label in VERSIONS)
        + "</tr></thead><tbody>"
    )
    for r in rows:
        pu = m["per_utterance"][r["utt"]]
        cells = []
        for name, _ in VERSIONS:
            if name in r["audio"]:
                cells.append(
                    f'<td><audio controls preload="metadata" src="{escape(r["audio"][name])}"></audio>'
                    f'<img class="spec" alt="spectrogram {escape(name)}" src="{escape(r["spec"][name])}"></td>'
                )
            else:
                cells.append("<td>(source wav not found)</td>")
        out.append(
            f'<tr data-utt="{escape(r["utt"])}"><td>{escape(r["utt"])}</td>{num(pu["mcd_db"])}{num(pu["gv_ratio"])}'
            + "".join(cells)
            + "</tr>"
        )
    out.append("</tbody></table>")
    if rd:
        out.append(
            "<h2>Rate-distortion</h2>" + "".join(f'<img src="{escape(i)}" alt="rate-distortion">' for i in rd["images"])
        )
        keys = [
            k for k in ("model", "cell", "latent", "mcd_db", "gv_ratio", "kbit_per_s", "status") if k in rd["rows"][0]
        ]
        out.append('<table id="rd"><tr>' + "".join(f"<th>{escape(k)}</th>" for k in keys) + "</tr>")
        for r in rd["rows"]:
            out.append("<tr>" + "".join(f"<td>{escape(r[k])}</td>" for k in keys) + "</tr>")
        out.append("</table>")
    out.append(
        '<h2>Training</h2><div class="plots">'
        + "".join(f'<img src="{escape(p)}" alt="{escape(Path(p).stem)}">' for p in plots)
        + "</div>"
    )
    out.append(f"<h2>Config</h2><pre>{escape(cfg_text)}</pre>")
    out.append('<pre id="load-errors" hidden></pre></body></html>\n')
    return "\n".join(out)
