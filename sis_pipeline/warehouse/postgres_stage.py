"""PostgreSQL specifics of a load: COPY into the transaction's tables, and counting from RETURNING."""

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, Table, text

from sis_pipeline.warehouse.load_sql import bind

# Quoting every non-null value is what lets COPY tell an empty string ("") from NULL (nothing).
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")


def lock_integration(conn: Connection, integration: str) -> None:
    """Two loads of one integration (a schedule and a manual run) queue instead of interleaving."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:integration, 0))"), {"integration": integration})


def copy_frame(conn: Connection, table: Table, frame: pd.DataFrame) -> None:
    """Stream one chunk through COPY on the connection's own transaction."""
    buffer = io.BytesIO()
    pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), buffer, _CSV_OPTIONS)
    statement = f"COPY {table.name} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)"
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(buffer.getbuffer())


def analyze(conn: Connection, stage: Table) -> None:
    """Temporary tables are never auto-analysed; without statistics the planner guesses the joins."""
    conn.execute(text(f"ANALYZE {stage.name}"))


def upsert(conn: Connection, sql: str, table: Table, stage: Table, params: dict) -> tuple[int, int]:
    """Run the upsert; return (inserted, updated), told apart by whether the row had an older version."""
    counted = f"""
WITH written AS ({sql} RETURNING (xmax = 0) AS inserted)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written"""
    inserted, updated = conn.execute(bind(counted), params).one()
    return inserted, updated
