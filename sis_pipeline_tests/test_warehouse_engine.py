"""Connecting to the warehouse: the URL a district configures, and the connection settings loads rely on."""

import pytest
from sqlalchemy import inspect

from sis_pipeline.warehouse import WarehouseUrlError, create_warehouse_engine, ensure_schema, warehouse_url
from sis_pipeline.warehouse.schema import metadata


def test_without_configuration_the_warehouse_is_a_sqlite_file_under_dot_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    assert warehouse_url({}) == f"sqlite:///{tmp_path / '.data' / 'warehouse.sqlite'}"
    assert (tmp_path / ".data").is_dir()


def test_configured_url_wins():
    assert (
        warehouse_url({"SIS_WAREHOUSE_URL": "postgresql://roster@db/warehouse"}) == "postgresql://roster@db/warehouse"
    )


@pytest.mark.parametrize(
    "url", ["postgresql://u:pw@db:5432/wh", "postgres://u:pw@db:5432/wh", "postgresql+psycopg://u:pw@db:5432/wh"]
)
def test_postgresql_urls_connect_through_psycopg3(url):
    engine = create_warehouse_engine(url)

    assert engine.url.render_as_string(hide_password=False) == "postgresql+psycopg://u:pw@db:5432/wh"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+psycopg2://u:hunter2@db/wh", r"postgresql\+psycopg2://u:\*\*\*@db/wh names driver"),
        ("mysql://u:hunter2@db/wh", r"mysql://u:\*\*\*@db/wh is neither PostgreSQL nor SQLite"),
        ("hunter2", r"scheme '\(no scheme\)' cannot be parsed"),
        ("postgresql://u:hunter2@db:port/wh", r"scheme 'postgresql' cannot be parsed"),
    ],
)
def test_unusable_urls_are_named_without_their_password(url, message):
    with pytest.raises(WarehouseUrlError, match=message) as failure:
        create_warehouse_engine(url)
    assert "hunter2" not in str(failure.value)


def test_sqlite_connections_use_wal_foreign_keys_and_wait_for_locks(sqlite_url):
    engine = create_warehouse_engine(sqlite_url)
    with engine.connect() as conn:
        settings = [
            conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in ("journal_mode", "foreign_keys", "busy_timeout")
        ]
    engine.dispose()

    assert settings == ["wal", 1, 60000]  # SIS_WAREHOUSE_LOCK_TIMEOUT's default, 60 s


def test_ensure_schema_is_idempotent(warehouse_url):
    engine = create_warehouse_engine(warehouse_url)
    ensure_schema(engine)
    ensure_schema(engine)

    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert tables == set(metadata.tables) | {"alembic_version"}  # every table the schema describes, nothing else
