"""Where a load's time goes: a staged run loaded into a fresh PostgreSQL database, statement by statement.

    .venv/bin/python bench/load_statements.py STAGING/INTEGRATION/handles/resolved_rosters.json [--repeat 2]

Loads the resolved datasets a run staged (what approving a held run loads again), `--repeat` times into
one fresh database (the first a fresh load, the later ones unchanged reloads), and prints each load's
seconds and its slowest statements (SQLAlchemy's cursor events; COPY runs outside them, so the
difference between the total and the SQL is mostly staging). The database is dropped afterwards.
`--indexes-kept` loads with every index in place, as before secondary indexes were built after a large
first load (postgres_stage.py); run both ways back to back to compare.
"""

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import event

from _scratch import create_database, drop_database
from sis_pipeline.datasets import RosterDatasets
from sis_pipeline.defs.warehouse_tables import load_staged
from sis_pipeline.warehouse import postgres_stage
from sis_pipeline.warehouse.engine import create_warehouse_engine
from sis_pipeline.warehouse.runs import start_sync_run
from sis_pipeline.warehouse.schema import ensure_schema


def timed_statements(engine) -> Counter:
    seconds: Counter = Counter()

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):
        seconds[" ".join(statement.split())[:100]] += time.perf_counter() - conn.info["started"]

    return seconds


def as_full_sync(document: dict, run_id: str) -> dict:
    """The handle pointed at another run's datasets of the same layout, every entity delivered in bulk."""
    import pyarrow.parquet as pq

    document = json.loads(json.dumps(document).replace(document["run_id"], run_id))
    document["mode"] = "full"
    for entity in document["entities"].values():
        entity["mode"] = "bulk"
        for dataset in ("valid", "rejected"):
            entity[dataset]["rows"] = pq.ParquetFile(entity[dataset]["path"]).metadata.num_rows
        entity["fetched"] = entity["valid"]["rows"]
    if document.get("conflicts"):
        document["conflicts"]["rows"] = pq.ParquetFile(document["conflicts"]["path"]).metadata.num_rows
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("handle", type=Path, help="a resolved_rosters.json handle under a staging folder")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument(
        "--as-full-sync", metavar="RUN_ID",
        help="load that run's datasets instead of the handle's run, as a full sync (after bench/suite.py --keep-db "
        "the handle is the incremental run's; the full sync's run id is the oldest run folder)",
    )
    parser.add_argument(
        "--indexes-kept", action="store_true",
        help="first load with every index in place (no deferred secondary indexes): the baseline of that change",
    )
    args = parser.parse_args(argv)
    document = json.loads(args.handle.read_text())
    if args.as_full_sync:
        document = as_full_sync(document, args.as_full_sync)
    document.pop("type", None)
    staged = RosterDatasets.model_validate(document)
    if args.indexes_kept:
        postgres_stage.DEFERRED_INDEXES_FROM_ROWS = float("inf")
    url = create_database()
    engine = create_warehouse_engine(url)
    try:
        ensure_schema(engine)
        seconds = timed_statements(engine)
        for attempt in range(args.repeat):
            run_id = f"bench-load-{attempt}-{time.time_ns()}"
            start_sync_run(engine, run_id, staged.integration, "full")
            seconds.clear()
            started = time.perf_counter()
            load_staged(engine, staged.model_copy(update={"run_id": run_id}), run_id=run_id, safety=None)
            total = time.perf_counter() - started
            print(f"load {attempt + 1} ({'fresh' if attempt == 0 else 'unchanged'}): {total:.2f} s, SQL {sum(seconds.values()):.2f} s")
            for statement, spent in seconds.most_common(args.top):
                print(f"  {spent:7.2f} s  {statement}")
    finally:
        engine.dispose()
        drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
