"""`sis-pipeline report`: each integration's latest (or a given) run, its checks, rejections and last 30 runs."""

import json
import os
import sys
from pathlib import Path

REPORT_FILE_MODE = 0o600  # the report names student ids (and with --include-personal-data, their records)


def add_report_parser(commands) -> None:
    report = commands.add_parser("report", help="the morning report: counts, checks, rejections and the last 30 runs")
    report.add_argument("--integration", metavar="NAME", help="only this integration (default: every one with runs)")
    report.add_argument("--run", metavar="ID", help="this run (default: each integration's newest finished run)")
    report.add_argument("--format", choices=["html", "md", "json"], default="md")
    report.add_argument("--output", metavar="FILE", help="write here, readable by its owner only (default: stdout)")
    report.add_argument(
        "--include-personal-data", action="store_true",
        help="also the rejected records' payloads and run errors as sent: names, birth dates",
    )


def report_command(args) -> int:
    from sis_pipeline.reporting.data import RunNotFound, integration_report
    from sis_pipeline.reporting.html import render_html
    from sis_pipeline.reporting.markdown import render_markdown
    from sis_pipeline.warehouse.engine import create_warehouse_engine, warehouse_url
    from sis_pipeline.warehouse.runs import run_integrations
    from sis_pipeline.warehouse.schema import ensure_schema

    engine = create_warehouse_engine(warehouse_url())
    try:
        ensure_schema(engine)
        names = [args.integration] if args.integration else run_integrations(engine, args.run)
        if not names:
            print("report: no recorded runs" + (f" with id {args.run}" if args.run else ""), file=sys.stderr)
            return 1
        document = {
            "integrations": [
                integration_report(engine, name, args.run, personal_data=args.include_personal_data) for name in names
            ]
        }
    except RunNotFound as exc:
        print(f"report: {exc.args[0]}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    renderers = {"html": render_html, "md": render_markdown, "json": lambda doc: json.dumps(doc, indent=2)}
    text = renderers[args.format](document)
    if args.output:
        write_private(Path(args.output), text)
    else:
        print(text)
    return 0


def write_private(path: Path, text: str) -> None:
    """Created 0600 whatever the umask; an existing file is truncated and made 0600 too."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, REPORT_FILE_MODE)
    os.fchmod(descriptor, REPORT_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text if text.endswith("\n") else text + "\n")
