"""Where the warehouse lives and how to connect to it."""

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError

from sis_pipeline.warehouse.errors import WarehouseUrlError

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_BEGIN_OPTION = "sqlite_begin"
_PSYCOPG3 = "postgresql+psycopg"


def warehouse_url(env: Mapping[str, str] = os.environ) -> str:
    """`SIS_WAREHOUSE_URL`, or a SQLite file under `./.data/` for a laptop."""
    if env.get("SIS_WAREHOUSE_URL"):
        return env["SIS_WAREHOUSE_URL"]
    data_dir = Path.cwd() / ".data"
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'warehouse.sqlite'}"


def create_warehouse_engine(url: str | URL) -> Engine:
    """An engine for PostgreSQL (through psycopg 3) or SQLite, configured for loading."""
    parsed = parse_warehouse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return create_engine(parsed, pool_pre_ping=True)


def parse_warehouse_url(url: str | URL) -> URL:
    """The URL as the warehouse connects to it: PostgreSQL through psycopg 3, or SQLite."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        scheme = str(url).split("://", 1)[0] if "://" in str(url) else "(no scheme)"
        raise WarehouseUrlError(
            f"warehouse URL with scheme {scheme!r} cannot be parsed; "
            "expected e.g. postgresql://user@host/db or sqlite:///path/to/warehouse.sqlite"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername in ("postgres", "postgresql"):
        return parsed.set(drivername=_PSYCOPG3)
    if parsed.drivername == _PSYCOPG3 or parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed
    if parsed.get_backend_name() == "postgresql":
        raise WarehouseUrlError(
            f"warehouse URL {shown} names driver {parsed.drivername!r}; loads need psycopg 3 ({_PSYCOPG3}://)"
        )
    raise WarehouseUrlError(f"warehouse URL {shown} is neither PostgreSQL nor SQLite")


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        # Let SQLAlchemy emit BEGIN itself: pysqlite's own transaction handling leaves DDL such as
        # CREATE TEMP TABLE outside the transaction, so a failed load would not roll it back.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        # `execution_options(sqlite_begin="IMMEDIATE")` takes the write lock at BEGIN (waiting up to the
        # busy timeout for another writer), so a read-then-write transaction cannot lose its snapshot.
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "")
        connection.exec_driver_sql(f"BEGIN {mode}" if mode else "BEGIN")

    return engine
