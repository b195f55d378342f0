"""The run history: every sync is recorded as running when it starts and closed when it ends.

A run whose process died stays `running`, which is how a crashed run shows up. `load_integration`
closes a successful run inside its own transaction, so the roster and the run record commit
together; a failed run is closed by the caller with `finish_sync_run(engine, ..., "failed", ...)`
after the load's transaction has rolled back.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from sis_pipeline.warehouse.schema import SYNC_RUN_STATUSES, sync_runs

MAX_ERROR_CHARS = 4000


def start_sync_run(engine: Engine, run_id: str, integration: str, mode: str) -> None:
    """Record that a sync of one integration has started."""
    with engine.begin() as conn:
        conn.execute(
            insert(sync_runs).values(
                run_id=run_id, integration=integration, mode=mode, started_at=datetime.now(UTC), status="running"
            )
        )


def finish_sync_run(
    conn_or_engine: Connection | Engine,
    run_id: str,
    integration: str,
    status: str,
    counts: Mapping[str, Any],
    error_class: str | None = None,
    error: str | None = None,
) -> None:
    """Close a started run; on an Engine this is its own transaction, on a Connection it joins the caller's."""
    if status not in SYNC_RUN_STATUSES or status == "running":
        raise ValueError(f"sync run {run_id} for {integration}: cannot finish with status {status!r}")
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.begin() as conn:
            finish_sync_run(conn, run_id, integration, status, counts, error_class, error)
        return
    result = conn_or_engine.execute(
        update(sync_runs)
        .where(sync_runs.c.run_id == run_id, sync_runs.c.integration == integration)
        .values(
            status=status,
            ended_at=datetime.now(UTC),
            counts=dict(counts),
            error_class=error_class,
            error=error[:MAX_ERROR_CHARS] if error else error,
        )
    )
    if result.rowcount != 1:
        raise LookupError(f"sync run {run_id} for {integration} was never started")


def read_sync_run(engine: Engine, run_id: str, integration: str) -> dict | None:
    """One integration's run record, or None if the run never got as far as starting it."""
    with engine.connect() as conn:
        row = conn.execute(
            select(sync_runs).where(sync_runs.c.run_id == run_id, sync_runs.c.integration == integration)
        ).one_or_none()
    return row._asdict() if row else None
