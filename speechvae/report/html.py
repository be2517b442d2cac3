"""The HTML every listening page shares: one style sheet, one script (a sortable table, a log of resources that
failed to load, read by the headless-browser test), and the two escapes of text and numbers.
"""
from __future__ import annotations

import html

CSS = """body{font-family:sans-serif;margin:1.5em;max-width:1400px}table{border-collapse:collapse;margin:.6em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th.sort{cursor:pointer;background:#eef}
th.sort:after{content:' \\2195';color:#88a}td.num{text-align:right;font-variant-numeric:tabular-nums}
img.spec{width:260px;display:block}audio{width:260px}pre{background:#f6f6f6;padding:.6em;max-height:22em;overflow:auto}
.plots img{max-width:640px;margin:4px;border:1px solid #ddd;vertical-align:top}.warn{color:#a40}"""


# Sorting by a column's data-v values; load errors of any image or audio are collected (capture phase,
# since such error events do not bubble) so that a browser check can read them from the page; on load
# body gets data-ready (absent if the script broke) and #selftest sorts the utterances by MCD.
JS = """var loadErrors=[];window.addEventListener('error',function(e){var t=e.target||{};
loadErrors.push((t.src||t.currentSrc||e.message||'error')+'');var d=document.getElementById('load-errors');
if(d){d.textContent=loadErrors.join('\\n');}},true);
function sortBy(th){var tb=th.closest('table').tBodies[0],i=th.cellIndex,asc=th.dataset.asc!=='1';
var rows=Array.prototype.slice.call(tb.rows);rows.sort(function(a,b){var x=parseFloat(a.cells[i].dataset.v),
y=parseFloat(b.cells[i].dataset.v);return asc?x-y:y-x;});th.dataset.asc=asc?'1':'0';
rows.forEach(function(r){tb.appendChild(r);});}
window.addEventListener('load',function(){if(location.hash==='#selftest'){
sortBy(document.querySelector('#utterances th.sort'));}
document.getElementById('load-errors').textContent=loadErrors.join('\\n');document.body.dataset.ready='1';});"""


def escape(x) -> str:
    return html.escape(str(x), quote=True)


def num(v, fmt: str = "{:.3f}") -> str:
    """A table cell holding a number: full precision in data-v (sorting, tests), rounded for reading."""
    return f'<td class="num" data-v="{v!r}">{fmt.format(v)}</td>'
