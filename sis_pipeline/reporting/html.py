"""The report as one self-contained HTML page: inline CSS and SVG charts, no script, nothing fetched."""

from html import escape

from sis_pipeline.reporting import tables as t
from sis_pipeline.reporting.markdown import REJECTIONS_NOTE, WARNINGS_NOTE
from sis_pipeline.reporting.svg import bar_chart

STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; font-size: 0.9em; }
td.number { text-align: right; }
"""


def render_html(document: dict) -> str:
    body = ["<h1>Sync report</h1>"]
    for report in document["integrations"]:
        body += [f"<section data-integration=\"{escape(report['integration'])}\">", f"<h2>{escape(report['integration'])}</h2>"]
        body += [f"<p>{escape(t.run_line(report))}</p>"]
        body += ["<h3>Counts per entity</h3>", _table(t.COUNTS_HEADER, t.counts_rows(report), "counts")]
        body += ["<h3>Checks</h3>", _table(t.CHECKS_HEADER, t.checks_rows(report), "checks", t.NO_CHECKS)]
        body += ["<h3>Rejected records</h3>", f"<p>{escape(REJECTIONS_NOTE.replace('`', ''))}</p>"]
        body += [_table(t.ERRORS_HEADER, t.errors_rows(report), "errors", t.NO_REJECTIONS)]
        body += [f"<p>{escape(line)}</p>" for line in t.omitted_reasons(report)]
        if payloads := t.payload_rows(report):
            body += ["<p>Example payloads as sent (personal data):</p>", _table(("entity", "source id", "payload"), payloads, "payloads")]
        body += ["<h3>Warnings</h3>", f"<p>{escape(WARNINGS_NOTE)}</p>"]
        body += [_table(t.WARNINGS_HEADER, t.warnings_rows(report), "warnings", t.NO_WARNINGS)]
        history = report["history"]
        body += [f"<h3>Last {len(history)} runs</h3>"]
        body += [
            bar_chart("Rows staged per run", history, "rows"),
            bar_chart("Records rejected per run", history, "rejected"),
            bar_chart("Duration per run", history, "seconds", " s"),
        ]
        body += [_table(t.HISTORY_HEADER, t.history_rows(report), "history"), "</section>"]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8"><title>Sync report</title>',
            f"<style>{STYLE}</style></head><body>",
            *body,
            "</body></html>",
        ]
    )


def _table(header, rows: list[list], name: str, empty: str = "") -> str:
    if not rows:
        return f'<p data-table="{name}">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(str(cell))}</th>" for cell in header)
    lines = [f'<table data-table="{name}"><thead><tr>{head}</tr></thead><tbody>']
    for row in rows:
        cells = "".join(
            f'<td class="number">{cell}</td>' if isinstance(cell, (int, float)) else f"<td>{escape(str(cell))}</td>" for cell in row
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)
