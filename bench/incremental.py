"""Incremental-sync benchmark: 1% of a district's students change, then `sis-pipeline sync --mode incremental`.

    .venv/bin/python bench/incremental.py --students 100000

One run, one district: `sis-pipeline sync --json` (full) into a fresh PostgreSQL database, a snapshot of
every warehouse row's (source_id, updated_at), 1% of the students changed through the simulator's admin
API (most renamed, some marked `tobedeleted`), then `sis-pipeline sync --mode incremental --json`. The
run fails unless the incremental sync wrote exactly the changed students and no other row; it reports
both wall times and incremental / full (issue 9: at most 10%). See bench/README.md.
"""

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from _changes import apply_changes, choose_changes, new_given_name
from _scratch import (
    RESULTS_DIR,
    TOTAL_KEYS,
    BenchmarkFailure,
    check,
    create_database,
    run_in_scratch,
    server_version,
    write_integrations,
    write_results,
)
from sis_pipeline.warehouse.engine import create_warehouse_engine
from sis_simulators.server import SimulatorProcess
from sis_simulators.settings import SimulatorSettings

INTEGRATION = "bench_district"
BIN = Path(sys.executable).parent
TARGET_RATIO = 0.10  # issue 9: an incremental run after 1% of students changed takes at most 10% of a full sync


def progress(message: str) -> None:
    print(f"[incremental {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cli_sync(config_file: Path, env: dict, mode: str) -> dict:
    """`sis-pipeline sync --mode MODE --json` in its own process: its wall time and its report."""
    command = [str(BIN / "sis-pipeline"), "sync", "--config", str(config_file), "--mode", mode, "--json", "--quiet"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    try:
        report = json.loads(done.stdout)["integrations"][INTEGRATION]
    except (json.JSONDecodeError, KeyError):
        raise BenchmarkFailure(f"{mode} sync printed no report (exit {done.returncode}): {done.stderr[-3000:]}") from None
    check(done.returncode == 0 and report["status"] == "success",
          f"{mode} sync {report['status']} (exit {done.returncode}): {report.get('error_class')}: {report.get('error')}")
    return {"wall_seconds": round(seconds, 3), "run_seconds": report["seconds"], "run_id": report["run_id"],
            "entities": report["entities"], "api": report.get("api", {})}


def in_process_sync(config_file: Path, url: str, staging: Path, mode: str) -> dict:
    """`--in-process`: `sync_integrations` (what the CLI runs) in this process with an ephemeral Dagster
    instance, so each step's wall time can be read back from the run's event log."""
    import dagster as dg

    from sis_pipeline.config import load_config
    from sis_pipeline.defs import build_resources
    from sis_pipeline.defs.sync_runner import sync_integrations

    config = load_config(config_file)
    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    report = sync_integrations(config, [INTEGRATION], mode=mode, resources=build_resources(config, url, str(staging)), instance=instance)
    seconds = time.perf_counter() - started
    report = report["integrations"][INTEGRATION]
    check(report["status"] == "success", f"{mode} sync {report['status']}: {report.get('error_class')}: {report.get('error')}")
    steps = {s.step_key: round(s.end_time - s.start_time, 2) for s in instance.get_run_step_stats(report["run_id"])}
    return {"wall_seconds": round(seconds, 3), "run_seconds": report["seconds"], "run_id": report["run_id"],
            "entities": report["entities"], "api": report.get("api", {}), "steps": steps}


def snapshot(conn) -> None:
    """Every roster row's (entity, source_id, updated_at, archived_at) as it stands, in a table of its own."""
    conn.execute(text("CREATE TABLE bench_snapshot (entity text, source_id text, updated_at timestamptz, archived_at timestamptz)"))
    for entity in TOTAL_KEYS:
        conn.execute(text(
            f"INSERT INTO bench_snapshot SELECT :entity, source_id, updated_at, archived_at FROM {entity} WHERE integration = :name"
        ), {"entity": entity, "name": INTEGRATION})
    conn.execute(text("CREATE UNIQUE INDEX ON bench_snapshot (entity, source_id)"))


def rewritten(conn, entity: str, since: datetime) -> dict:
    """Per table: rows whose updated_at differs from the snapshot, rows updated after `since`, rows new since it."""
    moved = conn.execute(text(
        f"SELECT t.source_id FROM {entity} t JOIN bench_snapshot s ON s.entity = :entity AND s.source_id = t.source_id "
        "WHERE t.integration = :name AND t.updated_at IS DISTINCT FROM s.updated_at"
    ), {"entity": entity, "name": INTEGRATION}).scalars().all()
    after = conn.execute(text(f"SELECT count(*) FROM {entity} WHERE integration = :name AND updated_at > :since"),
                         {"name": INTEGRATION, "since": since}).scalar_one()
    new = conn.execute(text(
        f"SELECT count(*) FROM {entity} t WHERE t.integration = :name AND NOT EXISTS "
        "(SELECT 1 FROM bench_snapshot s WHERE s.entity = :entity AND s.source_id = t.source_id)"
    ), {"entity": entity, "name": INTEGRATION}).scalar_one()
    return {"changed_vs_snapshot": set(moved), "updated_after_start": after, "new_rows": new}


def run(args, scratch: Path, databases: list[str]) -> dict:
    load_at_start = os.getloadavg()[0]
    settings = SimulatorSettings(client_secret=secrets.token_urlsafe(24), max_limit=max(10_000, args.page_size))
    progress(f"starting the simulator ({args.students} students) in its own process")
    with SimulatorProcess(students=args.students, settings=settings) as simulator:
        totals = simulator.totals()
        config_file = scratch / "integrations.yaml"
        write_integrations(config_file, INTEGRATION, simulator, args.page_size)
        databases.append(create_database())
        url = databases[0]
        # The CLI as a district runs it: its own process, the warehouse and staging from the environment,
        # no DAGSTER_HOME (an ephemeral Dagster instance, nothing added to a deployment's run history).
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        env |= {"SIS_WAREHOUSE_URL": url, "SIS_STAGING_DIR": str(scratch / "staging")}

        if args.in_process:
            def sync(mode: str) -> dict:
                return in_process_sync(config_file, url, scratch / "staging", mode)
        else:
            def sync(mode: str) -> dict:
                return cli_sync(config_file, env, mode)
        progress("full sync (sis-pipeline sync --mode full) into a fresh database")
        full = sync("full")
        inserted = {entity: full["entities"][entity]["inserted"] for entity in TOTAL_KEYS}
        wrong = {e: (inserted[e], totals[k]) for e, k in TOTAL_KEYS.items() if inserted[e] != totals[k]}
        check(not wrong, f"the full sync inserted other counts than the simulator's totals (inserted, total): {wrong}")

        engine = create_warehouse_engine(url)
        try:
            with engine.begin() as conn:
                snapshot(conn)
                student_ids = conn.execute(text("SELECT source_id FROM students WHERE integration = :name"),
                                           {"name": INTEGRATION}).scalars().all()
            renamed, deleted = choose_changes(student_ids, args.change_fraction, args.tobedeleted_share, args.seed)
            progress(f"changing {len(renamed) + len(deleted)} students at the simulator: {len(renamed)} renamed, {len(deleted)} tobedeleted")
            changed = apply_changes(simulator, renamed, deleted)

            with engine.connect() as conn:
                incremental_start = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            progress("incremental sync (sis-pipeline sync --mode incremental)")
            incremental = sync("incremental")

            progress("checking what the incremental sync wrote")
            counts = incremental["entities"]
            students = counts["students"]
            check(students["inserted"] == 0 and students["updated"] == changed and students["archived"] == len(deleted),
                  f"students: expected 0 inserted, {changed} updated, {len(deleted)} archived; the run reported {students}")
            others = {e: c for e, c in counts.items() if e != "students" and (c["inserted"] or c["updated"] or c["archived"])}
            check(not others, f"the incremental sync wrote other entities: {others}")

            with engine.connect() as conn:
                written = {entity: rewritten(conn, entity, incremental_start) for entity in TOTAL_KEYS}
                names = dict(conn.execute(text("SELECT source_id, first_name FROM students WHERE integration = :name "
                                               "AND source_id = ANY(:ids)"), {"name": INTEGRATION, "ids": renamed}).all())
                archived = set(conn.execute(text(
                    "SELECT t.source_id FROM students t JOIN bench_snapshot s ON s.entity = 'students' AND s.source_id = t.source_id "
                    "WHERE t.integration = :name AND t.archived_at IS NOT NULL AND s.archived_at IS NULL"
                ), {"name": INTEGRATION}).scalars().all())
                last_run = conn.execute(text("SELECT run_id, mode, status FROM sync_runs WHERE integration = :name "
                                             "ORDER BY started_at DESC LIMIT 1"), {"name": INTEGRATION}).mappings().one()
        finally:
            engine.dispose()

        expected = set(renamed) | set(deleted)
        check(written["students"]["changed_vs_snapshot"] == expected,
              f"students rewritten differ from those changed: {len(written['students']['changed_vs_snapshot'] - expected)} "
              f"extra, {len(expected - written['students']['changed_vs_snapshot'])} missing")
        check(written["students"]["updated_after_start"] == changed,
              f"{written['students']['updated_after_start']} students have updated_at after the run's start, expected {changed}")
        for entity, item in written.items():
            check(item["new_rows"] == 0, f"{entity}: {item['new_rows']} rows appeared in the incremental run")
            if entity != "students":
                check(not item["changed_vs_snapshot"] and item["updated_after_start"] == 0,
                      f"{entity}: {len(item['changed_vs_snapshot'])} rows rewritten by the incremental run")
        check(archived == set(deleted), f"archived students differ from those marked tobedeleted ({len(archived)} vs {len(deleted)})")
        wrong_names = {s: names.get(s) for i, s in enumerate(renamed) if names.get(s) != new_given_name(i)}
        check(not wrong_names, f"{len(wrong_names)} renamed students lack their new name, e.g. {list(wrong_names.items())[:3]}")
        check(dict(last_run) == {"run_id": incremental["run_id"], "mode": "incremental", "status": "success"},
              f"sync_runs' newest record is not the incremental run: {dict(last_run)}")

    ratio = incremental["wall_seconds"] / full["wall_seconds"]
    run_ratio = incremental["run_seconds"] / full["run_seconds"]
    return {
        "benchmark": "incremental",
        "path": "in-process" if args.in_process else "cli",
        "students": args.students,
        "page_size": args.page_size,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "postgresql": server_version(),
            "load_average_1m": {"start": round(load_at_start, 2), "end": round(os.getloadavg()[0], 2)},
        },
        "simulator_totals": totals,
        "changes": {"students": changed, "renamed": len(renamed), "tobedeleted": len(deleted),
                    "fraction_of_students": round(changed / totals["students"], 4)},
        "full": full,
        "incremental": incremental,
        "rows_rewritten": {entity: len(item["changed_vs_snapshot"]) for entity, item in written.items()},
        "ratio_wall": round(ratio, 4),
        "ratio_run": round(run_ratio, 4),
        "target_ratio": TARGET_RATIO,
        "target_met": ratio <= TARGET_RATIO,
    }


def format_results(results: dict) -> str:
    full, incremental, changes, machine = results["full"], results["incremental"], results["changes"], results["machine"]
    lines = [
        f"incremental ({results['path']}): {results['students']:,} students, page size {results['page_size']}, "
        f"{machine['cpus']} CPUs, PostgreSQL {machine['postgresql']}",
        f"load average (1 min) {machine['load_average_1m']['start']} at start, {machine['load_average_1m']['end']} at end",
        f"changed at the SIS: {changes['students']:,} students ({changes['fraction_of_students']:.1%}): "
        f"{changes['renamed']:,} renamed, {changes['tobedeleted']:,} tobedeleted",
        "",
        f"{'sync':<14}{'wall s':>9}{'run s':>9}{'requests':>10}{'inserted':>10}{'updated':>9}{'archived':>10}",
    ]
    for label, item in (("full", full), ("incremental", incremental)):
        total = {c: sum(e[c] for e in item["entities"].values()) for c in ("inserted", "updated", "archived")}
        lines.append(f"{label:<14}{item['wall_seconds']:>9.2f}{item['run_seconds']:>9.2f}{item['api'].get('requests', 0):>10}"
                     f"{total['inserted']:>10,}{total['updated']:>9,}{total['archived']:>10,}")
    if "steps" in full:
        lines += ["", f"{'step (seconds)':<22}{'full':>9}{'incremental':>13}"]
        for step in full["steps"]:
            lines.append(f"{step:<22}{full['steps'][step]:>9.2f}{incremental['steps'].get(step, 0):>13.2f}")
    what = "the sync_integrations call (--in-process)" if results["path"] == "in-process" else "the command"
    verdict = "met" if results["target_met"] else "NOT met"
    lines += [
        "",
        f"incremental / full, wall time of {what}: {results['ratio_wall']:.1%} "
        f"(target <= {results['target_ratio']:.0%}: {verdict})",
        f"incremental / full, the run's own seconds (its report): {results['ratio_run']:.1%}",
        "rows rewritten by the incremental sync (updated_at moved since the snapshot): "
        + ", ".join(f"{e} {n}" for e, n in results["rows_rewritten"].items()),
        "checked: both runs success; students updated = changed, archived = tobedeleted, nothing inserted; "
        "no other row's updated_at moved; new names and archives in the warehouse; sync_runs mode=incremental",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--change-fraction", type=float, default=0.01, help="share of the students changed (default 1%%)")
    parser.add_argument("--tobedeleted-share", type=float, default=0.1, help="share of the changes that are tobedeleted")
    parser.add_argument("--seed", type=int, default=9, help="which students change")
    parser.add_argument("--json-out", type=Path, help="write the results as JSON here (default: bench/results/incremental-<students>.json)")
    parser.add_argument("--in-process", action="store_true",
                        help="run both syncs with sync_integrations in this process (no CLI start-up) and report each step")
    parser.add_argument("--keep-db", action="store_true", help="keep the database and the staging folder")
    args = parser.parse_args(argv)

    results = run_in_scratch("incremental", run, args)
    if results is None:
        return 1
    text_results = write_results(results, args.json_out or RESULTS_DIR / f"incremental-{args.students}.json")
    print(format_results(results))
    print("\n" + text_results, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
