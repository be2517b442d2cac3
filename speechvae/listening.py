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
import html
import json
import logging
import shutil
from pathlib import Path

from .audio import write_wav
from .console import progress_bar
from .corpus import CorpusError
from .featdir import check_utt_id, feature_path, read_manifest, select_utts
from .features import Features, synthesize
from .reconstruct import TrainedModel, load_model, reconstruct
from .report import evaluate, write_plots
from .store import atomic_write_text, write_json
from .train import DATA_JSON

log = logging.getLogger(__name__)

VERSIONS = (("original", "original recording"), ("copy", "WORLD copy synthesis"), ("model", "through the model"))

_CSS = """body{font-family:sans-serif;margin:1.5em;max-width:1400px}table{border-collapse:collapse;margin:.6em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th.sort{cursor:pointer;background:#eef}
th.sort:after{content:' \\2195';color:#88a}td.num{text-align:right;font-variant-numeric:tabular-nums}
img.spec{width:260px;display:block}audio{width:260px}pre{background:#f6f6f6;padding:.6em;max-height:22em;overflow:auto}
.plots img{max-width:640px;margin:4px;border:1px solid #ddd;vertical-align:top}.warn{color:#a40}"""

# Sorting by a column's data-v values; load errors of any image or audio are collected (capture phase,
# since such error events do not bubble) so that a browser check can read them from the page; on load
# body gets data-ready (absent if the script broke) and #selftest sorts the utterances by MCD.
_JS = """var loadErrors=[];window.addEventListener('error',function(e){var t=e.target||{};
loadErrors.push((t.src||t.currentSrc||e.message||'error')+'');var d=document.getElementById('load-errors');
if(d){d.textContent=loadErrors.join('\\n');}},true);
function sortBy(th){var tb=th.closest('table').tBodies[0],i=th.cellIndex,asc=th.dataset.asc!=='1';
var rows=Array.prototype.slice.call(tb.rows);rows.sort(function(a,b){var x=parseFloat(a.cells[i].dataset.v),
y=parseFloat(b.cells[i].dataset.v);return asc?x-y:y-x;});th.dataset.asc=asc?'1':'0';
rows.forEach(function(r){tb.appendChild(r);});}
window.addEventListener('load',function(){if(location.hash==='#selftest'){
sortBy(document.querySelector('#utterances th.sort'));}
document.getElementById('load-errors').textContent=loadErrors.join('\\n');document.body.dataset.ready='1';});"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _num(v, fmt: str = "{:.3f}") -> str:
    """A table cell holding a number: full precision in data-v (sorting, tests), rounded for reading."""
    return f'<td class="num" data-v="{v!r}">{fmt.format(v)}</td>'


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


def _utterances_and_metrics(tm: TrainedModel, expdir: Path, featdir: Path, eval_list) -> tuple[list[str], dict, str | None]:
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


def _utterance_files(tm: TrainedModel, featdir: Path, utt: str, source: str | None, outdir: Path) -> dict:
    from .plots import save_figure, spectrogram

    f = Features.load(feature_path(featdir, utt))
    waves = {"copy": synthesize(f), "model": synthesize(reconstruct(tm, f))}
    files = {}
    if source and Path(source).is_file():
        files["original"] = f"audio/original/{check_utt_id(utt)}{Path(source).suffix.lower()}"
        (outdir / files["original"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, outdir / files["original"])
    for name, x in waves.items():
        files[name] = f"audio/{name}/{utt}.wav"
        write_wav(outdir / files[name], x, f.fs)
    if "original" in files:
        from .audio import read_audio

        waves["original"] = read_audio(outdir / files["original"], f.fs)
    specs = {name: f"img/spec/{utt}_{name}.png" for name in waves}
    for name, x in waves.items():
        save_figure(spectrogram(x, f.fs, f"{utt}: {dict(VERSIONS)[name]}"), outdir / specs[name], dpi=72)
    return {"utt": utt, "audio": files, "spec": specs}


def _plots(tm: TrainedModel, expdir: Path, featdir: Path, utt: str, outdir: Path) -> list[str]:
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


def _compare_row(name: str, tm: TrainedModel, m: dict) -> dict:
    c = tm.cfg
    return {"name": name, "model": f"{c.model.kind} latent {c.model.latent}, stride {c.model.stride}, "
                                         f"beta {c.loss.beta:g}, {c.model.scaling} scaling",
            "mcd_db": m["mcd_db"], "gv_ratio": m["gv_ratio"], "kbit_per_s": m.get("kbit_per_s", float("nan"))}


def _page(expdir, tm, featdir, m, metrics_src, rows, plots, rd, comparison) -> str:
    from .config import config_to_dict
    import yaml

    cfg_text = yaml.safe_dump(config_to_dict(tm.cfg), sort_keys=False)
    held = {True: "held-out utterances", False: '<span class="warn">includes TRAINING utterances</span>',
            None: "held-out status unknown"}[m.get("held_out")]
    out = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>speechvae: {_e(expdir.name)}</title>",
           f"<style>{_CSS}</style><script>{_JS}</script></head><body>",
           f"<h1>speechvae listening page: {_e(expdir.name)}</h1>",
           f"<p>Model <code>{_e(expdir)}</code>, features <code>{_e(featdir)}</code>, {len(rows)} utterances ({held}). "
           f"Metrics from {_e(metrics_src)}: MCD over c1..c{tm.cfg.analysis.order} in dB, c0 excluded; GV ratio = "
           "per-dimension variance of the reconstruction over the input's.</p>",
           '<h2>Overall</h2><table id="overall"><tr><th>MCD (dB)</th><th>voiced MCD (dB)</th><th>GV ratio</th>'
           "<th>frames &gt; 2 dB</th><th>frames &gt; 4 dB</th><th>rate (kbit/s)</th><th>frames</th></tr><tr>",
           _num(m["mcd_db"]), _num(m["mcd_voiced_db"]), _num(m["gv_ratio"]),
           _num(m.get("share_over_2db", float("nan")), "{:.1%}"), _num(m.get("share_over_4db", float("nan")), "{:.1%}"),
           _num(m.get("kbit_per_s", float("nan")), "{:.2f}"), f'<td class="num">{m["frames"]}</td></tr></table>']
    if comparison:
        out.append('<h2>Experiments compared (same utterances)</h2><table id="compare"><thead><tr><th>experiment</th>'
                   '<th>model</th><th class="sort" onclick="sortBy(this)">MCD (dB)</th>'
                   '<th class="sort" onclick="sortBy(this)">GV ratio</th><th class="sort" onclick="sortBy(this)">kbit/s'
                   "</th></tr></thead><tbody>")
        for c in comparison:
            out.append(f"<tr><td>{_e(c['name'])}</td><td>{_e(c['model'])}</td>{_num(c['mcd_db'])}{_num(c['gv_ratio'])}"
                       f"{_num(c['kbit_per_s'], '{:.2f}')}</tr>")
        out.append("</tbody></table>")
    out.append('<h2>Utterances</h2><p>Click a numeric column header to sort.</p><table id="utterances"><thead><tr>'
               '<th>utterance</th><th class="sort" onclick="sortBy(this)">MCD (dB)</th>'
               '<th class="sort" onclick="sortBy(this)">GV ratio</th>'
               + "".join(f"<th>{_e(label)}</th>" for _, label in VERSIONS) + "</tr></thead><tbody>")
    for r in rows:
        pu = m["per_utterance"][r["utt"]]
        cells = []
        for name, _ in VERSIONS:
            if name in r["audio"]:
                cells.append(f'<td><audio controls preload="metadata" src="{_e(r["audio"][name])}"></audio>'
                             f'<img class="spec" alt="spectrogram {_e(name)}" src="{_e(r["spec"][name])}"></td>')
            else:
                cells.append("<td>(source wav not found)</td>")
        out.append(f'<tr data-utt="{_e(r["utt"])}"><td>{_e(r["utt"])}</td>{_num(pu["mcd_db"])}{_num(pu["gv_ratio"])}'
                   + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if rd:
        out.append("<h2>Rate-distortion</h2>" + "".join(f'<img src="{_e(i)}" alt="rate-distortion">' for i in rd["images"]))
        keys = [k for k in ("model", "cell", "latent", "mcd_db", "gv_ratio", "kbit_per_s", "status") if k in rd["rows"][0]]
        out.append('<table id="rd"><tr>' + "".join(f"<th>{_e(k)}</th>" for k in keys) + "</tr>")
        for r in rd["rows"]:
            out.append("<tr>" + "".join(f"<td>{_e(r[k])}</td>" for k in keys) + "</tr>")
        out.append("</table>")
    out.append('<h2>Training</h2><div class="plots">' + "".join(f'<img src="{_e(p)}" alt="{_e(Path(p).stem)}">'
                                                                for p in plots) + "</div>")
    out.append(f"<h2>Config</h2><pre>{_e(cfg_text)}</pre>")
    out.append('<pre id="load-errors" hidden></pre></body></html>\n')
    return "\n".join(out)
