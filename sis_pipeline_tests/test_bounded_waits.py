"""A warehouse that keeps a run waiting ends it, in bounded time, as a `warehouse` failure that says why."""

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

from sis_pipeline.config import ConfigError
from sis_pipeline.redact import redact
from sis_pipeline.warehouse import create_warehouse_engine, ensure_schema
from sis_pipeline.warehouse.errors import WarehouseTimeoutError
from sis_pipeline.warehouse.timeouts import WarehouseTimeouts, warehouse_timeouts
from sis_pipeline_tests.helpers import only_sync_run, warehouse_counts

RELEASE_AFTER = 90  # seconds: without its limit a wait ends only here, and the test fails instead of hanging


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a hung server, a black-holed proxy)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    threading.Timer(RELEASE_AFTER, stop.set).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


@contextmanager
def table_locked(url: str, table: str) -> Iterator[None]:
    """Another session holds an exclusive lock on `table` (a long report, a stuck migration) until the block ends."""
    engine = create_engine(url)
    conn = engine.connect()
    conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
    release = threading.Timer(RELEASE_AFTER, conn.rollback)
    release.start()
    try:
        yield
    finally:
        release.cancel()
        conn.rollback()
        conn.close()
        engine.dispose()



def test_a_lock_held_on_a_roster_table_fails_the_run_within_the_lock_timeout(district, write_config, sync, postgres_url, monkeypatch):
    monkeypatch.setenv("SIS_WAREHOUSE_LOCK_TIMEOUT", "2")
    engine = create_warehouse_engine(postgres_url)
    ensure_schema(engine)
    engine.dispose()
    config = write_config(district)
    with table_locked(postgres_url, "students"):
        started = time.monotonic()
        result = sync(config, postgres_url)
        elapsed = time.monotonic() - started

    assert (result["status"], result["error_class"]) == ("failed", "warehouse"), result
    assert "waited more than 2 s (SIS_WAREHOUSE_LOCK_TIMEOUT) for a lock" in result["error"]
    assert "students" in result["error"]  # the statement that waited names the table
    assert elapsed < RELEASE_AFTER / 2
    record = only_sync_run(postgres_url)
    # stored masked like a log line (any user@ of a URL too)
    assert (record["status"], record["error_class"], record["error"]) == ("failed", "warehouse", redact(result["error"]))
    assert set(warehouse_counts(postgres_url).values()) == {0}


def test_a_warehouse_that_accepts_and_never_answers_fails_within_the_connect_timeout(district, write_config, sync, monkeypatch):
    monkeypatch.setenv("SIS_WAREHOUSE_CONNECT_TIMEOUT", "2")
    with silent_server() as port:
        url = f"postgresql://app:pa55word@127.0.0.1:{port}/roster"
        started = time.monotonic()
        result = sync(write_config(district), url)
        elapsed = time.monotonic() - started

    assert (result["status"], result["error_class"]) == ("failed", "warehouse"), result
    assert result["error"] == (
        f"could not connect to the warehouse at postgresql+psycopg://app:***@127.0.0.1:{port}/roster within 2 s "
        "(SIS_WAREHOUSE_CONNECT_TIMEOUT): the server did not answer"
    )
    assert elapsed < 30  # one connect attempt of 2 s and Dagster's own start, not a wait per step


def test_a_statement_longer_than_the_statement_timeout_is_cancelled(postgres_url):
    engine = create_warehouse_engine(postgres_url, WarehouseTimeouts(statement=1))
    with pytest.raises(WarehouseTimeoutError, match=r"ran longer than 1 s \(SIS_WAREHOUSE_STATEMENT_TIMEOUT\).* at: SELECT pg_sleep"):
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(5)"))
    engine.dispose()


def test_every_connection_carries_the_configured_limits(postgres_url, monkeypatch):
    monkeypatch.setenv("SIS_WAREHOUSE_LOCK_TIMEOUT", "7")
    monkeypatch.setenv("SIS_WAREHOUSE_STATEMENT_TIMEOUT", "0")
    engine = create_warehouse_engine(postgres_url)
    with engine.connect() as conn:
        settings = [conn.execute(text(f"SHOW {name}")).scalar() for name in ("lock_timeout", "statement_timeout")]
        conn.rollback()  # the pool's reset on return must not undo them either
    with engine.connect() as conn:
        again = [conn.execute(text(f"SHOW {name}")).scalar() for name in ("lock_timeout", "statement_timeout")]
    engine.dispose()
    assert settings == again == ["7s", "0"]


def test_defaults_and_refused_values():
    assert warehouse_timeouts({}) == WarehouseTimeouts(connect=10, lock=60, statement=1800)
    assert warehouse_timeouts({"SIS_WAREHOUSE_CONNECT_TIMEOUT": " 3 "}).connect == 3
    for bad in ("ten", "-1", "1.5"):
        with pytest.raises(ConfigError, match=f"SIS_WAREHOUSE_LOCK_TIMEOUT='{bad}': expected a whole number of seconds"):
            warehouse_timeouts({"SIS_WAREHOUSE_LOCK_TIMEOUT": bad})


def test_sqlite_waits_for_a_lock_as_long_as_the_lock_timeout(tmp_path, monkeypatch):
    monkeypatch.setenv("SIS_WAREHOUSE_LOCK_TIMEOUT", "1")
    url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.sqlite'}"
    holder, waiter = create_warehouse_engine(url), create_warehouse_engine(url)
    ensure_schema(holder)
    with holder.connect() as held:
        held.execution_options(sqlite_begin="IMMEDIATE").begin()
        started = time.monotonic()
        with pytest.raises(WarehouseTimeoutError, match=r"waited more than 1 s \(SIS_WAREHOUSE_LOCK_TIMEOUT\)"):
            with waiter.connect() as conn:
                conn.execution_options(sqlite_begin="IMMEDIATE").begin()
        assert 0.9 < time.monotonic() - started < 10
    holder.dispose()
    waiter.dispose()
