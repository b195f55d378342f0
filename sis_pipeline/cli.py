"""`sis-pipeline`: run syncs and simulators from a terminal or a cron line."""

import argparse
import json
import logging
import os
import sys

from sis_pipeline.cli_report import add_report_parser, report_command
from sis_pipeline.cli_students import add_student_parsers, conflicts_command, students_command
from sis_pipeline.config import ConfigError, load_config
from sis_pipeline.counts import COUNT_NAMES
from sis_pipeline.errors import describe
from sis_pipeline.redact import install_log_redaction
from sis_pipeline.signals import signals_as_interrupts

# The exit status of a sync stopped by SIGTERM or SIGINT (128 + SIGINT, as shells report Ctrl-C).
INTERRUPTED_EXIT = 130
THIRD_PARTY_LOGGERS = ("httpx", "httpcore", "dagster", "alembic", "urllib3", "asyncio", "filelock")


def main(argv: list[str] | None = None) -> int:
    install_log_redaction()
    parser = argparse.ArgumentParser(prog="sis-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sync = commands.add_parser("sync", help="sync rosters from the configured SIS integrations into the warehouse")
    sync.add_argument("--config", help="integrations.yaml (default: $SIS_PIPELINE_CONFIG or ./integrations.yaml)")
    sync.add_argument("--integration", action="append", metavar="NAME", help="only this integration (repeatable)")
    sync.add_argument("--mode", choices=["full", "incremental"], default="full")
    sync.add_argument(
        "--reprocess", action="store_true",
        help="normalise and load even a delivery byte-identical to the last full sync's (which is otherwise recorded as unchanged)",
    )
    sync.add_argument("--json", action="store_true", help="print the per-integration counts as JSON")
    sync.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    sync.add_argument("--verbose", action="store_true", help="tracebacks and the libraries' own logs (Dagster, httpx, alembic)")

    tokens = commands.add_parser("tokens", help="stored OAuth tokens: status, or revoke to force a new one")
    tokens.add_argument("action", choices=["status", "revoke"])
    tokens.add_argument("--integration", metavar="NAME", help="only this integration")
    tokens.add_argument("--json", action="store_true")

    warehouse = commands.add_parser("warehouse", help="the warehouse schema: upgrade applies pending migrations")
    warehouse.add_argument("action", choices=["upgrade"])
    warehouse.add_argument("--json", action="store_true", help="print the revision before and after as JSON")

    holds = commands.add_parser("holds", help="runs held by the safety limits: list, show, approve or discard")
    holds.add_argument("action", choices=["list", "show", "approve", "discard"])
    holds.add_argument("run_id", nargs="?", metavar="RUN", help="the held run (show, approve, discard)")
    holds.add_argument("--integration", metavar="NAME", help="only this integration")
    holds.add_argument("--json", action="store_true")

    identities = commands.add_parser("identities", help="possible duplicate children: review, link or split")
    identities.add_argument("action", choices=["review", "link", "split"])
    identities.add_argument("review_id", nargs="?", type=int, metavar="ID", help="the review (link, split)")
    identities.add_argument("--by", metavar="NAME", help="who decided (link, split)")
    identities.add_argument("--integration", metavar="NAME", help="only this integration (review)")
    identities.add_argument("--json", action="store_true")
    add_report_parser(commands)
    add_student_parsers(commands)

    simulate = commands.add_parser("simulate", help="serve a synthetic district over a SIS API", add_help=False)
    simulate.add_argument("args", nargs=argparse.REMAINDER)

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["simulate"]:
        # Every argument after `simulate` is the simulators' own, `--help` before a simulator's name included.
        return _simulate(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "tokens":
        return _tokens(args)
    if args.command == "warehouse":
        return _warehouse(args)
    if args.command == "holds":
        from sis_pipeline.cli_holds import holds_command

        return holds_command(args, parser)
    if args.command == "identities":
        from sis_pipeline.cli_identities import identities_command

        return identities_command(args, parser)
    if args.command == "report":
        return report_command(args)
    if args.command == "students":
        return students_command(args, parser)
    if args.command == "conflicts":
        return conflicts_command(args, parser)
    return _sync(args)


def _warehouse(args) -> int:
    """Bring `SIS_WAREHOUSE_URL` to this release's newest revision; one line (or JSON) with before and after."""
    from sis_pipeline.warehouse.engine import create_warehouse_engine, warehouse_url
    from sis_pipeline.warehouse.errors import WarehouseSchemaError
    from sis_pipeline.warehouse.migrate import upgrade_warehouse

    engine = create_warehouse_engine(warehouse_url())
    try:
        result = upgrade_warehouse(engine)
    except WarehouseSchemaError as exc:
        print(f"warehouse upgrade refused: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.describe())
    return 0


def _simulate(argv: list[str]) -> int:
    """The simulators are their own distribution (sis-simulators), installed for tests, demos and benchmarks only."""
    try:
        from sis_simulators.server import main as simulate_main
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != "sis_simulators":
            print(f"sis-pipeline simulate: the simulators cannot start ({exc}); reinstall them: "
                  "pip install -e simulators/", file=sys.stderr)
        else:
            print("sis-pipeline simulate: the simulators are not installed; from a clone of the sis_pipeline "
                  "repository run: pip install -e simulators/", file=sys.stderr)
        return 2
    return simulate_main(argv, prog="sis-pipeline simulate")


def _tokens(args) -> int:
    """Token health without the tokens: which integrations hold one, since when, until when."""
    from sis_pipeline.warehouse.engine import create_warehouse_engine, warehouse_url
    from sis_pipeline.warehouse.schema import ensure_schema
    from sis_pipeline.warehouse.tokens import revoke_tokens, token_status

    engine = create_warehouse_engine(warehouse_url())
    ensure_schema(engine)
    if args.action == "revoke":
        removed = revoke_tokens(engine, args.integration)
        print(f"revoked {removed} stored token(s); the next run asks the SIS for a new one")
        return 0
    rows = [row for row in token_status(engine) if args.integration in (None, row["integration"])]
    if args.json:
        print(json.dumps({"tokens": rows}, indent=2))
    elif not rows:
        print("no stored tokens (set SIS_TOKEN_KEY to keep tokens between runs)")
    for row in rows if not args.json else []:
        state = "valid" if row["valid"] else "expired"
        print(f"{row['integration']}: {state}, issued {row['issued_at']}, expires {row['expires_at']}")
    return 0


def _sync(args) -> int:
    _configure_logging(quiet=args.quiet, verbose=args.verbose)
    with signals_as_interrupts():
        try:
            return _run_sync(args)
        except KeyboardInterrupt as exc:  # outside a run: nothing was open that needs closing
            print(f"sync stopped: {describe(exc)}", file=sys.stderr)
            return INTERRUPTED_EXIT


def _run_sync(args) -> int:
    from sis_pipeline.token_cipher import check_token_key
    from sis_pipeline.warehouse.timeouts import warehouse_timeouts

    try:
        config = load_config(args.config)
        names = args.integration or config.names
        for name in names:
            config.integration(name)
        check_token_key()
        warehouse_timeouts()
    except ConfigError as exc:
        print(f"configuration refused (config): {exc}", file=sys.stderr)
        return 2
    from sis_pipeline.defs.sync_runner import sync_integrations

    # Dagster logs every step failure with its traceback; the one line per integration below says it
    # all unless the operator asks for more.
    report = sync_integrations(config, names, mode=args.mode, reprocess=args.reprocess, dagster_log_level="INFO" if args.verbose else "CRITICAL")
    tracebacks = {name: item.pop("traceback", None) for name, item in report["integrations"].items()}
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    for name, item in report["integrations"].items():
        if item["status"] != "success":
            print(f"{name}: {item['status']} ({item['error_class']}): {item['error']}", file=sys.stderr)
            if args.verbose and tracebacks[name]:
                print(tracebacks[name], file=sys.stderr)
    if report.get("interrupted"):
        _exit_now(INTERRUPTED_EXIT)
    return 0 if all(item["status"] == "success" for item in report["integrations"].values()) else 1


def _exit_now(status: int) -> None:
    """End the process without waiting for extraction threads still blocked on an HTTP response.

    The run is already closed and reported; those threads hold nothing that needs closing (a partial
    staging file of a run nobody will read), and waiting for them could take the request timeout.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(status)


def _configure_logging(*, quiet: bool, verbose: bool) -> None:
    """Progress lines from sis_pipeline at INFO; the libraries' own INFO chatter only with --verbose."""
    logging.basicConfig(
        level=logging.INFO if verbose or not quiet else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    # A connection handed back to the pool after an interrupted or failed load cannot always be reset;
    # the pool logs that with a traceback, while the run's own one-line failure already says what happened.
    logging.getLogger("sqlalchemy.pool").setLevel(logging.WARNING if verbose else logging.CRITICAL)
    if verbose:
        logging.getLogger("sis_pipeline").setLevel(logging.DEBUG)


def format_report(report: dict) -> str:
    """Per integration its outcome, and per entity the counts; why a run failed goes to stderr, one line each."""
    columns = COUNT_NAMES
    lines = []
    for name, item in report["integrations"].items():
        if item["status"] != "success":
            lines.append(f"{name}: {item['status']} ({item.get('error_class')}) in {item['seconds']}s")
            continue
        lines.append(f"{name}: {item['status']} in {item['seconds']}s")
        if item.get("unchanged_since"):
            lines.append(f"  the SIS delivered exactly what run {item['unchanged_since']} read: nothing to normalise or load (--reprocess does)")
        if item.get("hold"):
            lines += [f"  held: {reason}" for reason in item["hold"]["reasons"]]
            lines.append(f"  nothing was applied; review: sis-pipeline holds show {item['run_id']}")
        if item["entities"]:
            lines.append("  " + f"{'entity':<12}" + "".join(f"{c:>10}" for c in columns))
            for entity, counts in item["entities"].items():
                lines.append("  " + f"{entity:<12}" + "".join(f"{counts.get(c, 0):>10}" for c in columns))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
