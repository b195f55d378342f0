"""SQLite specifics of a load: executemany into the transaction's tables, and counting by anti-join."""

import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, DateTime, Table

from sis_pipeline.warehouse import load_sql

# The text format SQLAlchemy's SQLite DateTime stores and parses back (UTC wall-clock).
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


def lock_integration(conn: Connection, integration: str) -> None:
    """SQLite already lets one writer at a time hold the database."""


def copy_frame(conn: Connection, table: Table, frame: pd.DataFrame | pa.Table) -> None:
    """Insert one chunk with a single executemany."""
    values = frame.to_pandas() if isinstance(frame, pa.Table) else frame.copy()
    for name in values.columns:
        if isinstance(table.c[name].type, DateTime):
            values[name] = pd.to_datetime(values[name], utc=True).dt.strftime(_SQLITE_DATETIME)
    values = values.astype(object).where(values.notna(), None)
    placeholders = ", ".join("?" for _ in values.columns)
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(values.columns)}) VALUES ({placeholders})",
        list(values.itertuples(index=False, name=None)),
    )


def analyze(conn: Connection, stage: Table) -> None:
    """SQLite plans these joins on the primary keys without statistics."""


def upsert(conn: Connection, table: Table, stage: Table, params: dict) -> tuple[int, int]:
    """Run the upsert; return (inserted, updated), new rows counted before it runs."""
    inserted = conn.execute(load_sql.bind(load_sql.count_new(table, stage)), params).scalar_one()
    written = conn.execute(load_sql.bind(load_sql.upsert(table, stage)), params).rowcount
    return inserted, written - inserted
