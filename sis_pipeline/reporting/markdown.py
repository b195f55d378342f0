"""The report as Markdown: for a terminal, an e-mail, and the Dagster UI's asset metadata."""

from sis_pipeline.reporting import tables as t

REJECTIONS_NOTE = "Errors: records refused (in `rejected_records`); a record refused for two reasons counts under both."
WARNINGS_NOTE = "Warnings: a value dropped or kept from the warehouse while its record loaded."


def render_markdown(document: dict) -> str:
    lines = ["# Sync report", ""]
    for report in document["integrations"]:
        lines += [f"## {report['integration']}", "", t.run_line(report), ""]
        lines += ["### Counts per entity", "", *_table(t.COUNTS_HEADER, t.counts_rows(report)), ""]
        lines += ["### Checks", "", *(_table(t.CHECKS_HEADER, t.checks_rows(report)) or [t.NO_CHECKS]), ""]
        lines += ["### Rejected records", "", REJECTIONS_NOTE, ""]
        lines += [*(_table(t.ERRORS_HEADER, t.errors_rows(report)) or [t.NO_REJECTIONS]), ""]
        lines += [*(f"- {line}" for line in t.omitted_reasons(report))]
        if payloads := t.payload_rows(report):
            lines += ["", "Example payloads as sent (personal data):", "", *_table(("entity", "source id", "payload"), payloads)]
        lines += ["", "### Warnings", "", WARNINGS_NOTE, ""]
        lines += [*(_table(t.WARNINGS_HEADER, t.warnings_rows(report)) or [t.NO_WARNINGS]), ""]
        lines += [f"### Last {len(report['history'])} runs", "", *_table(t.HISTORY_HEADER, t.history_rows(report)), ""]
    return "\n".join(lines)


def _table(header, rows: list[list]) -> list[str]:
    if not rows:
        return []
    return [_row(header), "|" + "---|" * len(header), *(_row(row) for row in rows)]


def _row(cells) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(value) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")
