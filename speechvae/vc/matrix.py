"""Many-speaker conversion at a glance: the ``evaluate-vc`` JSON of every source -> target direction gathered into
one table per direction (every system beside its references) and source x target matrices of the model's figures.

``speechvae matrix EXPDIR/vc_*.json -o OUTDIR`` writes ``OUTDIR/matrix.json`` (all figures), ``matrix.md`` (the
tables), ``matrix.png`` (heat maps) and ``index.html``, which links each direction's listening page when a folder
``page_<source>_<target>/index.html`` stands beside its JSON (the layout of ``recipes/vc``). A direction whose
speakers read no common sentence has no MCD (``-``); its similarity and DNSMOS are there when evaluate-vc ran with
``--quality``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from speechvae.analysis.featdir import check_speaker

SYSTEMS = ("none", "meanstd", "model", "target_copy", "target_recording")


# key, heading, format, lower is better; MCD keys come from evaluate-vc's scores, the rest from its quality part
MEASURES = (("mcd_db", "DTW MCD (dB)", "{:.2f}", True),
            ("mcd_c0_voiced_db", "MCD c0 voiced (dB)", "{:.2f}", True),
            ("f0_rmse_cents", "F0 RMSE (cents)", "{:.0f}", True),
            ("similarity_target", "similarity to target", "{:.3f}", False),
            ("similarity_source", "similarity to source", "{:.3f}", True),
            ("nearer_target", "nearer target", "{:.0%}", False),
            ("dnsmos_p808", "DNSMOS P.808", "{:.2f}", False))


MATRIX_KEYS = ("mcd_db", "similarity_target", "nearer_target", "dnsmos_p808")  # the heat maps


def read_directions(jsons: list[str | Path]) -> dict[tuple[str, str], dict]:
    """(source, target) -> its evaluate-vc JSON (with ``_path``). Refuses a file that is not one, a conversion of
    several source speakers at once, and two files for one direction."""
    out: dict[tuple[str, str], dict] = {}
    for path in jsons:
        try:
            text = Path(path).read_bytes()
        except OSError as e:
            raise ValueError(f"{path}: cannot read ({e.strerror})") from None
        try:
            m = json.loads(text)  # bytes: a file that is not UTF-8 is a ValueError here, like any non-JSON
            src, tgt = m["sources"], m["target"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}: not a JSON written by `speechvae evaluate-vc`") from None
        if len(src) != 1:
            raise ValueError(f"{path}: converts {len(src)} source speakers at once ({', '.join(src)}); the matrix "
                             "takes one JSON per source -> target direction")
        key = (check_speaker(src[0], str(path)), check_speaker(tgt, str(path)))
        if key in out:
            raise ValueError(f"{path} and {out[key]['_path']}: both score {key[0]} -> {key[1]}")
        out[key] = {**m, "_path": str(path)}
    if not out:
        raise ValueError("no evaluate-vc JSON given")
    return out


def figure(m: dict, system: str, key: str) -> float:
    """One system's figure in an evaluate-vc JSON (NaN when not measured)."""
    v = m.get(system, {}).get(key) if key.startswith(("mcd", "f0")) else \
        m.get("quality", {}).get("systems", {}).get(system, {}).get(key)
    return math.nan if v is None else float(v)


def summarise(dirs: dict[tuple[str, str], dict]) -> dict:
    """``speakers`` (sorted), ``directions`` (one row per direction and system: every measure of :data:`MEASURES`)
    and ``matrices`` (key -> source x target list of lists of the model's figure, NaN where not measured)."""
    spk = sorted({s for k in dirs for s in k})
    rows = []
    for (s, t), m in sorted(dirs.items()):
        for name in SYSTEMS:
            vals = {k: figure(m, name, k) for k, *_ in MEASURES}
            if all(math.isnan(v) for v in vals.values()):
                continue
            rows.append({"source": s, "target": t, "system": name, "parallel": m.get("parallel", True),
                         "utterances": m["pairs"], "held_out": m.get("held_out"), **vals})
    idx = {x: i for i, x in enumerate(spk)}
    mats = {}
    for k in MATRIX_KEYS:
        a = np.full((len(spk), len(spk)), np.nan)
        for (s, t), m in dirs.items():
            a[idx[s], idx[t]] = figure(m, "model", k)
        mats[k] = a.tolist()
    return {"speakers": spk, "directions": rows, "matrices": mats}


def format_value(v: float, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def direction_table(summary: dict) -> str:
    """Plain-text table, one line per direction and system (what the recipes print)."""
    heads = ["direction", "system", "DTW MCD dB", "c0 voiced", "F0 cents", "sim tgt", "sim src", "nearer", "DNSMOS"]
    widths = [12, 16, 10, 9, 8, 7, 7, 6, 6]
    lines = [" ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(heads, widths)))]
    fmts = ["{:.2f}", "{:.2f}", "{:.0f}", "{:.3f}", "{:.3f}", "{:.2f}", "{:.2f}"]
    for r in summary["directions"]:
        vals = [format_value(r[k], f) for (k, *_), f in zip(MEASURES, fmts)]
        lines.append(f"{r['source'] + ' -> ' + r['target']:<12} {r['system']:<16} "
                     + " ".join(v.rjust(w) for v, w in zip(vals, widths[2:])))
    return "\n".join(lines)


def matrix_markdown(summary: dict) -> str:
    """One markdown source x target table per measure of :data:`MATRIX_KEYS` (the model's figures)."""
    spk, out = summary["speakers"], []
    for key, head, fmt, lower in (m for m in MEASURES if m[0] in MATRIX_KEYS):
        a = summary["matrices"][key]
        out.append(f"### {head} ({'lower' if lower else 'higher'} is better), source (rows) -> target (columns)\n")
        out.append("| source \\ target | " + " | ".join(spk) + " |")
        out.append("|---|" + "---|" * len(spk))
        out += [f"| {s} | " + " | ".join(format_value(v, fmt) for v in row) + " |" for s, row in zip(spk, a)]
        out.append("")
    return "\n".join(out)
