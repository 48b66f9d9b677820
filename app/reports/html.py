"""A report as one self-contained HTML file: inline CSS, charts as data: images, every text escaped, no URLs."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from app.reports.charts import entry_charts
from app.reports.model import Entry, Report, ResultTable

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:900px;margin:2em auto;padding:0 1em;
color:#1d232b;line-height:1.5}
h1{margin-bottom:.2em}.meta{color:#5b6573}.q{background:#eef3fb;border-left:4px solid #3b6fc4;padding:.6em 1em}
.a{white-space:pre-wrap;padding:.6em 1em;border-left:4px solid #9aa5b1}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #c9d0d8;padding:.2em .5em}
th{background:#f3f5f8}pre{background:#f6f8fa;padding:.6em;overflow-x:auto;white-space:pre-wrap}
.note{color:#8a5a00}blockquote{margin:.3em 0 .3em 1em;color:#38424e;border-left:3px solid #d5dbe2;padding-left:.6em}
code{font-size:.85em}.rec{font-family:monospace;font-size:.8em;word-break:break-all}
"""


def render_html(report: Report, chain: dict[str, dict[str, Any]]) -> str:
    """The report as HTML with an empty manifest block (proof.embed_in_html fills it)."""
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(report.title)}</h1>",
        f'<p class="meta">Author: {escape(report.author)} · conversation started {escape(report.created_at)} · '
        f"exported {escape(report.exported_at)} · conversation {escape(report.conversation_id)}</p>",
    ]
    parts += [f'<p class="note">{escape(note)}</p>' for note in report.notes]
    for number, entry in report.numbered():
        parts += _entry(number, entry)
    parts += _appendix(report, chain)
    parts += ['<script type="application/json" id="aa-manifest"></script>', "</body></html>"]
    return "\n".join(parts) + "\n"


def _entry(number: int, entry: Entry) -> list[str]:
    out = [f"<h2>{number}. Question</h2>", f'<div class="q">{escape(entry.question)}</div>',
           "<h3>Answer</h3>", f'<div class="a">{escape(entry.answer) or "<em>(no text)</em>"}</div>']
    out += [f'<p class="note">{escape(note)}</p>' for note in entry.notes]
    if entry.citations:
        out.append("<h4>Sources</h4><ul>")
        for cite in entry.citations:
            where = f", {escape(cite.where)}" if cite.where else ""
            out.append(f"<li>[{escape(cite.n)}] {escape(cite.source)}{where}"
                       f"<blockquote>{escape(cite.quote)}</blockquote></li>")
        out.append("</ul>")
    for table in entry.tables:
        out += _table(table)
    for title, png, note in entry_charts(entry):
        if png is None:
            out.append(f'<p class="note">{escape(title)}: {escape(note)}</p>')
        else:
            data = base64.b64encode(png).decode("ascii")
            out.append(f'<figure><img alt="{escape(title)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{escape(title)}</figcaption></figure>")
    if entry.model:
        out.append(f'<p class="meta">Answered by {escape(entry.model)}</p>')
    return out


def _table(table: ResultTable) -> list[str]:
    out = [f"<h4>SQL result {escape(table.label)} ({table.row_count} row(s))</h4>",
           f"<pre><code>{escape(table.sql)}</code></pre>"]
    if table.columns:
        out.append("<table><tr>" + "".join(f"<th>{escape(c)}</th>" for c in table.columns) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{escape(_cell(v))}</td>" for v in row) + "</tr>" for row in table.rows]
        out.append("</table>")
    if table.note:
        out.append(f'<p class="note">{escape(table.note)}</p>')
    return out


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _appendix(report: Report, chain: dict[str, dict[str, Any]]) -> list[str]:
    out = ["<h2>Appendix</h2>", "<h3>SQL queries</h3>"]
    queries = [(t.label, t.sql) for e in report.entries for t in e.tables]
    out += [f"<pre><code>-- {escape(label)}\n{escape(sql)}</code></pre>" for label, sql in queries] or [
        "<p>None.</p>"]
    models = sorted({(e.model, e.model_digest) for e in report.entries if e.model})
    out.append("<h3>Models</h3><ul>")
    out += [f'<li>{escape(name)} <span class="rec">digest {escape(digest or "not reported")}</span></li>'
            for name, digest in models]
    out.append("</ul><h3>Documents</h3>")
    out += ["<ul>"] + [f'<li>{escape(name)} <span class="rec">sha256 {escape(sha)}</span></li>'
                       for name, sha in sorted(report.documents.items())] + ["</ul>"] if report.documents else [
        "<p>None cited.</p>"]
    out.append("<h3>Request records</h3><p>Check this report with "
               "<code>python -m app audit verify-report FILE</code>.</p><table><tr><th>#</th><th>Record</th>"
               "<th>Chain position</th><th>Chain hash</th></tr>")
    for number, entry in report.numbered():
        row = chain.get(entry.record_id, {})
        out.append(f'<tr><td>{number}</td><td class="rec">{escape(entry.record_id or "none")}</td>'
                   f'<td>{escape(str(row.get("position", "-")))}</td>'
                   f'<td class="rec">{escape(str(row.get("hash", "-")))}</td></tr>')
    out.append("</table>")
    return out
