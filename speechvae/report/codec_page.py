"""``speechvae codec evaluate``'s outputs: ``results.json``, ``results.md`` (the table), ``rate_quality.png``
(each measure against kbit/s, a line per codec) and ``index.html``, a listening page with, per utterance, a player
for the recording, WORLD copy synthesis, speechvae at each rate and Codec2 and Opus at theirs.
"""
from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from speechvae.analysis.featdir import utt_file
from speechvae.evaluation.codecs import markdown_table
from speechvae.plots import save_figure
from speechvae.report.html import CSS, JS, escape
from speechvae.store import atomic_write_text, write_json

PANELS = (("pesq_wb", "PESQ-WB"), ("pesq_nb", "PESQ-NB"), ("stoi", "STOI"), ("dnsmos_p808", "DNSMOS P.808"),
          ("similarity", "speaker similarity"))
STYLE = {"speechvae": "o-", "Codec2": "s--", "Opus": "^-."}


def rate_quality_figure(result: dict, title: str = "") -> Figure:
    """Each measure against the measured kbit/s: a line per codec family, the uncoded rows as horizontal lines."""
    fig = Figure(figsize=(15, 3.4))
    systems = list(result["systems"].values())
    for i, (key, head) in enumerate(PANELS):
        ax = fig.add_subplot(1, len(PANELS), i + 1)
        for fam, style in STYLE.items():
            pts = sorted((s["kbit_per_s"], s[key]) for s in systems if s["family"] == fam
                         and s["kbit_per_s"] is not None and s[key] is not None)
            if pts:
                ax.plot(*zip(*pts), style, label=fam)
        for s in systems:
            if s["kbit_per_s"] is None and s[key] is not None:
                ax.axhline(s[key], color="grey" if s["kind"] == "copy" else "k", lw=0.8, ls=":",
                           label=s["name"])
        ax.set_xlabel("kbit/s (from file sizes)")
        ax.set_title(head)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def write_codec_report(result: dict, outdir: str | Path, title: str = "speechvae codec") -> Path:
    """Write results.json, results.md, rate_quality.png and index.html into ``outdir`` (where the wavs are)."""
    outdir = Path(outdir)
    write_json(outdir / "results.json", result)
    atomic_write_text(outdir / "results.md", f"# {title}\n\n{markdown_table(result)}\n")
    save_figure(rate_quality_figure(result, title), outdir / "rate_quality.png")
    page = outdir / "index.html"
    atomic_write_text(page, _page(result, outdir, title))
    return page


def _page(result: dict, outdir: Path, title: str) -> str:
    systems = result["systems"]
    out = ["<!DOCTYPE html><html lang=en><head><meta charset=utf-8>", f"<title>{escape(title)}</title>",
           f"<style>{CSS}</style><script>{JS}</script></head><body>", f"<h1>{escape(title)}</h1>",
           "<p>Every system on the same held-out recordings. kbit/s from the files each codec writes (speechvae's "
           "header, Opus's Ogg container included); PESQ and STOI against the recording after the codec's delay is "
           "removed; speaker similarity to the centroid of the speaker's other recordings.</p>",
           '<img src="rate_quality.png" alt="quality against kbit/s" style="max-width:100%">',
           "<table><tr><th>system</th><th>kbit/s</th>" + "".join(f"<th>{escape(h)}</th>" for _, h in PANELS)
           + "</tr>"]
    for s in systems.values():
        cells = "".join(f'<td class="num">{"" if s[k] is None else f"{s[k]:.3f}"}</td>' for k, _ in PANELS)
        rate = "" if s["kbit_per_s"] is None else f"{s['kbit_per_s']:.2f}"
        out.append(f'<tr><th>{escape(s["name"])}</th><td class="num">{rate}</td>{cells}</tr>')
    out.append("</table><h2>Listen</h2><p>Per utterance, every system: its player and its own figures.</p>")
    for p in result["utterances"]:
        out.append(f'<h3>{escape(p["utt_id"])}</h3><table data-utt="{escape(p["utt_id"])}"><tr><th>system</th>'
                   "<th>listen</th><th>kbit/s</th><th>PESQ-WB</th><th>STOI</th><th>DNSMOS P.808</th></tr>")
        for key, s in systems.items():
            wav = os.path.relpath(utt_file(outdir / "wavs" / key, p["utt_id"], ".wav"), outdir)
            r = p["systems"].get(key, {})
            rate = "" if r.get("bytes") is None else f"{r['bytes'] * 8 / p['seconds'] / 1000:.2f}"
            cells = "".join(f'<td class="num">{"" if r.get(k) is None else f"{r[k]:.3f}"}</td>'
                            for k in ("pesq_wb", "stoi", "dnsmos_p808"))
            out.append(f'<tr><th>{escape(s["name"])}</th><td><audio controls preload="metadata" '
                       f'src="{escape(wav)}"></audio></td><td class="num">{rate}</td>{cells}</tr>')
        out.append("</table>")
    out.append('<h2>Files that did not load</h2><pre id="load-errors"></pre></body></html>\n')
    return "\n".join(out)
