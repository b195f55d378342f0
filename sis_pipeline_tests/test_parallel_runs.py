"""Two integrations synced as parallel Dagster runs into one PostgreSQL warehouse do not interfere, and a
second run of one of them, started while its first runs, is refused and does nothing.

Each run is its own `dagster job execute` process of the real `sync_rosters` job, recording in one
PostgreSQL Dagster instance (deploy/dagster.yaml): what a run worker does in a K8sRunLauncher pod
(docs/deploy.md). Parallelism between integrations comes from parallel runs, not from the multiprocess
executor: that one runs the steps of ONE run in parallel (ours are sequential), and one run syncs one
partition, i.e. one integration.

Both SIS answer slowly until both runs are mid-extraction (each holds its run lock by then), so the runs
overlap by construction; the test proves it from the warehouse's own sync_runs times.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES, sync_runs
from sis_pipeline_tests.helpers import created_database, expected_totals
from sis_simulators import SimulatorServer, SimulatorSettings

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
SLOW = {"slow_page_rate": 1.0, "slow_page_seconds": 1.5}  # every request waits: the run stays mid-extraction
DISTRICTS = {"north": 400, "south": 250}  # different sizes, so counts landing in the wrong integration show


@pytest.fixture
def districts():
    """A OneRoster simulator per integration, each with its own credentials."""
    sims = {}
    try:
        for seed, (name, students) in enumerate(DISTRICTS.items(), start=1):
            settings = SimulatorSettings(client_id=f"{name}-client", client_secret=f"{name}-{uuid.uuid4().hex}")
            sims[name] = SimulatorServer(students=students, seed=seed, settings=settings).__enter__()
        yield sims
    finally:
        for sim in sims.values():
            sim.stop()


@pytest.fixture
def run_environment(districts, postgres_url, postgres_server_url, tmp_path, monkeypatch):
    """What every run process of the deployment sees: the configuration, its secrets, the warehouse URL,
    and a Dagster instance in PostgreSQL (its own database, as in docs/deploy.md) set up before any run."""
    config = tmp_path / "integrations.yaml"
    config.write_text(yaml.safe_dump({"integrations": [
        {
            "name": name, "provider": "oneroster", "base_url": sim.oneroster_root("1.1"), "token_url": sim.token_url,
            "client_id_env": f"{name.upper()}_CLIENT_ID", "client_secret_env": f"{name.upper()}_CLIENT_SECRET",
            "page_size": 100,
        }
        for name, sim in districts.items()
    ]}))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    with created_database(postgres_server_url, f"sis_dagster_{uuid.uuid4().hex[:12]}") as dagster_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SIS_", "DAGSTER_"))}
        env |= pg_variables(dagster_url) | {
            "DAGSTER_HOME": str(home),
            "SIS_PIPELINE_CONFIG": str(config),
            "SIS_WAREHOUSE_URL": postgres_url,
            "SIS_STAGING_DIR": str(tmp_path / "staging"),
        }
        for name, sim in districts.items():
            env |= {f"{name.upper()}_CLIENT_ID": sim.client_id, f"{name.upper()}_CLIENT_SECRET": sim.client_secret}
        for name, value in pg_variables(dagster_url).items():
            monkeypatch.setenv(name, value)  # this process reads the same instance
        # Create Dagster's tables once, as the Helm chart's migration does, before run processes race to.
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            yield env, instance
        finally:
            instance.dispose()


def pg_variables(url: str) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.yaml reads (in Kubernetes: from a Secret)."""
    parsed = make_url(url)
    return {
        "DAGSTER_PG_HOST": parsed.host, "DAGSTER_PG_PORT": str(parsed.port or 5432),
        "DAGSTER_PG_USERNAME": parsed.username, "DAGSTER_PG_PASSWORD": parsed.password or "", "DAGSTER_PG_DB": parsed.database,
    }


def start_run(env: dict, integration: str, cwd: Path) -> subprocess.Popen:
    """A run worker: the sync_rosters job for one partition, executed in-process as a K8s run pod would."""
    return subprocess.Popen(
        [DAGSTER, "job", "execute", "-m", "sis_pipeline.definitions", "-j", "sync_rosters",
         "--tags", json.dumps({"dagster/partition": integration})],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def served(sim) -> int:
    return sum(sim.stats()["requests"].values())


def wait_until_extracting(sim, process: subprocess.Popen, deadline: float) -> None:
    """Until the run has its token and is waiting on a page: its first step, and so its run lock, is under way."""
    while served(sim) < 2:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            code, err = finish(process, timeout=30)
            pytest.fail(f"the run ended ({code}) or stalled before asking its SIS anything: {err[-3000:]}")
        time.sleep(0.05)


def finish(process: subprocess.Popen, timeout: float) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return process.returncode, err


def recorded_runs(url: str) -> dict[str, list[dict]]:
    engine = create_warehouse_engine(url)
    try:
        with engine.connect() as conn:
            rows = [row._asdict() for row in conn.execute(select(sync_runs).order_by(sync_runs.c.started_at))]
    finally:
        engine.dispose()
    runs: dict[str, list[dict]] = {}
    for row in rows:
        runs.setdefault(row["integration"], []).append(row)
    return runs


def counts_of(url: str, integration: str) -> dict[str, int]:
    engine = create_warehouse_engine(url)
    try:
        with engine.connect() as conn:
            return {
                entity: conn.execute(select(func.count()).select_from(table).where(table.c.integration == integration)).scalar_one()
                for entity, table in ENTITY_TABLES.items()
            }
    finally:
        engine.dispose()


def test_two_integrations_run_in_parallel_and_a_second_run_of_one_is_refused(districts, run_environment, postgres_url, tmp_path):
    env, instance = run_environment
    for sim in districts.values():
        sim.update_settings(faults=SLOW)
    deadline = time.monotonic() + 90
    processes = {name: start_run(env, name, tmp_path) for name in districts}
    again = None
    try:
        for name, sim in districts.items():
            wait_until_extracting(sim, processes[name], deadline)
        # Both runs hold their locks and wait on their SIS: a second north run now must be refused.
        again = start_run(env, "north", tmp_path)
        again_code, again_err = finish(again, timeout=90)
    finally:
        for sim in districts.values():
            sim.update_settings(faults={"slow_page_rate": 0.0})
        outcomes = {name: finish(process, timeout=120) for name, process in processes.items()}
        if again is not None and again.poll() is None:
            again.kill()

    for name, (code, err) in outcomes.items():
        assert code == 0, f"{name}: {err[-3000:]}"
    assert again_code != 0, "a second run of north, started while north was running, was not refused"

    # Dagster's own record first: two successful runs and a failed one, all in the one PostgreSQL instance.
    statuses = {
        name: sorted(run.status.value for run in instance.get_runs(dg.RunsFilter(tags={"dagster/partition": name})))
        for name in districts
    }
    assert statuses == {"north": ["FAILURE", "SUCCESS"], "south": ["SUCCESS"]}

    runs = recorded_runs(postgres_url)
    assert [r["status"] for r in runs["south"]] == ["success"] and runs["south"][0]["error_class"] is None
    north, refused = runs["north"]  # ordered by start: the refused run started while north ran
    assert north["status"] == "success" and north["error_class"] is None
    assert refused["status"] == "failed" and refused["error_class"] == "concurrent_run"
    assert north["run_id"] in refused["error"]  # refused because of that run, and said so
    south = runs["south"][0]

    # The runs overlapped: each started before the other ended (the warehouse's clock, not log lines).
    assert north["started_at"] < south["ended_at"] and south["started_at"] < north["ended_at"]
    # The refused run came and went while north was running, so the two north runs never both worked.
    assert north["started_at"] < refused["started_at"] <= refused["ended_at"] < north["ended_at"]

    for name, sim in districts.items():
        assert counts_of(postgres_url, name) == expected_totals(sim), name
