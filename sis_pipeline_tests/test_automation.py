"""Schedules and change sensors: a nightly full sync on the district's clock, and an incremental run
requested exactly once per change, never while a run of the integration is in flight."""

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun
from dagster._utils.schedules import cron_string_iterator

from sis_pipeline.config import load_config
from sis_pipeline.defs import build_definitions, build_resources
from sis_pipeline.defs.automation import CHANGES_JOB, SIS_HOST_TAG, SYNC_JOB, TRIGGER_TAG, run_config
from sis_pipeline.defs.resources import WarehouseResource
from sis_pipeline.warehouse.cursors import read_watermarks
from sis_pipeline.warehouse.engine import create_warehouse_engine
from sis_pipeline.warehouse.run_lock import acquire_run_lock


def definitions(config_path):
    return build_definitions(load_config(config_path)).get_repository_def()


def tick(repository, config_path, url, instance, cursor=None):
    sensor = repository.get_sensor_def("springfield_changes")
    resources = {"warehouse": WarehouseResource(url=url), "integrations": load_config(config_path)}
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources, repository_def=repository)
    result = sensor.evaluate_tick(context)
    return result, context.cursor


def rename(district, *indexes):
    district.apply_changes(
        [{"op": "update", "collection": "students", "sourcedId": district.district.students.sourced_id(i), "fields": {"givenName": f"N{i}"}} for i in indexes]
    )


def stored_watermarks(url):
    engine = create_warehouse_engine(url)
    try:
        return read_watermarks(engine, "springfield")
    finally:
        engine.dispose()


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_the_sensor_skips_until_a_full_sync_and_then_until_something_changes(district, write_config, sync, warehouse_url, instance):
    config = write_config(district, poll_interval_seconds=30)
    repository = definitions(config)
    before, _ = tick(repository, config, warehouse_url, instance)
    assert not before.run_requests and "no watermark yet" in before.skip_message

    assert sync(config, warehouse_url)["status"] == "success"
    quiet, _ = tick(repository, config, warehouse_url, instance)
    assert not quiet.run_requests and "nothing changed" in quiet.skip_message


def test_a_change_requests_exactly_one_incremental_run_of_its_partition(district, write_config, sync, warehouse_url, instance):
    config = write_config(district, poll_interval_seconds=30)
    repository = definitions(config)
    assert sync(config, warehouse_url)["status"] == "success"
    rename(district, 5, 6)

    changed, cursor = tick(repository, config, warehouse_url, instance)
    assert len(changed.run_requests) == 1
    request = changed.run_requests[0]
    assert request.partition_key == "springfield" and request.run_config == run_config("incremental")
    assert request.job_name == CHANGES_JOB  # the whole-table checks are the nightly full sync's
    assert request.run_key.startswith("springfield:changes:")
    # the SIS host travels on the run, for a deployment's per-host run queue limit (docs/deploy.md)
    assert (request.tags[TRIGGER_TAG], request.tags[SIS_HOST_TAG]) == ("change_sensor", "127.0.0.1")
    assert "students (2 changed)" in changed.skip_message if changed.skip_message else True

    again, _ = tick(repository, config, warehouse_url, instance, cursor=cursor)
    assert not again.run_requests and "already requested" in again.skip_message

    # the requested run, as the daemon would launch it: only then does the watermark move, and the sensor go quiet
    job = repository.get_job(request.job_name)
    result = job.execute_in_process(instance=instance, partition_key="springfield", run_config=request.run_config,
                                    resources=build_resources(load_config(config), warehouse_url, str(instance.root_directory)))
    assert result.success
    quiet, _ = tick(repository, config, warehouse_url, instance, cursor=cursor)
    assert not quiet.run_requests and "nothing changed" in quiet.skip_message

    rename(district, 7)
    later, _ = tick(repository, config, warehouse_url, instance, cursor=cursor)
    assert len(later.run_requests) == 1 and later.run_requests[0].run_key != request.run_key


def test_no_run_is_requested_while_one_is_in_flight(district, write_config, sync, sqlite_url, instance):
    config = write_config(district, poll_interval_seconds=30)
    repository = definitions(config)
    assert sync(config, sqlite_url)["status"] == "success"
    rename(district, 9)

    instance.add_run(DagsterRun(job_name=SYNC_JOB, run_id="in-flight-run", tags={"dagster/partition": "springfield"}, status=dg.DagsterRunStatus.STARTED))
    busy, _ = tick(repository, config, sqlite_url, instance)
    assert not busy.run_requests and "in-flight-run is started" in busy.skip_message
    instance.report_run_canceled(instance.get_run_by_id("in-flight-run"))

    engine = create_warehouse_engine(sqlite_url)
    lock = acquire_run_lock(engine, "springfield", "cli-run")  # a `sis-pipeline sync` holding the integration
    try:
        elsewhere, _ = tick(repository, config, sqlite_url, instance)
        assert not elsewhere.run_requests and "in progress" in elsewhere.skip_message
    finally:
        lock.release()
        engine.dispose()
    free, _ = tick(repository, config, sqlite_url, instance)
    assert len(free.run_requests) == 1


def test_a_failed_run_moves_no_watermark_and_is_not_requested_again(district, write_config, sync, warehouse_url, instance):
    config = write_config(district, poll_interval_seconds=30, safety={"max_change_fraction": 0.001})
    repository = definitions(config)
    assert sync(config, warehouse_url)["status"] == "success"
    stored = stored_watermarks(warehouse_url)
    rename(district, *range(10))

    first, cursor = tick(repository, config, warehouse_url, instance)
    assert len(first.run_requests) == 1
    held = sync(config, warehouse_url, mode="incremental")  # beyond the safety limit: held, nothing applied
    assert held["status"] == "held"
    assert stored_watermarks(warehouse_url) == stored
    again, _ = tick(repository, config, warehouse_url, instance, cursor=cursor)
    assert not again.run_requests and "already requested" in again.skip_message


def test_a_sis_that_cannot_be_reached_is_a_skip_that_says_so(district, write_config, sync, sqlite_url, instance, monkeypatch):
    config = write_config(district, poll_interval_seconds=30)
    repository = definitions(config)
    assert sync(config, sqlite_url)["status"] == "success"
    monkeypatch.setenv("SPRINGFIELD_CLIENT_SECRET", "revoked-secret-value")
    refused, _ = tick(repository, config, sqlite_url, instance)
    assert not refused.run_requests and "could not ask for changes" in refused.skip_message
    assert "revoked-secret-value" not in refused.skip_message


def test_the_nightly_schedule_keeps_the_district_clock_across_daylight_saving(district, write_config):
    config = write_config(district, timezone="America/Chicago", schedule="30 2 * * *")
    repository = definitions(config)
    schedule = repository.get_schedule_def("springfield_nightly")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    zone = ZoneInfo("America/Chicago")
    start = datetime(2026, 10, 30, 12, tzinfo=zone).timestamp()
    ticks = []
    # the iterator the Dagster daemon's scheduler walks, over this schedule's cron line and time zone
    for moment in cron_string_iterator(start, schedule.cron_schedule, schedule.execution_timezone):
        ticks.append(moment.astimezone(zone))
        if len(ticks) == 4:
            break
    # 1 November 2026 ends daylight saving time in Chicago: 02:30 local every day, 07:30 then 08:30 UTC
    assert [(t.day, t.hour, t.minute) for t in ticks] == [(31, 2, 30), (1, 2, 30), (2, 2, 30), (3, 2, 30)]
    assert [t.utcoffset().total_seconds() / 3600 for t in ticks] == [-5, -6, -6, -6]

    request = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=ticks[1], repository_def=repository)).run_requests[0]
    assert request.partition_key == "springfield" and request.run_config == run_config("full")
    assert (request.tags[TRIGGER_TAG], request.tags[SIS_HOST_TAG]) == ("schedule", "127.0.0.1")


def test_schedule_and_sensor_can_be_switched_off(district, write_config):
    repository = definitions(write_config(district, schedule=None, poll_interval_seconds=None))
    assert not repository.schedule_defs
    assert "springfield_changes" not in {sensor.name for sensor in repository.sensor_defs}
    with pytest.raises(Exception, match="cron"):
        load_config(write_config(district, schedule="every night"))


def test_a_csv_package_requests_one_full_run_and_the_same_package_never_another(tmp_path, sync, sqlite_url, instance):
    from sis_pipeline_tests.helpers import FILES, csv_config, write_package

    package = write_package(tmp_path / "drop", FILES, dict.fromkeys(FILES, "bulk"), as_zip=False)
    config = Path(csv_config(tmp_path, package, fields={"poll_interval_seconds": 30}))
    repository = definitions(config)
    assert sync(config, sqlite_url)["status"] == "success"

    first, cursor = tick(repository, config, sqlite_url, instance)
    assert len(first.run_requests) == 1 and first.run_requests[0].run_config == run_config("full")
    assert first.run_requests[0].job_name == SYNC_JOB  # a package run as delivered is checked like any full sync
    again, cursor = tick(repository, config, sqlite_url, instance, cursor=cursor)
    assert not again.run_requests and "already requested" in again.skip_message

    users = package / "users.csv"  # tonight's drop: the same files, one of them rewritten
    users.write_bytes(users.read_bytes() + b"\r\n")
    changed, _ = tick(repository, config, sqlite_url, instance, cursor=cursor)
    assert len(changed.run_requests) == 1
