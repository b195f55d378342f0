"""A sync stopped by SIGTERM (a deploy, `systemctl stop`, Kubernetes) closes its run as failed/interrupted within
seconds and leaves the warehouse as it was; so does a Dagster step interrupted by a terminated run."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import create_engine, select, text

from sis_pipeline.cli import INTERRUPTED_EXIT
from sis_pipeline.defs.resources import RunLockResource, WarehouseResource
from sis_pipeline.defs.steps import recorded_sync_step
from sis_pipeline.warehouse.runs import read_sync_run
from sis_pipeline.warehouse.schema import sync_runs
from sis_pipeline_tests.helpers import only_sync_run, wait_until_loading, warehouse_counts
from sis_simulators import SimulatorServer, SimulatorSettings

CLI = str(Path(sys.executable).with_name("sis-pipeline"))
PROMPTLY = 15  # seconds from the signal to a closed run and an ended process, on a busy test machine


def start_sync(config: Path, url: str, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "SIS_WAREHOUSE_URL": url, "SIS_STAGING_DIR": str(tmp_path / "staging")}
    return subprocess.Popen([CLI, "sync", "--config", str(config)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until_running(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until the run is recorded as running (its first step has started)."""
    engine = create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the sync ended before it could be interrupted: {process.stderr.read()[-2000:]}")
            try:
                with engine.connect() as conn:
                    if conn.execute(select(sync_runs.c.status)).scalars().all() == ["running"]:
                        return
            except Exception:  # the tables are not there yet
                pass
            time.sleep(0.05)
        pytest.fail("the run never started")
    finally:
        engine.dispose()



def stop_and_check(sync: subprocess.Popen, url: str) -> str:
    """SIGTERM the sync; it must end promptly, non-zero, having closed its run as interrupted. Its stderr."""
    signalled = time.monotonic()
    sync.send_signal(signal.SIGTERM)
    stdout, stderr = sync.communicate(timeout=120)
    assert time.monotonic() - signalled < PROMPTLY, f"took {time.monotonic() - signalled:.1f}s to stop"
    assert sync.returncode == INTERRUPTED_EXIT, stderr[-3000:]
    record = only_sync_run(url)
    assert (record["status"], record["error_class"]) == ("failed", "interrupted"), record
    assert record["ended_at"] is not None
    assert "springfield: failed (interrupted)" in stdout
    return stderr


def test_sigterm_mid_load_rolls_back_and_closes_the_run_as_interrupted(postgres_url, write_config, tmp_path):
    settings = SimulatorSettings(client_id="term-test", client_secret=f"secret-{uuid.uuid4().hex}")
    with SimulatorServer(students=6000, settings=settings) as sim:
        sync = start_sync(write_config(sim, page_size=2000), postgres_url, tmp_path)
        wait_until_loading(postgres_url, sync)
        stderr = stop_and_check(sync, postgres_url)
    assert set(warehouse_counts(postgres_url).values()) == {0}  # not one row of the half-done load
    lines = [line for line in stderr.splitlines() if "springfield: failed (interrupted)" in line]
    assert len(lines) == 1 and "Traceback" not in stderr


def test_sigterm_while_waiting_for_a_slow_sis_stops_at_once(district, write_config, postgres_url, tmp_path):
    # every page 25 s late: within the client's 30 s read timeout, so nothing but the signal ends the wait
    district.update_settings(faults={"slow_page_rate": 1.0, "slow_page_seconds": 25})
    try:
        sync = start_sync(write_config(district), postgres_url, tmp_path)
        wait_until_running(postgres_url, sync)
        time.sleep(1)  # into the first, slow, pages
        stop_and_check(sync, postgres_url)
    finally:
        district.update_settings(faults={"slow_page_rate": 0.0})
    assert set(warehouse_counts(postgres_url).values()) == {0}


def test_a_step_interrupted_by_dagster_closes_the_run_and_stays_an_interruption(postgres_url):
    warehouse = WarehouseResource(url=postgres_url)
    with run_lock(warehouse) as hold, pytest.raises(dg.DagsterExecutionInterruptedError):  # re-raised as is: Dagster must see the interruption
        with recorded_sync_step(warehouse, "run-1", "springfield", "full", hold_run_lock=hold):
            raise dg.DagsterExecutionInterruptedError()
    record = read_sync_run(warehouse.engine(), "run-1", "springfield")
    assert (record["status"], record["error_class"]) == ("failed", "interrupted")
    assert record["error"].startswith("interrupted")


def test_a_failing_step_raises_a_failure_carrying_its_class(postgres_url):
    warehouse = WarehouseResource(url=postgres_url)
    with run_lock(warehouse) as hold, pytest.raises(dg.Failure) as failure:
        with recorded_sync_step(warehouse, "run-2", "springfield", "full", hold_run_lock=hold):
            raise ValueError("something no class describes")
    assert failure.value.description == "springfield: failed (internal): something no class describes"
    assert failure.value.metadata["error_class"].value == "internal"
    assert read_sync_run(warehouse.engine(), "run-2", "springfield")["status"] == "failed"


@contextmanager
def run_lock(warehouse):
    """The run lock a step holds, as the run's RunLockResource gives it; released when the block ends."""
    lock = RunLockResource(warehouse=warehouse)
    try:
        yield lock.hold
    finally:
        lock.teardown_after_execution(None)


@contextmanager
def dagster_like_sigterm():
    """SIGTERM raises DagsterExecutionInterruptedError, as Dagster's handler does while a step runs."""

    def _interrupt(_signum, _frame):
        raise dg.DagsterExecutionInterruptedError()

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sigterm_during_a_statement_in_a_step_cancels_it_and_is_recorded_as_interrupted(postgres_url):
    """A signal in the middle of a driver-level statement (as COPY is) must not leave the connection busy:
    the rollback would fail and its error would hide the interruption."""
    warehouse = WarehouseResource(url=postgres_url)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    started = time.monotonic()
    with run_lock(warehouse) as hold, dagster_like_sigterm(), pytest.raises(KeyboardInterrupt):
        with recorded_sync_step(warehouse, "run-3", "springfield", "full", hold_run_lock=hold) as engine:
            with engine.begin() as conn:
                timer.start()
                conn.connection.cursor().execute("SELECT pg_sleep(30)")
    assert time.monotonic() - started < PROMPTLY
    record = read_sync_run(warehouse.engine(), "run-3", "springfield")
    assert (record["status"], record["error_class"], record["error"]) == ("failed", "interrupted", "interrupted by SIGTERM")
    with warehouse.engine().connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)' AND state = 'active'")).scalar_one() == 0


def test_a_run_terminated_in_dagster_between_steps_is_closed_by_the_sensor(postgres_url):
    """Between two steps no step can record the termination; the run-status sensor closes the row."""
    from sis_pipeline.defs.sensors import terminated_run_sensor
    from sis_pipeline.warehouse.runs import start_sync_run

    warehouse = WarehouseResource(url=postgres_url)
    start_sync_run(warehouse.engine(), "run-4", "springfield", "full")
    instance = dg.DagsterInstance.ephemeral()
    run = dg.DagsterRun(job_name="__ASSET_JOB", run_id="run-4", tags={"dagster/partition": "springfield"},
                        status=dg.DagsterRunStatus.CANCELED)
    event = dg.DagsterEvent(event_type_value="PIPELINE_CANCELED", job_name="__ASSET_JOB")
    context = dg.build_run_status_sensor_context(
        sensor_name="terminated_run_sensor", dagster_event=event, dagster_instance=instance, dagster_run=run,
        resources={"warehouse": warehouse},
    )
    terminated_run_sensor(context)
    record = read_sync_run(warehouse.engine(), "run-4", "springfield")
    assert (record["status"], record["error_class"]) == ("failed", "interrupted")
    terminated_run_sensor(context)  # a second evaluation changes nothing
    assert read_sync_run(warehouse.engine(), "run-4", "springfield") == record
