"""Held runs, owned here alone: what a held load would have done, and what a person decided about it.

A run is held when its load would archive or change more of an entity than the integration's safety
limits allow (see safety.py): the load rolled back, the run is closed as `held` (through runs.py, the
owner of `sync_runs`) and its report is kept in `sync_holds`. A hold is pending until a person
approves it (the held staged data is loaded again and the run closes as success, in the load's own
transaction) or discards it. A normal load never touches this table.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from sis_pipeline.warehouse.runs import finish_sync_run
from sis_pipeline.warehouse.schema import sync_holds, sync_runs


class HoldNotFound(LookupError):
    """No held run with that id."""


def record_hold(
    engine: Engine, run_id: str, integration: str, report: Mapping[str, Any], handle: Mapping[str, Any] | None
) -> None:
    """Close the run as held and keep its report; `handle` is the staged data an approval loads (None: cannot be approved)."""
    with engine.begin() as conn:
        conn.execute(
            insert(sync_holds).values(
                run_id=run_id,
                integration=integration,
                held_at=datetime.now(UTC),
                report=dict(report),
                handle=dict(handle) if handle is not None else None,
            )
        )
        finish_sync_run(conn, run_id, integration, "held", {})


def mark_approved(engine: Engine, run_id: str, integration: str) -> None:
    """Date the approval once the approving load has committed. The run's `success` already says it was applied,
    and a hold whose run is no longer `held` is not pending; this only dates the decision."""
    with engine.begin() as conn:
        conn.execute(
            update(sync_holds)
            .where(sync_holds.c.run_id == run_id, sync_holds.c.integration == integration, sync_holds.c.decision.is_(None))
            .values(decision="approved", decided_at=datetime.now(UTC))
        )


def discard_hold(engine: Engine, run_id: str, integration: str) -> bool:
    """Mark a pending hold discarded; False if it was no longer pending. The run stays `held`: nothing was applied."""
    with engine.begin() as conn:
        done = conn.execute(
            update(sync_holds)
            .where(sync_holds.c.run_id == run_id, sync_holds.c.integration == integration, sync_holds.c.decision.is_(None))
            .values(decision="discarded", decided_at=datetime.now(UTC))
        )
    return done.rowcount == 1


def find_hold(engine: Engine, run_id: str, integration: str | None = None) -> dict:
    """One hold with its run's status and start; HoldNotFound when there is none (or several across integrations)."""
    query = _holds_with_runs().where(sync_holds.c.run_id == run_id)
    if integration is not None:
        query = query.where(sync_holds.c.integration == integration)
    with engine.connect() as conn:
        rows = [row._asdict() for row in conn.execute(query)]
    if not rows:
        raise HoldNotFound(f"no held run {run_id}" + (f" for {integration}" if integration else ""))
    if len(rows) > 1:
        raise HoldNotFound(f"run {run_id} was held for several integrations; name one with --integration")
    return rows[0]


def pending_holds(engine: Engine, integration: str | None = None) -> list[dict]:
    """Holds still waiting for a person, oldest first."""
    query = _holds_with_runs().where(sync_holds.c.decision.is_(None), sync_runs.c.status == "held")
    if integration is not None:
        query = query.where(sync_holds.c.integration == integration)
    with engine.connect() as conn:
        return [row._asdict() for row in conn.execute(query.order_by(sync_holds.c.held_at))]


def _holds_with_runs():
    return select(sync_holds, sync_runs.c.status, sync_runs.c.started_at).join(
        sync_runs, (sync_runs.c.run_id == sync_holds.c.run_id) & (sync_runs.c.integration == sync_holds.c.integration)
    )
