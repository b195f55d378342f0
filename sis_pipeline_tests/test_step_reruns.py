"""Every step re-runnable alone, one owner of sync_runs, staging retention that keeps the last good run,
the run mode as typed run config, and one configuration parse per run."""

import json

import dagster as dg
import pytest

from sis_pipeline import cli
from sis_pipeline.config import PipelineConfig, load_config
from sis_pipeline.defs import build_resources, roster_assets
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.runs import read_sync_run
from sis_pipeline_tests.helpers import expected_totals, warehouse_counts

WAREHOUSE_ASSETS = dg.AssetSelection.groups("warehouse")


def materialize(config_file, warehouse_url, staging, *, selection=None, mode="full") -> dg.ExecuteInProcessResult:
    config = load_config(config_file)
    return dg.materialize(
        roster_assets(config),
        partition_key="springfield",
        resources=build_resources(config, warehouse_url, str(staging)),
        selection=selection,
        run_config={"ops": {"raw_rosters": {"config": {"mode": mode}}}} if selection is None else None,
        raise_on_error=False,
    )


def run_record(warehouse_url, run_id):
    engine = create_warehouse_engine(warehouse_url)
    try:
        return read_sync_run(engine, run_id, "springfield")
    finally:
        engine.dispose()


def test_the_warehouse_group_rerun_alone_loads_the_newest_staged_data(district, write_config, warehouse_url, tmp_path):
    config = write_config(district)
    first = materialize(config, warehouse_url, tmp_path / "staging")
    assert first.success
    requests_before = sum(district.stats()["requests"].values())

    again = materialize(config, warehouse_url, tmp_path / "staging", selection=WAREHOUSE_ASSETS)

    assert again.success
    assert sum(district.stats()["requests"].values()) == requests_before  # the SIS was not asked again
    record = run_record(warehouse_url, again.run_id)
    assert record["status"] == "success"
    written = {entity: record["counts"][entity]["inserted"] + record["counts"][entity]["updated"] for entity in ENTITIES}
    assert written == dict.fromkeys(ENTITIES, 0)
    assert warehouse_counts(warehouse_url) == expected_totals(district)
    rows = {
        event.asset_key.path[1]: event.materialization.metadata["dagster/row_count"].value
        for event in again.get_asset_materialization_events()
    }
    assert rows == expected_totals(district)


def test_a_step_rerun_before_anything_was_staged_says_what_to_do(district, write_config, sqlite_url, tmp_path):
    result = materialize(write_config(district), sqlite_url, tmp_path / "staging", selection=WAREHOUSE_ASSETS)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "nothing staged by resolved_rosters yet" in failure.step_failure_data.error.to_string()


def run_dirs(staging):
    return {path.name for path in (staging / "springfield").iterdir() if path.is_dir() and path.name != "handles"}


def test_staging_retention_keeps_the_last_good_run_after_failed_ones(district, write_config, sync, sqlite_url, tmp_path):
    staging = tmp_path / "staging"
    config = write_config(district)
    good = sync(config, sqlite_url)
    assert good["status"] == "success"
    # Every later run stages all its data and then fails at the load (an empty schools export is refused).
    district.apply_changes(
        [{"op": "remove", "collection": "schools", "sourcedId": district.district.schools.sourced_id(i)}
         for i in range(district.district.schools.count())]
    )
    failed = [sync(config, sqlite_url) for _ in range(4)]
    assert [run["status"] for run in failed] == ["failed"] * 4

    kept = run_dirs(staging)
    assert good["run_id"] in kept
    assert len(kept) == 3  # the last good run, the newest failed run and the one its handles came from
    assert failed[-1]["run_id"] in kept


def test_staging_keeps_only_the_newest_runs(district, write_config, sync, sqlite_url, tmp_path):
    config = write_config(district)
    runs = [sync(config, sqlite_url, reprocess=True) for _ in range(4)]  # each loads, so none stands on an older run's files
    assert [run["status"] for run in runs] == ["success"] * 4
    assert run_dirs(tmp_path / "staging") == {run["run_id"] for run in runs[1:]}


def test_the_run_mode_is_typed_run_config(district, write_config, sqlite_url, tmp_path):
    with pytest.raises(dg.DagsterInvalidConfigError):
        materialize(write_config(district), sqlite_url, tmp_path / "staging", mode="sometimes")


@pytest.fixture
def count_config_parses(monkeypatch):
    parses = []
    original = PipelineConfig.model_validate.__func__

    def counted(cls, *args, **kwargs):
        parses.append(1)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(PipelineConfig, "model_validate", classmethod(counted))
    return parses


def test_one_configuration_parse_per_partition_run_from_the_command_line(
    district, write_config, sqlite_url, tmp_path, monkeypatch, capsys, count_config_parses
):
    config = write_config(district)
    monkeypatch.setenv("SIS_WAREHOUSE_URL", sqlite_url)
    monkeypatch.setenv("SIS_STAGING_DIR", str(tmp_path / "staging"))
    assert cli.main(["sync", "--config", str(config), "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["integrations"]["springfield"]["status"] == "success"
    assert len(count_config_parses) == 1


def test_one_configuration_parse_per_partition_run_from_the_code_location(
    district, write_config, sqlite_url, tmp_path, monkeypatch, count_config_parses
):
    import importlib
    import sys

    monkeypatch.setenv("SIS_PIPELINE_CONFIG", str(write_config(district)))
    monkeypatch.setenv("SIS_WAREHOUSE_URL", sqlite_url)
    monkeypatch.setenv("SIS_STAGING_DIR", str(tmp_path / "staging"))
    monkeypatch.delitem(sys.modules, "sis_pipeline.definitions", raising=False)
    defs = importlib.import_module("sis_pipeline.definitions").defs  # what a run worker does: load the code location
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(partition_key="springfield", instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert len(count_config_parses) == 1
