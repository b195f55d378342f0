"""The run history, owned here alone: every other module opens, closes and reads `sync_runs` through this one.

A run is recorded as `running` by the first step that touches it, whichever step that is (a step can
be re-run alone in a new run), and closed at the end. A run whose process died stays `running`, which
is how a crashed run shows up. The load closes a successful run inside its own transaction, so the
roster and the run record commit together; a failed run is closed after the load rolled back.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from sis_pipeline.redact import redact
from sis_pipeline.warehouse.schema import SYNC_RUN_STATUSES, sync_runs

MAX_ERROR_CHARS = 4000


def start_sync_run(engine: Engine, run_id: str, integration: str, mode: str) -> None:
    """Record that a sync of one integration is running; a no-op when an earlier step already did."""
    with engine.begin() as conn:
        exists = conn.execute(
            select(sync_runs.c.run_id).where(sync_runs.c.run_id == run_id, sync_runs.c.integration == integration)
        ).first()
        if exists is None:
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
            error=redact(error)[:MAX_ERROR_CHARS] if error else error,  # masked like a log line: it is read as widely
        )
    )
    if result.rowcount != 1:
        raise LookupError(f"sync run {run_id} for {integration} was never started")


def fail_if_running(engine: Engine, run_id: str, integration: str, error_class: str, error: str) -> bool:
    """Close a run that no step closed (it stopped between steps, or before one could record it) as failed.

    True if it was still running; a run already closed keeps its outcome.
    """
    with engine.begin() as conn:
        result = conn.execute(
            update(sync_runs)
            .where(sync_runs.c.run_id == run_id, sync_runs.c.integration == integration, sync_runs.c.status == "running")
            .values(status="failed", ended_at=datetime.now(UTC), counts={}, error_class=error_class, error=error[:MAX_ERROR_CHARS])
        )
    return result.rowcount == 1


def read_sync_run(engine: Engine, run_id: str, integration: str) -> dict | None:
    """One integration's run record, or None if the run never got as far as starting it."""
    with engine.connect() as conn:
        row = conn.execute(
            select(sync_runs).where(sync_runs.c.run_id == run_id, sync_runs.c.integration == integration)
        ).one_or_none()
    return row._asdict() if row else None


def latest_finished_runs(engine: Engine) -> list[dict]:
    """Per integration, its newest run that is no longer running."""
    latest = (
        select(sync_runs.c.integration, func.max(sync_runs.c.started_at).label("started_at"))
        .where(sync_runs.c.status != "running")
        .group_by(sync_runs.c.integration)
        .subquery()
    )
    query = select(sync_runs).join(
        latest, (sync_runs.c.integration == latest.c.integration) & (sync_runs.c.started_at == latest.c.started_at)
    )
    with engine.connect() as conn:
        return [row._asdict() for row in conn.execute(query)]


def running_runs(engine: Engine, integration: str) -> list[dict]:
    """The integration's runs still marked running, newest first (a crashed run stays among them)."""
    query = (
        select(sync_runs)
        .where(sync_runs.c.integration == integration, sync_runs.c.status == "running")
        .order_by(sync_runs.c.started_at.desc())
    )
    with engine.connect() as conn:
        return [row._asdict() for row in conn.execute(query)]


def newer_successful_run(engine: Engine, integration: str, run_id: str) -> dict | None:
    """The newest successful run of the integration that started after `run_id` did, if any."""
    started = (
        select(sync_runs.c.started_at)
        .where(sync_runs.c.run_id == run_id, sync_runs.c.integration == integration)
        .scalar_subquery()
    )
    query = (
        select(sync_runs)
        .where(sync_runs.c.integration == integration, sync_runs.c.status == "success", sync_runs.c.started_at > started)
        .order_by(sync_runs.c.started_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return row._asdict() if row else None


def run_history(engine: Engine, integration: str, limit: int = 30) -> list[dict]:
    """The integration's last `limit` runs, whatever their outcome, oldest first (the report's charts)."""
    query = (
        select(sync_runs)
        .where(sync_runs.c.integration == integration)
        .order_by(sync_runs.c.started_at.desc(), sync_runs.c.run_id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = [_aware(row._asdict()) for row in conn.execute(query)]
    return rows[::-1]


def find_run(engine: Engine, integration: str, run_id: str) -> dict | None:
    """One run record like `read_sync_run`, its timestamps in UTC on every backend."""
    record = read_sync_run(engine, run_id, integration)
    return _aware(record) if record else None


def run_integrations(engine: Engine, run_id: str | None = None) -> list[str]:
    """The integrations with a recorded run (run `run_id`, if given), by name."""
    query = select(sync_runs.c.integration).distinct().order_by(sync_runs.c.integration)
    if run_id is not None:
        query = query.where(sync_runs.c.run_id == run_id)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def _aware(record: dict) -> dict:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    for key in ("started_at", "ended_at"):
        if record[key] is not None and record[key].tzinfo is None:
            record[key] = record[key].replace(tzinfo=UTC)
    return record
def last_successful_run(engine: Engine, integration: str) -> dict | None:
    """The integration's newest successful run (what freshness is judged by), if any."""
    query = (
        select(sync_runs)
        .where(sync_runs.c.integration == integration, sync_runs.c.status == "success")
        .order_by(sync_runs.c.ended_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return row._asdict() if row else None


def previous_full_run(engine: Engine, integration: str, run_id: str) -> dict | None:
    """The newest successful full run of the integration other than `run_id`, started before it when it has a record.

    Only a full run's counts are an entity's whole size: an incremental run's count only what changed.
    """
    query = select(sync_runs).where(
        sync_runs.c.integration == integration,
        sync_runs.c.status == "success",
        sync_runs.c.mode == "full",
        sync_runs.c.run_id != run_id,
    )
    started = read_sync_run(engine, run_id, integration)
    if started is not None:
        query = query.where(sync_runs.c.started_at < started["started_at"])
    with engine.connect() as conn:
        row = conn.execute(query.order_by(sync_runs.c.started_at.desc()).limit(1)).first()
    return row._asdict() if row else None
