"""Where the warehouse lives and how to connect to it."""

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError

from sis_pipeline.staging import PRIVATE_FILE_MODE, private_dir
from sis_pipeline.warehouse.errors import WarehouseUrlError
from sis_pipeline.warehouse.failures import translate_failures
from sis_pipeline.warehouse.timeouts import KEEPALIVES, WarehouseTimeouts, warehouse_timeouts

# SQLite has no "no limit" for its busy timeout; about 24 days stands in for SIS_WAREHOUSE_LOCK_TIMEOUT=0.
SQLITE_LONGEST_WAIT_MS = 2**31 - 1
SQLITE_BEGIN_OPTION = "sqlite_begin"
_PSYCOPG3 = "postgresql+psycopg"


def warehouse_url(env: Mapping[str, str] = os.environ) -> str:
    """`SIS_WAREHOUSE_URL`, or a SQLite file under `./.data/` for a laptop."""
    if env.get("SIS_WAREHOUSE_URL"):
        return env["SIS_WAREHOUSE_URL"]
    data_dir = private_dir(Path.cwd() / ".data")
    return f"sqlite:///{data_dir / 'warehouse.sqlite'}"


def create_warehouse_engine(url: str | URL, timeouts: WarehouseTimeouts | None = None) -> Engine:
    """An engine for PostgreSQL (through psycopg 3) or SQLite, configured for loading.

    Every wait is bounded (`timeouts`, else the `SIS_WAREHOUSE_*_TIMEOUT` environment), and a failure to
    connect, a lost connection or a timeout raises a one-line warehouse error naming the warehouse.
    """
    parsed = parse_warehouse_url(url)
    timeouts = timeouts or warehouse_timeouts()
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed, timeouts)
    else:
        engine = _postgresql_engine(parsed, timeouts)
    translate_failures(engine, timeouts)
    return engine


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


def _postgresql_engine(url: URL, timeouts: WarehouseTimeouts) -> Engine:
    # A connect_timeout or keepalive setting written in the URL's query wins over the defaults.
    defaults = {"connect_timeout": timeouts.connect, **KEEPALIVES}
    engine = create_engine(
        url, pool_pre_ping=True, connect_args={k: v for k, v in defaults.items() if k not in url.query}
    )

    @event.listens_for(engine, "connect")
    def _bound_waits(dbapi_connection, _record):
        # Session settings through set_config rather than libpq's `options` startup parameter, which
        # connection poolers such as PgBouncer refuse; committed so the pool's reset cannot undo them.
        with dbapi_connection.cursor() as cursor:
            for name, value in timeouts.postgresql_settings().items():
                cursor.execute("SELECT set_config(%s, %s, false)", (name, value))
        dbapi_connection.commit()

    return engine


def _sqlite_engine(url: URL, timeouts: WarehouseTimeouts) -> Engine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        _private_database_file(Path(url.database))
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        # Let SQLAlchemy emit BEGIN itself: pysqlite's own transaction handling leaves DDL such as
        # CREATE TEMP TABLE outside the transaction, so a failed load would not roll it back.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={timeouts.lock * 1000 or SQLITE_LONGEST_WAIT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        # `execution_options(sqlite_begin="IMMEDIATE")` takes the write lock at BEGIN (waiting up to the
        # busy timeout for another writer), so a read-then-write transaction cannot lose its snapshot.
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "")
        connection.exec_driver_sql(f"BEGIN {mode}" if mode else "BEGIN")

    return engine


def _private_database_file(path: Path) -> None:
    """The warehouse holds student data: its file is readable by the pipeline's user alone (0600).

    SQLite gives its -wal and -shm files the database file's permissions, so they follow. An existing
    file is only chmod-ed, never opened: closing any descriptor of a database file drops the POSIX
    locks SQLite holds on it in this process.
    """
    if path.exists():
        if path.stat().st_mode & 0o777 != PRIVATE_FILE_MODE:
            os.chmod(path, PRIVATE_FILE_MODE)  # an older release, or the umask, left it wider
        return
    if not path.parent.exists():
        private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:  # another process made it a moment ago
        os.chmod(path, PRIVATE_FILE_MODE)
        return
    os.fchmod(descriptor, PRIVATE_FILE_MODE)  # the umask may have taken bits away
    os.close(descriptor)
