"""The Dagster layer: definitions load from the config, and runs land in PostgreSQL-backed Dagster storage."""

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sis_pipeline.config import load_config
from sis_pipeline.defs import build_resources
from sis_pipeline.defs.sync_runner import sync_integrations
from sis_pipeline_tests.helpers import expected_totals, warehouse_counts

REPO = Path(__file__).resolve().parents[1]


def test_definitions_module_builds_partitions_from_the_config(district, write_config, monkeypatch):
    monkeypatch.setenv("SIS_PIPELINE_CONFIG", str(write_config(district, name="springfield")))
    module = importlib.reload(importlib.import_module("sis_pipeline.definitions"))
    dg.Definitions.validate_loadable(module.defs)
    graph = module.defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == {"raw_rosters", "normalized_rosters", "resolved_rosters"} | {
        f"warehouse/{e}" for e in ("schools", "terms", "courses", "sections", "students", "teachers", "enrollments")
    }
    partitions = graph.get(dg.AssetKey("raw_rosters")).partitions_def
    assert partitions.get_partition_keys() == ["springfield"]
    students = graph.get(dg.AssetKey(["warehouse", "students"]))
    assert students.metadata["dagster/table_name"] == "students"
    schema = {column.name: column.type for column in students.metadata["dagster/column_schema"].columns}
    assert schema["student_uid"] == "string" and schema["birth_date"] == "date" and "archived_at" in schema


def test_materialization_against_a_postgres_backed_dagster_instance(
    district, write_config, postgres_url, sqlite_url, tmp_path, monkeypatch
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    url = make_url(postgres_url)
    for name, value in {
        "DAGSTER_PG_HOST": url.host,
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USERNAME": url.username,
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.database,
    }.items():
        monkeypatch.setenv(name, value)
    config = write_config(district)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        pipeline = load_config(config)
        resources = build_resources(pipeline, sqlite_url, str(tmp_path / "staging"))
        report = sync_integrations(pipeline, ["springfield"], instance=instance, resources=resources)
        assert report["integrations"]["springfield"]["status"] == "success"
        run_id = report["integrations"]["springfield"]["run_id"]
    finally:
        instance.dispose()

    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT status FROM runs WHERE run_id = :run_id"), {"run_id": run_id}).scalar_one()
        materialized = conn.execute(
            text("SELECT count(*) FROM event_logs WHERE run_id = :run_id AND dagster_event_type = 'ASSET_MATERIALIZATION'"),
            {"run_id": run_id},
        ).scalar_one()
    engine.dispose()
    assert stored == "SUCCESS"
    assert materialized == 3 + 7  # three staging assets and seven warehouse tables


def test_dagster_cli_materializes_a_partition(district, write_config, sqlite_url, tmp_path):
    config = write_config(district)
    env = {
        **os.environ,
        "SIS_PIPELINE_CONFIG": str(config),
        "SIS_WAREHOUSE_URL": sqlite_url,
        "SIS_STAGING_DIR": str(tmp_path / "staging"),
        "DAGSTER_HOME": str(tmp_path),
    }
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "sis_pipeline.definitions", "--select", "*", "--partition", "springfield"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert warehouse_counts(sqlite_url) == expected_totals(district)
    assert district.client_secret not in done.stdout + done.stderr


def test_token_health_sensor_warns_when_an_integration_cannot_authenticate(district, write_config, sync, sqlite_url, monkeypatch):
    from sis_pipeline.defs.resources import WarehouseResource
    from sis_pipeline.defs.sensors import token_health_sensor as sensor

    config = write_config(district)
    resources = {"warehouse": WarehouseResource(url=sqlite_url), "integrations": load_config(config)}
    assert sync(config, sqlite_url)["status"] == "success"
    healthy = sensor(dg.build_sensor_context(resources=resources))
    assert "healthy" in healthy.skip_message

    monkeypatch.setenv("SPRINGFIELD_CLIENT_SECRET", "revoked-by-the-district")
    assert sync(config, sqlite_url)["error_class"] == "auth"
    warned = sensor(dg.build_sensor_context(resources=resources))
    assert "springfield" in warned.skip_message and "could not authenticate" in warned.skip_message
    assert "revoked-by-the-district" not in warned.skip_message
