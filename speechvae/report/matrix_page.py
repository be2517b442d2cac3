"""``speechvae matrix``: the evaluate-vc results of every direction gathered into ``matrix.json``, ``matrix.md``,
heat maps ``matrix.png`` and ``index.html`` (tables from :mod:`speechvae.vc.matrix`).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from speechvae.plots import conversion_matrices, save_figure
from speechvae.report.html import CSS, escape
from speechvae.store import atomic_write_text, write_json
from speechvae.vc.matrix import (
    MATRIX_KEYS,
    MEASURES,
    direction_table,
    format_value,
    matrix_markdown,
    read_directions,
    summarise,
)


def write_matrix(jsons: list[str | Path], outdir: str | Path) -> dict:
    """Gather ``jsons`` (see the module docstring) into ``outdir``; returns the summary (:func:`summarise`)."""

    dirs = read_directions(jsons)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    summary = summarise(dirs)
    pages = {}
    for (s, t), m in dirs.items():
        page = Path(m["_path"]).parent / f"page_{s}_{t}" / "index.html"
        if page.is_file():
            pages[f"{s} -> {t}"] = os.path.relpath(page, outdir)
    summary["pages"] = pages
    write_json(outdir / "matrix.json", _plain(summary))
    panels = [(head, np.array(summary["matrices"][k]), fmt, lower) for k, head, fmt, lower in MEASURES
              if k in MATRIX_KEYS]
    save_figure(conversion_matrices(summary["speakers"], panels), outdir / "matrix.png")
    atomic_write_text(outdir / "matrix.md", "## Directions\n\n```\n" + direction_table(summary) + "\n```\n\n"
                      + matrix_markdown(summary))
    atomic_write_text(outdir / "index.html", _page(summary))
    return summary


def _plain(x):
    """``x`` with NaN as null, so that matrix.json is strict JSON."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return None if isinstance(x, float) and math.isnan(x) else x


def _page(summary: dict) -> str:
    spk, pages = summary["speakers"], summary["pages"]
    out = ["<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>speechvae: conversion matrix</title>",
           f"<style>{CSS}</style></head><body><h1>speechvae conversion matrix: {len(spk)} speakers</h1>",
           '<p>The model\'s figures, source (rows) to target (columns); a cell links to the direction\'s listening '
           'page. "-": not measured (the diagonal; MCD where the two speakers read no common sentence).</p>',
           '<img src="matrix.png" alt="conversion matrices" style="max-width:100%">']
    for key, head, fmt, _ in (m for m in MEASURES if m[0] in MATRIX_KEYS):
        out.append(f"<h2>{escape(head)}</h2><table><tr><th>source \\ target</th>"
                   + "".join(f"<th>{escape(t)}</th>" for t in spk) + "</tr>")
        for s, row in zip(spk, summary["matrices"][key]):
            cells = []
            for t, v in zip(spk, row):
                text = escape(format_value(v, fmt))
                link = pages.get(f"{s} -> {t}")
                cells.append(f'<td class="num"><a href="{escape(link)}">{text}</a></td>' if link else
                             f'<td class="num">{text}</td>')
            out.append(f"<tr><th>{escape(s)}</th>{''.join(cells)}</tr>")
        out.append("</table>")
    out.append("<h2>Every direction beside its references</h2><pre>" + escape(direction_table(summary)) + "</pre>")
    out.append("</body></html>\n")
    return "\n".join(out)
