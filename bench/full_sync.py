"""Full-sync benchmark: the real pipeline against a simulated district, beside its fetch and COPY floors.

    .venv/bin/python bench/full_sync.py --students 100000

One run, one district: a full sync and an unchanged re-sync through `sync_integrations` (what
`sis-pipeline sync` runs), then (a) fetching every page alone and (b) COPYing the run's rows alone.
See bench/README.md for what each number means.
"""

import argparse
import json
import os
import platform
import resource
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from sqlalchemy import text

from _floors import copy_floor, fetch_floor, run_frames
from _report import format_results
from _scratch import (
    RESULTS_DIR,
    TOTAL_KEYS,
    check,
    create_database,
    run_in_scratch,
    server_version,
    write_integrations,
    write_results,
)
from sis_pipeline.config import load_config
from sis_pipeline.defs import build_resources
from sis_pipeline.defs.sync_runner import sync_integrations
from sis_simulators.server import SimulatorProcess
from sis_simulators.settings import SimulatorSettings

INTEGRATION = "bench_district"


def progress(message: str) -> None:
    print(f"[full_sync {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cpu_seconds() -> float:
    """CPU used by this process (all threads): the client's share of a 2-core machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # ru_maxrss is KiB on Linux


def timed_sync(config, resources: dict, instance: dg.DagsterInstance) -> dict:
    cpu, started = cpu_seconds(), time.perf_counter()
    report = sync_integrations(config, [INTEGRATION], resources=resources, instance=instance)
    seconds = time.perf_counter() - started
    item = report["integrations"][INTEGRATION]
    check(item["status"] == "success", f"sync failed ({item.get('error_class')}): {item.get('error')}")
    # Dagster records step start/end in its event log; reading it back costs nothing during the run.
    steps = {s.step_key: round(s.end_time - s.start_time, 2) for s in instance.get_run_step_stats(item["run_id"])}
    raw = instance.get_latest_materialization_event(dg.AssetKey("raw_rosters")).asset_materialization.metadata
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds() - cpu, 2),
        "run_id": item["run_id"],
        "entities": item["entities"],
        "steps": steps | {"dagster_overhead": round(seconds - sum(steps.values()), 2)},
        "api": {key.removeprefix("api_"): raw[key].value for key in raw if key.startswith("api_")},
        "peak_rss_mib": peak_rss_mib(),
    }


def warehouse_counts(engine) -> dict[str, int]:
    query = "SELECT count(*) FROM {} WHERE integration = :name"
    with engine.connect() as conn:
        return {e: conn.execute(text(query.format(e)), {"name": INTEGRATION}).scalar_one() for e in TOTAL_KEYS}


def run(args, scratch: Path, databases: list[str]) -> dict:
    staging_dir = scratch / "staging"
    load_at_start = os.getloadavg()[0]  # other work on a 2-core machine moves every number
    # A random secret per run: it reaches the simulator through its environment and never our output.
    settings = SimulatorSettings(client_secret=secrets.token_urlsafe(24), max_limit=max(10_000, args.page_size))
    progress(f"starting the simulator ({args.students} students) in its own process")
    with SimulatorProcess(students=args.students, settings=settings) as simulator:
        totals = simulator.totals()
        config_file = scratch / "integrations.yaml"
        write_integrations(config_file, INTEGRATION, simulator, args.page_size)
        config = load_config(config_file)
        databases.append(create_database())
        resources = build_resources(config, databases[0], str(staging_dir))
        # What sync_instance() gives the CLI without DAGSTER_HOME; ours, so we can read step timings back.
        instance = dg.DagsterInstance.ephemeral()

        rss_at_start = peak_rss_mib()  # imports and Dagster loaded, before any roster is
        progress("full sync into a fresh database")
        full = timed_sync(config, resources, instance)
        engine = resources["warehouse"].engine()
        counts = warehouse_counts(engine)
        wrong = {e: (counts[e], totals[k]) for e, k in TOTAL_KEYS.items() if counts[e] != totals[k]}
        check(not wrong, f"warehouse rows differ from the simulator's totals (rows, total): {wrong}")
        rows = sum(counts.values())

        progress("unchanged re-sync")
        resync = timed_sync(config, resources, instance)
        written = {e: c for e, c in resync["entities"].items() if c["inserted"] or c["updated"] or c["archived"]}
        check(not written, f"an unchanged re-sync wrote rows: {written}")
        engine.dispose()

        progress("fetch floor: every page fetched and parsed, nothing stored")
        cpu = cpu_seconds()
        fetch = fetch_floor(config.integration(INTEGRATION))
        fetch["cpu_seconds"] = round(cpu_seconds() - cpu, 2)
        fetched = {c: item["records"] for c, item in fetch["per_collection"].items()}
        short = {c: (n, totals[c]) for c, n in fetched.items() if n != totals[c]}
        check(not short, f"fetch floor counts differ from the simulator's totals (fetched, total): {short}")
    # The simulator is our only child, reaped by now: its whole life's peak memory and CPU.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    simulator = {
        "peak_rss_mib": peak_rss_mib(resource.RUSAGE_CHILDREN),
        "cpu_seconds": round(children.ru_utime + children.ru_stime, 1),
    }

    progress("COPY floor: the run's valid rows into plain tables")
    databases.append(create_database())
    copy = copy_floor(databases[1], run_frames(staging_dir / INTEGRATION / full["run_id"]))
    check(copy["records"] == rows, f"COPY floor loaded {copy['records']} rows, the sync {rows}")

    return {
        "benchmark": "full_sync",
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
        "warehouse_rows": counts,
        "phases": {"full_sync": full, "resync": resync, "fetch_floor": fetch, "copy_floor": copy},
        "records": {"full_sync": rows, "resync": rows},
        "peak_rss_mib": {"before_sync": rss_at_start, "after_full_sync": full["peak_rss_mib"], "benchmark": peak_rss_mib()},
        "simulator": simulator,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--keep-db", action="store_true", help="keep the databases and the staging folder")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON results")
    args = parser.parse_args(argv)

    results = run_in_scratch("full_sync", run, args)
    if results is None:
        return 1
    out = RESULTS_DIR / f"full_sync-{args.students}.json"
    write_results(results, out)
    if args.json_only:
        print(json.dumps(results, indent=2))
    else:
        print(format_results(results, INTEGRATION))
        print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
