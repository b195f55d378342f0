"""PostgreSQL specifics of a load: COPY into the transaction's tables, and counting from RETURNING."""

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, Table, text

from sis_pipeline.warehouse import load_sql
from sis_pipeline.warehouse.load_sql import bind

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
    inserted = conn.execute(bind(load_sql.insert_new(table, stage)), params).rowcount
    return inserted, updated
