"""The benchmark suite (issue 12): per district size, the pipeline's syncs beside three baselines, in one run.

    .venv/bin/python bench/suite.py --sizes 10000 100000

Per size, one simulator process and fresh PostgreSQL databases: a full sync, an unchanged re-sync (recorded
on the full sync's load), the same re-sync with --reprocess (normalised and compared row by row) and a
1% incremental sync (each `sync_integrations` in a process of its own), (a) a plain-httpx fetch floor,
(b) a COPY floor into the real warehouse tables, (c) dlt's rest_api source into the same PostgreSQL.
Writes bench/results/suite-<size>.{json,md}; exits 1 only when a correctness check failed.
See bench/README.md for what each number means.
"""

import argparse
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from _changes import apply_changes, choose_changes
from _checks import (
    check_counts,
    check_incremental_wrote_only,
    check_resync_wrote_nothing,
    check_success,
    check_warehouse_matches_totals,
)
from _child import run_child
from _dlt import dlt_python
from _floors import run_frames
from _machine import load_1m, machine
from _report import across_sizes, format_size, ratios_and_targets, stage_rates
from _scratch import (
    CLIENT_ID_ENV,
    CLIENT_SECRET_ENV,
    RESULTS_DIR,
    TOTAL_KEYS,
    check,
    create_database,
    libpq_url,
    run_in_scratch,
    write_integrations,
    write_results,
)
from sis_pipeline.config import load_config
from sis_pipeline.providers.oneroster import OneRosterProvider
from sis_pipeline.providers.oneroster.client import ENDPOINTS
from sis_pipeline.warehouse.engine import create_warehouse_engine
from sis_simulators.server import SimulatorProcess
from sis_simulators.settings import SimulatorSettings

INTEGRATION = "bench_district"
BENCH = Path(__file__).resolve().parent
CHANGE_FRACTION, TOBEDELETED_SHARE, SEED = 0.01, 0.1, 12


def progress(message: str) -> None:
    print(f"[suite {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def phase(label: str, measure: Callable[[], dict]) -> dict:
    """One measured phase, with the machine's load around it: other work on two cores moves every number."""
    progress(label)
    load_at_start = load_1m()
    result = measure()
    return result | {"load_1m": {"start": load_at_start, "end": load_1m()}}


def sync(config_file: Path, url: str, staging: Path, mode: str) -> dict:
    result = run_child(f"{mode} sync", [sys.executable, str(BENCH / "_sync_once.py"), str(config_file), url, str(staging), mode])
    check_success(f"{mode} sync", result)
    return result | {"records": sum(result["fetched"].values())}


def warehouse_rows(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table} WHERE integration = :name"), {"name": INTEGRATION}).scalar_one()
                for table in TOTAL_KEYS}


def moved_since(engine, since) -> dict[str, set]:
    """Per table, the rows whose updated_at is after `since` (the database's clock)."""
    with engine.connect() as conn:
        return {table: set(conn.execute(text(f"SELECT source_id FROM {table} WHERE integration = :name AND updated_at > :since"),
                                        {"name": INTEGRATION, "since": since}).scalars())
                for table in TOTAL_KEYS}


def delivered_endpoints(config) -> tuple[dict[str, tuple[str, str]], int]:
    """What the sync reads from this service ((path, list key) per delivered collection), and how many at a time."""
    provider = OneRosterProvider(config.integration(INTEGRATION))
    try:
        modes = provider.collection_modes()
        endpoints = {c: ENDPOINTS[c] for c in provider.collections if modes[c] != "absent"}
        return endpoints, max(1, provider.parallel)
    finally:
        provider.close()


def run_size(args, size: int, scratch: Path, databases: list[str]) -> dict:
    staging = scratch / "staging"
    # A random secret per run: it reaches the simulator through its environment and never our output.
    settings = SimulatorSettings(client_secret=secrets.token_urlsafe(24), max_limit=max(10_000, args.page_size))
    progress(f"{size:,} students: starting the simulator in its own process")
    with SimulatorProcess(students=size, settings=settings) as simulator:
        totals = simulator.totals()
        config_file = scratch / "integrations.yaml"
        write_integrations(config_file, INTEGRATION, simulator, args.page_size)
        config = load_config(config_file)
        endpoints, parallel = delivered_endpoints(config)
        databases.append(create_database())
        engine = create_warehouse_engine(databases[-1])
        try:
            phases = {"full_sync": phase("full sync into a fresh database", lambda: sync(config_file, databases[0], staging, "full"))}
            rows = warehouse_rows(engine)
            check_warehouse_matches_totals(rows, totals)

            # Now, while the full sync's staged frames are the newest: retention may prune them after later runs.
            databases.append(create_database())
            copy_spec = {"database_url": databases[-1], "frames": run_frames(staging / INTEGRATION / phases["full_sync"]["run_id"])}
            phases["copy_floor"] = phase("(b) COPY floor: the full sync's valid rows into the warehouse tables of a fresh database",
                                         lambda: run_child("COPY floor", [sys.executable, str(BENCH / "_floors.py"), "copy"], copy_spec))
            check_counts("COPY floor", phases["copy_floor"]["copied"], rows)

            # The same delivery again: recorded on the full sync's load without normalising or loading it
            # (warehouse/unchanged.py); then once more with --reprocess, which normalises and compares every row.
            with engine.connect() as conn:
                before_resyncs = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            phases["resync"] = phase("unchanged re-sync", lambda: sync(config_file, databases[0], staging, "full"))
            check(phases["resync"]["unchanged_since"] == phases["full_sync"]["run_id"],
                  f"the unchanged re-sync was not recorded as unchanged since the full sync: {phases['resync']['unchanged_since']}")
            check_resync_wrote_nothing(phases["resync"]["entities"])
            phases["resync_reprocessed"] = phase("unchanged re-sync, --reprocess", lambda: sync(config_file, databases[0], staging, "reprocess"))
            check(phases["resync_reprocessed"]["unchanged_since"] is None, "the reprocessed re-sync did not reprocess")
            check_resync_wrote_nothing(phases["resync_reprocessed"]["entities"])
            moved = {table: len(ids) for table, ids in moved_since(engine, before_resyncs).items() if ids}
            check(not moved, f"the unchanged re-syncs rewrote rows: {moved}")

            fetch_spec = {"service_root": config.integration(INTEGRATION).base_url, "token_url": simulator.token_url,
                          "client_id_env": CLIENT_ID_ENV, "client_secret_env": CLIENT_SECRET_ENV,
                          "endpoints": endpoints, "page_size": args.page_size, "parallel": parallel}
            phases["fetch_floor"] = phase("(a) fetch floor: every page with plain httpx, parsed and dropped",
                                          lambda: run_child("fetch floor", [sys.executable, str(BENCH / "_floors.py"), "fetch"], fetch_spec))
            check_counts("fetch floor", {c: item["records"] for c, item in phases["fetch_floor"]["per_collection"].items()},
                         {c: totals[c] for c in endpoints})

            if not args.no_dlt:
                databases.append(create_database())
                dlt_spec = fetch_spec | {"database_url": libpq_url(databases[-1]), "work_dir": str(scratch / "dlt")}
                python = dlt_python(progress)
                # -I (isolated): bench/ is not on its path, where our requests.py would shadow the library dlt needs
                phases["dlt"] = phase("(c) dlt rest_api source into a fresh database (merge, csv loader)",
                                      lambda: run_child("dlt baseline", [str(python), "-I", str(BENCH / "dlt_baseline.py")], dlt_spec))
                check_counts("dlt baseline", phases["dlt"]["per_collection"], {c: totals[c] for c in endpoints})

            with engine.connect() as conn:
                student_ids = conn.execute(text("SELECT source_id FROM students WHERE integration = :name"),
                                           {"name": INTEGRATION}).scalars().all()
            renamed, deleted = choose_changes(student_ids, CHANGE_FRACTION, TOBEDELETED_SHARE, SEED)
            progress(f"changing {len(renamed) + len(deleted)} students at the simulator: {len(renamed)} renamed, {len(deleted)} tobedeleted")
            apply_changes(simulator, renamed, deleted)
            with engine.connect() as conn:
                since = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            phases["incremental"] = phase("1% incremental sync", lambda: sync(config_file, databases[0], staging, "incremental"))
            check_incremental_wrote_only(phases["incremental"]["entities"], moved_since(engine, since), renamed, deleted)
        finally:
            engine.dispose()

    results = {
        "benchmark": "suite",
        "students": size,
        "page_size": args.page_size,
        "machine": machine(),
        "simulator_totals": totals,
        "warehouse_rows": rows,
        "changes": {"students": len(renamed) + len(deleted), "renamed": len(renamed), "tobedeleted": len(deleted)},
        "phases": phases,
    }
    return results | {"stage_rates": stage_rates(phases)} | ratios_and_targets(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="students per district (default 10000 100000)")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--no-dlt", action="store_true", help="skip baseline (c), dlt")
    parser.add_argument("--keep-db", action="store_true", help="keep the databases and the staging folder")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where suite-<size>.{json,md} go (default bench/results)")
    args = parser.parse_args(argv)

    measured = []
    for size in sorted(args.sizes):
        results = run_in_scratch(f"suite-{size}", lambda args, scratch, databases: run_size(args, size, scratch, databases), args)
        if results is None:
            return 1
        measured.append(results)
        table = format_size(results, INTEGRATION)
        write_results(results, args.results_dir / f"suite-{size}.json")
        (args.results_dir / f"suite-{size}.md").write_text(table + "\n", encoding="utf-8")
        print(table + "\n", flush=True)
    if len(measured) > 1:
        # kept with the last size's results, the run's end
        line = across_sizes(measured)
        last = measured[-1] | {"peak_rss_across_sizes": line}
        write_results(last, args.results_dir / f"suite-{last['students']}.json")
        with (args.results_dir / f"suite-{last['students']}.md").open("a", encoding="utf-8") as table:
            table.write("\n" + line + "\n")
        print(line)
    print(f"written to {args.results_dir}/suite-<size>.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
