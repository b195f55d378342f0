"""What runs the syncs when nobody is watching: a nightly full sync and a change sensor per integration.

Both are on by default whenever the Dagster daemon runs (`dagster dev` included), as configured per
integration in integrations.yaml (`schedule`, `poll_interval_seconds`; null switches either off).
One run per integration at a time: runs queue on the `dagster/partition` tag (dagster.yaml), the
sensor asks nothing while one is in flight, and the run lock refuses a second one from anywhere else.
"""

import hashlib
import json
from datetime import UTC, datetime
from urllib.parse import urlparse

import dagster as dg

from sis_pipeline.config import IntegrationConfig, PipelineConfig
from sis_pipeline.defs.resources import WarehouseResource, open_provider
from sis_pipeline.errors import describe
from sis_pipeline.warehouse.cursors import read_watermarks
from sis_pipeline.warehouse.run_lock import run_in_progress

SYNC_JOB = "sync_rosters"
CHANGES_JOB = "sync_roster_changes"
TRIGGER_TAG = "sis_pipeline/trigger"
# The SIS server a run talks to. Several integrations (districts of a state) often share one PowerSchool or
# ClassLink host, while requests_per_minute is per integration: a deployment caps runs per host with a run
# queue limit on this tag (docs/deploy.md).
SIS_HOST_TAG = "sis_pipeline/sis_host"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def roster_selection(mode: str) -> dg.AssetSelection:
    """What a run of `mode` materializes: the roster graph, with the checks of its tables for a full sync.

    An incremental run leaves them out: they look at whole tables (37 set-based queries, about 23 s at
    100,000 students), three times what applying a few changes costs, and every full sync runs them
    (docs/decisions.md).
    """
    graph = dg.AssetSelection.groups("rosters", "warehouse")
    return graph if mode == "full" else graph.without_checks()


def sync_job(partitions: dg.PartitionsDefinition):
    """The whole roster graph for one integration (partition) with the checks of its tables: what the
    schedule and the UI run."""
    return dg.define_asset_job(SYNC_JOB, selection=roster_selection("full"), partitions_def=partitions, description=sync_job.__doc__)


def changes_job(partitions: dg.PartitionsDefinition):
    """The roster graph without the table checks: what the change sensor runs (see `roster_selection`)."""
    return dg.define_asset_job(
        CHANGES_JOB, selection=roster_selection("incremental"), partitions_def=partitions, description=changes_job.__doc__
    )


def run_config(mode: str) -> dict:
    return {"ops": {"raw_rosters": {"config": {"mode": mode}}}}


def run_tags(integration: IntegrationConfig, trigger: str) -> dict[str, str]:
    """Who asked for the run, and which SIS host it will call (none for a file drop read from disk)."""
    host = urlparse(integration.base_url).hostname if integration.base_url else None
    return {TRIGGER_TAG: trigger} | ({SIS_HOST_TAG: host} if host else {})


def nightly_schedule(integration: IntegrationConfig, job) -> dg.ScheduleDefinition:
    """The full sync at `schedule` on the integration's own clock (DST included): the backstop for every
    change a sensor cannot see, and the only run that archives what the SIS stopped listing."""
    name = integration.name

    @dg.schedule(
        name=f"{name}_nightly",
        cron_schedule=integration.schedule,
        execution_timezone=integration.timezone,
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Full sync of {name} at '{integration.schedule}' ({integration.timezone}).",
    )
    def _nightly(context: dg.ScheduleEvaluationContext):
        scheduled = context.scheduled_execution_time
        return dg.RunRequest(
            run_key=f"{name}:full:{scheduled.isoformat()}" if scheduled else None,
            partition_key=name,
            run_config=run_config("full"),
            tags=run_tags(integration, "schedule"),
        )

    return _nightly


def change_sensor(integration: IntegrationConfig, jobs) -> dg.SensorDefinition:
    """Every `poll_interval_seconds`, asks the SIS whether anything changed after the watermarks and
    requests one incremental run of this integration when it did (a changed file drop: a full run)."""
    name = integration.name

    @dg.sensor(
        name=f"{name}_changes",
        jobs=jobs,
        minimum_interval_seconds=integration.poll_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Incremental sync of {name} when its SIS reports a change (every {integration.poll_interval_seconds}s).",
    )
    def _changes(context: dg.SensorEvaluationContext, integrations: dg.ResourceParam[PipelineConfig], warehouse: WarehouseResource):
        return evaluate_changes(context, integrations.integration(name), warehouse)

    return _changes


def evaluate_changes(context: dg.SensorEvaluationContext, integration: IntegrationConfig, warehouse: WarehouseResource):
    """One tick of a change sensor: a RunRequest, or a SkipReason that says why not in one line."""
    name = integration.name
    in_flight = context.instance.get_runs(dg.RunsFilter(tags={"dagster/partition": name}, statuses=IN_FLIGHT), limit=1)
    if in_flight:
        return dg.SkipReason(f"{name}: run {in_flight[0].run_id} is {in_flight[0].status.value.lower()}; asking again next tick")
    try:
        engine = warehouse.engine()
        if run_in_progress(engine, name):
            return dg.SkipReason(f"{name}: a sync started elsewhere (command line, hold approval) is in progress")
        watermarks = read_watermarks(engine, name)
        provider = open_provider(integration, warehouse)
        try:
            mode = getattr(provider, "change_run_mode", "incremental")
            # an incremental run needs somewhere to start from; a file drop is run as delivered
            if mode == "incremental" and not watermarks:
                return dg.SkipReason(f"{name}: no watermark yet; the first full sync (schedule, UI or `sis-pipeline sync`) sets them")
            probe = provider.probe_changes(watermarks)
        finally:
            provider.close()
    except Exception as exc:  # the SIS or the warehouse is down: say so, ask again next tick
        return dg.SkipReason(f"{name}: could not ask for changes ({describe(exc)}); asking again next tick")
    if not probe.changed:
        return dg.SkipReason(f"{name}: {probe.detail}")
    key = change_run_key(name, watermarks, probe.token)
    previous = json.loads(context.cursor) if context.cursor else {}
    # The same change seen again (a failed or held run moved no watermark), or the same file package after
    # its run moved the watermarks: never requested twice.
    if previous.get("run_key") == key or (probe.token is not None and previous.get("token") == probe.token):
        return dg.SkipReason(
            f"{name}: {probe.detail}; already requested as {key} (a failed run is not repeated: the nightly full sync is the backstop)"
        )
    context.update_cursor(
        json.dumps({"run_key": key, "token": probe.token, "requested_at": datetime.now(UTC).isoformat(),
                    "watermarks": {c: w.isoformat() for c, w in sorted(watermarks.items())}})
    )
    context.log.info(f"{name}: {probe.detail}; requesting one {mode} run")
    return dg.RunRequest(
        run_key=key,
        partition_key=name,
        run_config=run_config(mode),
        job_name=CHANGES_JOB if mode == "incremental" else SYNC_JOB,
        tags=run_tags(integration, "change_sensor"),
    )


def change_run_key(name: str, watermarks: dict[str, datetime], token: str | None) -> str:
    """The same watermarks and the same change seen give the same key: Dagster never runs a key twice."""
    seen = json.dumps({"watermarks": {c: w.isoformat() for c, w in sorted(watermarks.items())}, "token": token}, sort_keys=True)
    return f"{name}:changes:{hashlib.sha256(seen.encode()).hexdigest()[:16]}"


def automation(config: PipelineConfig, job, changes) -> tuple[list[dg.ScheduleDefinition], list[dg.SensorDefinition]]:
    """The schedules (running `job`) and change sensors (running `changes`, or `job` for a file drop) the configuration asks for."""
    schedules = [nightly_schedule(i, job) for i in config.integrations if i.schedule is not None]
    sensors = [change_sensor(i, [job, changes]) for i in config.integrations if i.poll_interval_seconds is not None]
    return schedules, sensors
