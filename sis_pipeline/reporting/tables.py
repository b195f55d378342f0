"""The report's tables as rows of plain cells, shared by the Markdown and HTML renderers so both say the same."""

from sis_pipeline.reporting.data import CHECK_FIELDS, ENTITY_COUNTS

NO_CHECKS = "no checks recorded"
NO_REJECTIONS = "no records refused"
NO_WARNINGS = "no values dropped"
COUNTS_HEADER = ("entity", *ENTITY_COUNTS)
CHECKS_HEADER = CHECK_FIELDS
ERRORS_HEADER = ("entity", "reason", "records", "example source ids")
WARNINGS_HEADER = ("entity", "reason", "records")
HISTORY_HEADER = ("started", "run", "status", "rows", "rejected", "seconds")


def counts_rows(report: dict) -> list[list]:
    return [[entity, *(counts[name] for name in ENTITY_COUNTS)] for entity, counts in report["entities"].items()]


def checks_rows(report: dict) -> list[list]:
    return [[_blank(check[field]) for field in CHECK_FIELDS] for check in report["checks"]]


def errors_rows(report: dict) -> list[list]:
    return [
        [entity, reason["pattern"], reason["records"], ", ".join(example["source_id"] or "" for example in reason["examples"])]
        for entity, summary in report["errors"].items()
        for reason in summary["reasons"]
    ]


def payload_rows(report: dict) -> list[list]:
    """Example payloads as sent (only present with --include-personal-data)."""
    return [
        [entity, example["source_id"], example["payload"]]
        for entity, summary in report["errors"].items()
        for reason in summary["reasons"]
        for example in reason["examples"]
        if example.get("payload") is not None
    ]


def omitted_reasons(report: dict) -> list[str]:
    return [
        f"{entity}: {summary['reasons_total'] - len(summary['reasons'])} more reasons not shown"
        for entity, summary in report["errors"].items()
        if summary["reasons_total"] > len(summary["reasons"])
    ]


def warnings_rows(report: dict) -> list[list]:
    return [[entity, reason, count] for entity, reasons in report["warnings"].items() for reason, count in reasons.items()]


def history_rows(report: dict) -> list[list]:
    return [
        [point["started_at"][:16].replace("T", " "), point["run_id"], point["status"], point["rows"], point["rejected"], _blank(point["seconds"])]
        for point in report["history"]
    ]


def run_line(report: dict) -> str:
    run = report["run"]
    line = f"run {run['run_id']}: {run['status']} ({run['mode']}), started {run['started_at'][:19].replace('T', ' ')} UTC"
    if run["seconds"] is not None:
        line += f", {run['seconds']:g} s"
    if run["error_class"]:
        line += f"; failed ({run['error_class']})" + (f": {run['error']}" if run.get("error") else "")
    if run.get("unchanged_since"):
        line += f"; the SIS delivered exactly what run {run['unchanged_since']} read, so nothing was normalised or loaded"
    return line


def _blank(value):
    return "" if value is None else value
