"""Sensors: Dagster warns when an integration can no longer obtain a token."""

import dagster as dg

from sis_pipeline.config import PipelineConfig
from sis_pipeline.defs.resources import WarehouseResource
from sis_pipeline.warehouse.runs import fail_if_running, latest_finished_runs
from sis_pipeline.warehouse.tokens import token_status


def token_problems(warehouse: WarehouseResource, names: list[str]) -> dict[str, str]:
    """Per integration in trouble: why. Reads the warehouse only; the SIS is never called from here."""
    engine = warehouse.engine()
    problems = {
        run["integration"]: f"its last run could not authenticate: {run['error']}"
        for run in latest_finished_runs(engine)
        if run["integration"] in names and run["error_class"] == "auth"
    }
    for token in token_status(engine):
        if token["integration"] in names and not token["valid"] and token["integration"] not in problems:
            problems[token["integration"]] = f"its stored token expired at {token['expires_at']}"
    return problems


@dg.sensor(minimum_interval_seconds=1800, default_status=dg.DefaultSensorStatus.RUNNING)
def token_health_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, integrations: dg.ResourceParam[PipelineConfig]
):
    """Warns when an integration can no longer obtain a token (its last run failed to authenticate)."""
    names = integrations.names
    problems = token_problems(warehouse, names)
    for name, why in problems.items():
        context.log.warning(f"{name}: {why}")
    if problems:
        return dg.SkipReason("token trouble: " + "; ".join(f"{name}: {why}" for name, why in sorted(problems.items())))
    return dg.SkipReason(f"tokens healthy for {len(names)} integration(s)")


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.CANCELED, default_status=dg.DefaultSensorStatus.RUNNING)
def terminated_run_sensor(context: dg.RunStatusSensorContext, warehouse: WarehouseResource):
    """Closes the warehouse's record of a run terminated in Dagster between two steps, so it never stays `running`.

    A run terminated during a step is closed by that step (`interrupted`); between steps no code of ours runs.
    """
    run = context.dagster_run
    integration = run.tags.get("dagster/partition")
    if integration is None:
        return dg.SkipReason(f"run {run.run_id} synced no integration")
    closed = fail_if_running(
        warehouse.engine(), run.run_id, integration, "interrupted", "interrupted: the run was terminated in Dagster"
    )
    if closed:
        context.log.warning(f"{integration}: run {run.run_id} was terminated between steps; recorded as interrupted")
    return dg.SkipReason(f"{integration}: run {run.run_id} " + ("recorded as interrupted" if closed else "already closed"))
