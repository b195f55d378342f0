"""One run per integration, end to end: a lock taken by a run's first step and held until the run ends.

Whichever process starts a run (`sis-pipeline sync`, a Dagster run worker, `holds approve`), a second
one for the same integration is refused at once instead of queueing: it would only repeat the work,
and a scheduler tries again at its next tick.

PostgreSQL: a session-level advisory lock on a connection of its own, taken without waiting. It lives
exactly as long as that connection, so the server drops it when the process dies (SIGKILL, OOM) and a
crashed run never blocks the next one. The two-key form keeps it apart from the single-key advisory
locks the load (per integration) and the migrations take.

SQLite: an exclusive `flock` on a file beside the database, which the kernel drops when the process
dies. The lock files stay (deleting a lock file another process may be opening races).
"""

import fcntl
import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from sis_pipeline.warehouse.errors import RunInProgressError
from sis_pipeline.warehouse.runs import running_runs

# The first key of every run lock: "a sync run of one integration"; the second is hashtext(integration).
RUN_LOCK_SPACE = 0x51_53


class RunLock:
    """A held run lock; `release()` at the end of the run (dying releases it too)."""

    def __init__(self, integration: str, connection: Connection | None = None, descriptor: int | None = None):
        self.integration = integration
        self._connection = connection
        self._descriptor = descriptor

    def release(self) -> None:
        if self._connection is not None:
            # Ending the session is what drops a session lock, whatever state the connection is in.
            self._connection.invalidate()
            self._connection.close()
            self._connection = None
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def acquire_run_lock(engine: Engine, integration: str, run_id: str) -> RunLock:
    """The integration's run lock, or RunInProgressError naming the run that holds it."""
    if engine.dialect.name == "postgresql":
        lock = _postgres_lock(engine, integration)
    else:
        lock = _file_lock(engine, integration)
    if lock is None:
        raise RunInProgressError(_refusal(engine, integration, run_id))
    return lock


def run_in_progress(engine: Engine, integration: str) -> bool:
    """Whether some process holds the integration's run lock now: probed by taking it and letting go at once.

    A crashed run's lock died with its process, so unlike a `running` row in sync_runs this never
    reports a run that is no longer there.
    """
    lock = _postgres_lock(engine, integration) if engine.dialect.name == "postgresql" else _file_lock(engine, integration)
    if lock is None:
        return True
    lock.release()
    return False


def _postgres_lock(engine: Engine, integration: str) -> RunLock | None:
    # Autocommit: the lock outlives transactions, and an idle-in-transaction session held for a whole
    # run would keep vacuum from cleaning up after it.
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:space, hashtext(:integration))"),
            {"space": RUN_LOCK_SPACE, "integration": integration},
        ).scalar_one()
    except BaseException:
        connection.close()
        raise
    if not taken:
        connection.close()
        return None
    return RunLock(integration, connection=connection)


def _file_lock(engine: Engine, integration: str) -> RunLock | None:
    database = engine.url.database
    if not database or database == ":memory:":
        return RunLock(integration)  # a private in-memory database: no other process can reach it
    path = Path(database).with_name(f"{Path(database).name}.{integration}.run-lock")
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # beside the warehouse file, private like it
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return RunLock(integration, descriptor=descriptor)


def _refusal(engine: Engine, integration: str, run_id: str) -> str:
    others = [run for run in running_runs(engine, integration) if run["run_id"] != run_id]
    holder = f" (run {others[0]['run_id']}, started {_when(others[0]['started_at'])})" if others else ""
    return (
        f"{integration}: another sync or hold approval of this integration is in progress{holder}; "
        f"run {run_id} was refused and changed nothing; try again when it has ended"
    )


def _when(moment: datetime) -> str:
    """SQLite hands back naive UTC, PostgreSQL an aware time in the session's zone."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment
    return f"{utc:%Y-%m-%d %H:%M:%S} UTC"
