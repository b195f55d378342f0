"""Dagster from a clean clone's root: embedded storage with nothing exported, PostgreSQL storage by choice."""

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sis_pipeline_tests.helpers import copy_checkout, warehouse_counts

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = "examples/integrations.demo.yaml"
DEMO = yaml.safe_load((REPO / DEMO_CONFIG).read_text())["integrations"][0]
# The demo's fixed port: under pytest-xdist these tests run on one worker, one after another.
pytestmark = pytest.mark.xdist_group("demo_port")
DEMO_PORT = httpx.URL(DEMO["base_url"]).port
ONE_RUN_PER_INTEGRATION = [{"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
DAGSTER_VARIABLES = ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB")


@pytest.fixture
def clean_clone(tmp_path) -> Path:
    """The repository's files as a fresh clone has them (tracked and not ignored), in a folder of their own."""
    return copy_checkout(tmp_path)


@pytest.fixture
def demo_environment(monkeypatch) -> dict:
    """What a new user exports for the demo: the config and the demo simulator's credentials, nothing else."""
    secret = f"demo-{uuid.uuid4().hex}"
    env = {key: value for key, value in os.environ.items() if key not in DAGSTER_VARIABLES and not key.startswith("SIS_")}
    env |= {
        "SIS_PIPELINE_CONFIG": DEMO_CONFIG,
        DEMO["client_id_env"]: "demo-client",
        DEMO["client_secret_env"]: secret,
        "SIS_SIM_CLIENT_ID": "demo-client",
        "SIS_SIM_CLIENT_SECRET": secret,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return env


@pytest.fixture
def demo_simulator(demo_environment, tmp_path):
    log = (tmp_path / "simulator.log").open("w")
    process = subprocess.Popen(
        ["sis-pipeline", "simulate", "oneroster", "--students", "300", "--port", str(DEMO_PORT)],
        env=demo_environment, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                totals = httpx.get(f"http://127.0.0.1:{DEMO_PORT}/admin/totals").raise_for_status().json()
                break
            except httpx.HTTPError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "simulator.log").read_text()
                time.sleep(0.2)
        yield totals
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def materialize(clone: Path, env: dict, selection: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["dagster", "asset", "materialize", "-m", "sis_pipeline.definitions", "--select", selection, "--partition", DEMO["name"]],
        cwd=clone, env=env, capture_output=True, text=True, timeout=600,
    )


def instance_home(tmp_path: Path, dagster_yaml: Path) -> str:
    """A DAGSTER_HOME holding a copy of one of our dagster.yaml files (an instance writes beside it)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(dagster_yaml, home / "dagster.yaml")
    return str(home)


def test_the_root_dagster_yaml_needs_no_environment_and_keeps_one_run_per_integration(monkeypatch, tmp_path):
    for name in DAGSTER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    instance = dg.DagsterInstance.from_config(instance_home(tmp_path, REPO / "dagster.yaml"))
    try:
        assert type(instance.run_storage).__name__ != "PostgresRunStorage"
        assert instance.get_concurrency_config().run_queue_config.tag_concurrency_limits == ONE_RUN_PER_INTEGRATION
    finally:
        instance.dispose()
    assert "_core" not in (REPO / "dagster.yaml").read_text()  # no private Dagster paths


def test_the_production_instance_stores_runs_in_postgres_with_the_same_limits(postgres_url, monkeypatch, tmp_path):
    for name, value in pg_variables(postgres_url).items():
        monkeypatch.setenv(name, value)
    instance = dg.DagsterInstance.from_config(instance_home(tmp_path, REPO / "deploy" / "dagster.yaml"))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().run_queue_config.tag_concurrency_limits == ONE_RUN_PER_INTEGRATION
    finally:
        instance.dispose()


def pg_variables(postgres_url: str) -> dict[str, str]:
    url = make_url(postgres_url)
    return {
        "DAGSTER_PG_HOST": url.host,
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USERNAME": url.username,
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.database,
    }


def test_materialize_from_a_clean_clone_root_with_only_the_demo_config_exported(clean_clone, demo_environment, demo_simulator):
    done = materialize(clean_clone, demo_environment, "*")
    assert done.returncode == 0, done.stderr[-3000:]
    warehouse = clean_clone / ".data" / "warehouse.sqlite"
    counts = warehouse_counts(f"sqlite:///{warehouse}")
    assert counts["students"] == demo_simulator["students"] and counts["enrollments"] == demo_simulator["enrollments"]
    assert demo_environment["SIS_SIM_CLIENT_SECRET"] not in done.stdout + done.stderr


def test_with_a_postgres_dagster_home_the_warehouse_group_reruns_alone(
    clean_clone, demo_environment, demo_simulator, postgres_url
):
    env = demo_environment | pg_variables(postgres_url) | {"DAGSTER_HOME": str(clean_clone / "deploy")}
    first = materialize(clean_clone, env, "*")
    assert first.returncode == 0, first.stderr[-3000:]
    requests = httpx.get(f"http://127.0.0.1:{DEMO_PORT}/admin/stats").json()["requests"]

    again = materialize(clean_clone, env, "group:warehouse")

    assert again.returncode == 0, again.stderr[-3000:]
    assert httpx.get(f"http://127.0.0.1:{DEMO_PORT}/admin/stats").json()["requests"] == requests  # staged data, no SIS call
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT status FROM runs ORDER BY create_timestamp")).scalars().all()
        steps = conn.execute(
            text("SELECT DISTINCT step_key FROM event_logs WHERE run_id = (SELECT run_id FROM runs ORDER BY create_timestamp DESC LIMIT 1) AND step_key IS NOT NULL")
        ).scalars().all()
    engine.dispose()
    assert runs == ["SUCCESS", "SUCCESS"]
    # the tables' load, and the checks of the tables it loaded; no staging step ran again
    assert sorted(steps) == ["roster_integrity_checks", "roster_quality_warnings", "warehouse_tables"]
