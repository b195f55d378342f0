"""Token health in Dagster: a sensor that warns when an integration can no longer obtain a token."""

import dagster as dg
from sqlalchemy import func, select

from sis_pipeline.defs.resources import WarehouseResource
from sis_pipeline.warehouse.schema import sync_runs
from sis_pipeline.warehouse.tokens import token_status


def token_problems(warehouse: WarehouseResource, names: list[str]) -> dict[str, str]:
    """Per integration in trouble: why. Reads the warehouse only; the SIS is never called from here."""
    engine = warehouse.engine()
    latest = (
        select(sync_runs.c.integration, func.max(sync_runs.c.started_at).label("started_at"))
        .where(sync_runs.c.status != "running")
        .group_by(sync_runs.c.integration)
        .subquery()
    )
    query = select(sync_runs.c.integration, sync_runs.c.error_class, sync_runs.c.error).join(
        latest, (sync_runs.c.integration == latest.c.integration) & (sync_runs.c.started_at == latest.c.started_at)
    )
    with engine.connect() as conn:
        last_runs = conn.execute(query).all()
    problems = {
        run.integration: f"its last run could not authenticate: {run.error}"
        for run in last_runs
        if run.integration in names and run.error_class == "auth"
    }
    for token in token_status(engine):
        if token["integration"] in names and not token["valid"] and token["integration"] not in problems:
            problems[token["integration"]] = f"its stored token expired at {token['expires_at']}"
    return problems


def build_token_health_sensor(names: list[str]) -> dg.SensorDefinition:
    @dg.sensor(name="token_health_sensor", minimum_interval_seconds=1800, default_status=dg.DefaultSensorStatus.RUNNING)
    def token_health_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        """Warns when an integration can no longer obtain a token (its last run failed to authenticate)."""
        problems = token_problems(warehouse, names)
        for name, why in problems.items():
            context.log.warning(f"{name}: {why}")
        if problems:
            return dg.SkipReason("token trouble: " + "; ".join(f"{name}: {why}" for name, why in sorted(problems.items())))
        return dg.SkipReason(f"tokens healthy for {len(names)} integration(s)")

    return token_health_sensor
