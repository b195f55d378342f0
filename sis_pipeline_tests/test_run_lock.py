"""One run per integration, end to end: while a sync of an integration runs, another one from any process
(the command line, Dagster) is refused and recorded; a crashed run's lock dies with its process."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.runs import read_sync_run
from sis_pipeline_tests.helpers import expected_totals, warehouse_counts

CLI = str(Path(sys.executable).with_name("sis-pipeline"))
SLOW_PAGES = {"slow_page_rate": 1.0, "slow_page_seconds": 3.0}  # a sync that stays mid-extraction for a while


def served(sim) -> int:
    return sum(sim.stats()["requests"].values())


def start_blocked_sync(district, config: Path, env: dict) -> subprocess.Popen:
    """A `sis-pipeline sync` in another process, held mid-run by slow pages; returns once it is extracting."""
    district.update_settings(faults=SLOW_PAGES)
    before = served(district)
    process = subprocess.Popen(
        [CLI, "sync", "--config", str(config), "--json", "--quiet"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while served(district) < before + 2:  # its token and a first page: its first step (and lock) is under way
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the first sync never got going: {process.communicate()[1][-2000:]}")
        time.sleep(0.05)
    return process


def status_of(url: str, run_id: str) -> dict:
    engine = create_warehouse_engine(url)
    try:
        return read_sync_run(engine, run_id, "springfield")
    finally:
        engine.dispose()


@pytest.fixture
def cli_env(tmp_path, warehouse_url):
    """The environment of a `sis-pipeline` process: call it after write_config has set the credentials."""
    return lambda: {**os.environ, "SIS_WAREHOUSE_URL": warehouse_url, "SIS_STAGING_DIR": str(tmp_path / "staging")}


def test_a_second_sync_while_one_runs_is_refused_from_another_process_and_from_dagster(
    district, write_config, sync, warehouse_url, cli_env
):
    config, env = write_config(district), cli_env()
    first = start_blocked_sync(district, config, env)
    try:
        second = subprocess.run(
            [CLI, "sync", "--config", str(config), "--json", "--quiet"], env=env, capture_output=True, text=True,
            timeout=180,
        )
        from_dagster = sync(config, warehouse_url)  # dg.materialize in this process, as the UI's run worker would
    finally:
        district.update_settings(faults={"slow_page_rate": 0.0})
    out, err = first.communicate(timeout=300)

    refused = json.loads(second.stdout)["integrations"]["springfield"]
    assert second.returncode == 1
    assert status_of(warehouse_url, refused["run_id"])["status"] == "failed"
    assert refused["error_class"] == "concurrent_run"
    assert "springfield: another sync or hold approval of this integration is in progress" in refused["error"]
    assert "\n" not in refused["error"]
    assert status_of(warehouse_url, from_dagster["run_id"])["error_class"] == "concurrent_run"
    assert from_dagster["status"] == "failed"

    finished = json.loads(out)["integrations"]["springfield"]
    assert first.returncode == 0, err[-2000:]
    assert status_of(warehouse_url, finished["run_id"])["status"] == "success"
    assert warehouse_counts(warehouse_url) == expected_totals(district)


def test_a_killed_runs_lock_dies_with_its_process(district, write_config, sync, warehouse_url, cli_env):
    config = write_config(district)
    crashed = start_blocked_sync(district, config, cli_env())
    crashed.send_signal(signal.SIGKILL)
    crashed.communicate(timeout=30)
    district.update_settings(faults={"slow_page_rate": 0.0})

    after = sync(config, warehouse_url)

    assert status_of(warehouse_url, after["run_id"])["status"] == "success"
    assert warehouse_counts(warehouse_url) == expected_totals(district)
