"""Every failure carries a specific class and its cause: a warehouse that is missing, refuses or drops us says so."""

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy.exc
from sqlalchemy import create_engine, select, text

from sis_pipeline.config import ConfigError
from sis_pipeline.errors import NetworkError, RunInterrupted, classify, describe
from sis_pipeline.warehouse.engine import parse_warehouse_url
from sis_pipeline.warehouse.errors import WarehouseSafetyError, WarehouseUnavailableError
from sis_pipeline.warehouse.schema import sync_runs
from sis_pipeline_tests.helpers import wait_until_loading, warehouse_counts
from sis_simulators import SimulatorServer, SimulatorSettings

CLI = str(Path(sys.executable).with_name("sis-pipeline"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_missing_database_is_a_warehouse_failure_naming_it(district, write_config, sync, postgres_server_url):
    missing = parse_warehouse_url(postgres_server_url).set(database=f"missing_{uuid.uuid4().hex[:8]}")
    result = sync(write_config(district), missing.render_as_string(hide_password=False))
    assert (result["status"], result["error_class"]) == ("failed", "warehouse"), result
    assert result["error"].startswith(f"could not connect to the warehouse at {missing.render_as_string()}: ")
    assert f'database "{missing.database}" does not exist' in result["error"]


def test_a_refused_connection_is_a_warehouse_failure_without_the_password(district, write_config, sync):
    port = _free_port()
    result = sync(write_config(district), f"postgresql://app:pa55word@127.0.0.1:{port}/roster")
    assert (result["status"], result["error_class"]) == ("failed", "warehouse"), result
    assert result["error"].startswith(f"could not connect to the warehouse at postgresql+psycopg://app:***@127.0.0.1:{port}/roster: ")
    assert "Connection refused" in result["error"] and "pa55word" not in result["error"]


def test_a_connection_terminated_mid_load_is_a_warehouse_failure_and_commits_nothing(postgres_url, write_config, tmp_path):
    settings = SimulatorSettings(client_id="terminate-test", client_secret=f"secret-{uuid.uuid4().hex}")
    with SimulatorServer(students=6000, settings=settings) as sim:
        config = write_config(sim, page_size=2000)
        env = {**os.environ, "SIS_WAREHOUSE_URL": postgres_url, "SIS_STAGING_DIR": str(tmp_path / "staging")}
        sync = subprocess.Popen([CLI, "sync", "--config", str(config), "--quiet"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        backend = wait_until_loading(postgres_url, sync)
        admin = create_engine(postgres_url)
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar_one()
        _, stderr = sync.communicate(timeout=60)

    assert sync.returncode == 1
    line = next(line for line in stderr.splitlines() if line.startswith("springfield: failed"))
    assert line.startswith(f"springfield: failed (warehouse): lost the connection to the warehouse at {postgres_url}: ")
    # psycopg's words depend on what the connection was doing when the server ended it
    assert any(reason in line for reason in ("terminating connection due to administrator command", "the connection is lost",
                                             "server closed the connection unexpectedly")), line
    with admin.connect() as conn:
        record = conn.execute(select(sync_runs)).mappings().one()
    admin.dispose()
    assert (record["status"], record["error_class"]) == ("failed", "warehouse")
    assert set(warehouse_counts(postgres_url).values()) == {0}


def _caused_by(cause: BaseException) -> Exception:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise RuntimeError("wrapped on the way up") from inner
    except RuntimeError as outer:
        return outer


def _raised_while_handling(interruption: BaseException) -> Exception:
    try:
        try:
            raise interruption
        except BaseException:
            raise sqlalchemy.exc.OperationalError("ROLLBACK", {}, Exception("another command is already in progress"))
    except sqlalchemy.exc.OperationalError as consequence:
        return consequence


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")), "warehouse"),
        (sqlalchemy.exc.IntegrityError("INSERT ...", {}, Exception("duplicate key")), "data"),
        (WarehouseUnavailableError("could not connect"), "warehouse"),
        (WarehouseSafetyError("would archive everything"), "data"),
        (ConfigError("SIS_TOKEN_KEY: not a Fernet key"), "config"),
        (RunInterrupted("SIGTERM"), "interrupted"),
        (KeyboardInterrupt(), "interrupted"),
        (dg.DagsterExecutionInterruptedError(), "interrupted"),
        (_caused_by(NetworkError("reset by peer")), "network"),
        (_raised_while_handling(dg.DagsterExecutionInterruptedError()), "interrupted"),
        (ValueError("a bug"), "internal"),
    ],
)
def test_classify_knows_each_failure_and_looks_through_wrappers(error, expected):
    assert classify(error) == expected


def test_describe_keeps_roster_values_out_of_the_line():
    error = sqlalchemy.exc.IntegrityError("INSERT INTO students VALUES (%(name)s)", {"name": "Zoë O'Brien"}, Exception("duplicate key\nDETAIL: x"))
    assert describe(error) == "the warehouse refused a statement: duplicate key DETAIL: x"
    assert describe(RunInterrupted("SIGTERM")) == "interrupted by SIGTERM"
    assert describe(_raised_while_handling(RunInterrupted("SIGTERM"))) == "interrupted by SIGTERM"
