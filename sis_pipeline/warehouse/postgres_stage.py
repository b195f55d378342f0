"""PostgreSQL specifics of a load: COPY into the transaction's tables, and counting from RETURNING."""

import io
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, Table, text
from sqlalchemy.exc import OperationalError

from sis_pipeline.warehouse import load_sql
from sis_pipeline.warehouse.errors import WarehouseTimeoutError
from sis_pipeline.warehouse.load_sql import bind
from sis_pipeline.warehouse.schema import sync_runs

# Quoting every non-null value is what lets COPY tell an empty string ("") from NULL (nothing).
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")


def lock_integration(conn: Connection, integration: str) -> None:
    """Two loads of one integration (a schedule and a manual run) queue instead of interleaving."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:integration, 0))"), {"integration": integration})


def copy_frame(conn: Connection, table: Table, frame: pd.DataFrame | pa.Table) -> None:
    """Stream one chunk (a pandas frame, or an Arrow table as staged) through COPY on the connection's own transaction."""
    arrow = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    buffer = io.BytesIO()
    pa_csv.write_csv(arrow, buffer, _CSV_OPTIONS)
    statement = f"COPY {table.name} ({', '.join(arrow.column_names)}) FROM STDIN WITH (FORMAT csv)"
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(buffer.getbuffer())


def analyze(conn: Connection, stage: Table) -> None:
    """Temporary tables are never auto-analysed; without statistics the planner guesses the joins."""
    conn.execute(text(f"ANALYZE {stage.name}"))


def upsert(conn: Connection, table: Table, stage: Table, params: dict) -> tuple[int, int]:
    """Update the changed rows, then insert the new ones: (inserted, updated). Two plain statements cost
    far less than INSERT ... ON CONFLICT DO UPDATE, which inserts every row speculatively."""
    updated = conn.execute(bind(load_sql.update_changed(table, stage)), params).rowcount
    with _secondary_indexes_built_after(conn, table, stage, params["integration"]):
        inserted = conn.execute(bind(load_sql.insert_new(table, stage)), params).rowcount
    return inserted, updated


# A first load of at least this many rows into an empty table builds its secondary indexes afterwards.
DEFERRED_INDEXES_FROM_ROWS = 50_000
# How long a first load waits to drop an empty table's indexes before it keeps them (someone is reading it).
_INDEX_LOCK_WAIT = "2s"


@contextmanager
def _secondary_indexes_built_after(conn: Connection, table: Table, stage: Table, integration: str) -> Iterator[None]:
    """Into an empty table, a large insert runs without the non-unique indexes, which are then built again.

    Inserting row by row into a B-tree whose keys arrive in random order costs far more than building the
    index from sorted rows once, the more so when the indexes outgrow shared_buffers (6.2 million
    enrollments at a million students). Only a table with no row of any integration (a first sync), and
    only while no other integration's run is open: the drop holds the table's exclusive lock until the
    load commits, and another integration's load reaching the table meanwhile would wait for it (a
    state's partitions first-synced in parallel all keep their indexes). Inside the load's transaction,
    so a failed load leaves the indexes as they were. When the lock is not granted within
    `_INDEX_LOCK_WAIT` (someone is reading the table) the load keeps the indexes and goes on as usual.
    """
    definitions = _droppable_indexes(conn, table, stage, integration)
    if definitions:
        previous = conn.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
        try:
            with conn.begin_nested():
                conn.execute(text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": _INDEX_LOCK_WAIT})
                for name in definitions:
                    conn.execute(text(f'DROP INDEX "{name}"'))
        except (OperationalError, WarehouseTimeoutError):  # the lock wait ran out (how it surfaces depends on the engine)
            definitions = {}
        finally:
            conn.execute(text("SELECT set_config('lock_timeout', :previous, true)"), {"previous": previous})
    yield
    for definition in definitions.values():
        conn.execute(text(definition))


def _droppable_indexes(conn: Connection, table: Table, stage: Table, integration: str) -> dict[str, str]:
    """The table's non-unique indexes (name -> CREATE INDEX statement), when the insert qualifies."""
    staged = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = CAST(:stage AS regclass)"), {"stage": stage.name}).scalar()
    if (staged or 0) < DEFERRED_INDEXES_FROM_ROWS:
        return {}
    if conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table.name})")).scalar_one():
        return {}
    others_running = text(f"SELECT EXISTS (SELECT 1 FROM {sync_runs.name} WHERE status = 'running' AND integration <> :integration)")
    if conn.execute(others_running, {"integration": integration}).scalar_one():
        return {}
    rows = conn.execute(text("""
SELECT index_class.relname, pg_get_indexdef(index.indexrelid)
FROM pg_index AS index JOIN pg_class AS index_class ON index_class.oid = index.indexrelid
WHERE index.indrelid = CAST(:table AS regclass) AND NOT index.indisunique AND NOT index.indisprimary
ORDER BY index_class.relname"""), {"table": table.name}).all()
    return dict(rows)
