"""The results page: one self-contained ``index.html`` per report folder.

Everything is inline — CSS, a few lines of JavaScript for sorting, every figure as a base64 PNG — so
the page opens from disk, from an e-mail or from a cluster's scratch space with no network. It holds
every table (the paper's value beside ours where the paper has one, stand-in columns marked), every
figure with its caption, the grid summary and the provenance of the records. Reads what ``report``
already rendered (data frames, PNGs, captions); never imports methods or torch.
"""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1200px;
  padding:0 1.2em 3em;color:#222}
h1{font-size:1.5em;margin:1em 0 .2em}h2{font-size:1.2em;margin:2em 0 .4em;border-bottom:1px solid #ddd}
nav a{margin-right:.9em}.note{color:#555;font-size:.92em;margin:.2em 0}
table{border-collapse:collapse;margin:.6em 0;font-variant-numeric:tabular-nums;font-size:.92em}
th,td{border-bottom:1px solid #e4e4e4;padding:.25em .6em;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
th{background:#f4f4f4;cursor:pointer;user-select:none;position:sticky;top:0}
th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}
td.best{font-weight:700}td.paper{color:#666}th.paper{color:#666}td.standin,th.standin{background:#fffbea}
.wrap{overflow-x:auto}figure{margin:1em 0 2em}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#444;font-size:.9em;max-width:60em}ul.verdicts li{margin:.2em 0}
"""

# Click a header to sort by that column (numbers by their leading value; '—' always last); click again
# to reverse. No library: the page must work offline.
SCRIPT = """
function sortValue(text){
  var m=text.replace(/\\u2212/g,'-').match(/^\\s*([-+]?\\d+(?:\\.\\d+)?)/);return m?parseFloat(m[1]):null;}
function sortTable(th){
  var table=th.closest('table'),body=table.tBodies[0],index=Array.prototype.indexOf.call(th.parentNode.children,th);
  var ascending=th.getAttribute('aria-sort')!=='ascending';
  Array.prototype.forEach.call(th.parentNode.children,function(h){h.removeAttribute('aria-sort');});
  th.setAttribute('aria-sort',ascending?'ascending':'descending');
  var rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){
    var x=a.cells[index].textContent,y=b.cells[index].textContent,vx=sortValue(x),vy=sortValue(y);
    if(vx===null&&vy===null)return ascending?x.localeCompare(y):y.localeCompare(x);
    if(vx===null)return 1;if(vy===null)return -1;
    return ascending?vx-vy:vy-vx;});
  rows.forEach(function(r){body.appendChild(r);});
}
document.addEventListener('DOMContentLoaded',function(){
  document.querySelectorAll('table.sortable th').forEach(function(th){
    th.addEventListener('click',function(){sortTable(th);});});
});
"""


@dataclass
class Section:
    """One table or figure group of the page."""

    anchor: str
    title: str
    notes: list[str] = field(default_factory=list)
    table: str = ""  # HTML
    footer: list[str] = field(default_factory=list)
    figures: list[tuple[Path, str]] = field(default_factory=list)  # (png, caption)


def table_html(frame: pd.DataFrame, marks: dict | None = None, stand_in_columns: set[str] = frozenset()) -> str:
    """A sortable HTML table: the index as the first column, each column's best in bold, paper and Δ
    columns greyed, stand-in columns tinted (their header says so in a tooltip)."""
    marks = marks or {}
    head = [f"<th>{html.escape(str(frame.index.name or ''))}</th>"]
    for column in frame.columns:
        kind = _kind(str(column), stand_in_columns)
        tip = ' title="run on a stand-in dataset, not the paper\'s"' if "standin" in kind else ""
        head.append(f'<th class="{kind}"{tip} scope="col">{html.escape(str(column))}</th>')
    rows = []
    for name, row in frame.iterrows():
        cells = [f"<td>{html.escape(str(name))}</td>"]
        for column, value in row.items():
            kind = _kind(str(column), stand_in_columns)
            best = marks.get(column, (None, None))[0] == name
            cells.append(f'<td class="{kind}{" best" if best else ""}">{html.escape(str(value))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ('<div class="wrap"><table class="sortable"><thead><tr>' + "".join(head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>")


def _kind(column: str, stand_in_columns) -> str:
    kinds = []
    if column.endswith(" paper") or " Δ" in column:
        kinds.append("paper")
    if any(column.startswith(s) for s in stand_in_columns):
        kinds.append("standin")
    return " ".join(kinds)


def _image(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()


_SUPERSCRIPT = re.compile(r"(?<![\w])([A-Za-zωΩμη])\^(\{[^}]*\}|[A-Za-z0-9]+)")
_SUBSCRIPT = re.compile(r"((?<![\w])[A-Za-zωΩμη]|</sup>)_(\{[^}]*\}|[A-Za-z0-9]+)")


def math_text(text: str) -> str:
    """Escaped text with the paper's notation as HTML: ω^c_nt → ω<sup>c</sup><sub>nt</sub>, C_j → C<sub>j</sub>,
    ω_{K-2} → ω<sub>K-2</sub>. Only a lone letter takes a script, so a key such as gdw_clone stays as it is."""
    escaped = html.escape(text)
    escaped = _SUPERSCRIPT.sub(lambda m: f"{m.group(1)}<sup>{m.group(2).strip('{}')}</sup>", escaped)
    return _SUBSCRIPT.sub(lambda m: f"{m.group(1)}<sub>{m.group(2).strip('{}')}</sub>", escaped)


def page(title: str, intro: list[str], sections: list[Section], provenance: list[str]) -> str:
    """The whole page as one string."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width,initial-scale=1">',
             f"<title>{html.escape(title)}</title><style>{STYLE}</style><script>{SCRIPT}</script></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    parts += [f'<p class="note">{html.escape(line)}</p>' for line in intro]
    parts.append("<nav>" + "".join(f'<a href="#{s.anchor}">{html.escape(s.title.split(":")[0])}</a>'
                                   for s in sections) + '<a href="#provenance">Provenance</a></nav>')
    for s in sections:
        parts.append(f'<section id="{s.anchor}"><h2>{math_text(s.title)}</h2>')
        parts += [f'<p class="note">{html.escape(line)}</p>' for line in s.notes]
        parts.append(s.table)
        if s.footer:
            parts.append('<ul class="verdicts">' + "".join(
                f"<li>{'<strong>' if line.startswith('NOT IN') else ''}{html.escape(line)}"
                f"{'</strong>' if line.startswith('NOT IN') else ''}</li>" for line in s.footer) + "</ul>")
        for png, caption in s.figures:
            parts.append(f'<figure><img alt="{html.escape(png.stem)}" src="{_image(png)}">'
                         f"<figcaption>{math_text(caption)}</figcaption></figure>")
        parts.append("</section>")
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    parts.append('<section id="provenance"><h2>Provenance</h2><ul>' + "".join(
        f"<li>{html.escape(line)}</li>" for line in [*provenance, f"Page written {generated}."]) + "</ul></section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
