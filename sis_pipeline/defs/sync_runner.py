"""The command line's way into the asset graph: the same assets, materialized in-process per integration."""

import os
import time

import dagster as dg

from sis_pipeline.config import PipelineConfig
from sis_pipeline.defs import build_resources
from sis_pipeline.defs.assets import COUNT_NAMES, MODE_TAG, build_roster_assets, roster_partitions
from sis_pipeline.errors import classify
from sis_pipeline.normalize.models import ENTITIES

QUIET_DAGSTER = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def sync_instance() -> dg.DagsterInstance:
    """The deployment's instance when DAGSTER_HOME is set (runs then show in the UI), else a throwaway one."""
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def sync_integrations(
    config: PipelineConfig,
    config_file: str,
    names: list[str],
    *,
    mode: str = "full",
    instance: dg.DagsterInstance | None = None,
    resources: dict | None = None,
) -> dict:
    """Run the roster assets for each named integration, one after another; one failing stops no other."""
    assets = build_roster_assets(roster_partitions(config.names))
    resources = resources or build_resources(config_file)
    instance = instance or sync_instance()
    report = {}
    for name in names:
        started = time.perf_counter()
        try:
            result = dg.materialize(
                assets,
                partition_key=name,
                resources=resources,
                instance=instance,
                tags={MODE_TAG: mode},
                run_config=QUIET_DAGSTER,
                raise_on_error=False,
            )
        except Exception as exc:  # a failure before any step ran (e.g. resources that cannot start)
            report[name] = _failed(str(exc), classify(exc), started)
            continue
        report[name] = _summary(result, started)
    return {"integrations": report}


def _summary(result: dg.ExecuteInProcessResult, started: float) -> dict:
    entities = {}
    for event in result.get_asset_materialization_events():
        key = event.asset_key.path
        if len(key) == 2 and key[0] == "warehouse":
            metadata = event.materialization.metadata
            entities[key[1]] = {name: metadata[name].value for name in COUNT_NAMES}
    if result.success:
        return {
            "status": "success",
            "run_id": result.run_id,
            "seconds": round(time.perf_counter() - started, 2),
            "entities": {entity: entities[entity] for entity in ENTITIES if entity in entities},
        }
    failure = next((e for e in result.all_events if e.is_step_failure), None)
    error = failure.step_failure_data.error if failure else None
    message = (error.cause.message if error and error.cause else error.message) if error else "run failed"
    item = _failed(message.strip().splitlines()[-1] if message.strip() else "run failed", _error_class(error), started)
    return item | {"run_id": result.run_id}


def _error_class(error) -> str:
    names = []
    while error is not None:
        names.append(error.cls_name or "")
        error = error.cause
    known = {"AuthError": "auth", "RateLimitError": "rate_limit", "NetworkError": "network", "ServerError": "server",
             "DataError": "data", "ClientError": "data", "ConfigError": "config", "WarehouseSafetyError": "data"}
    return next((known[n] for n in names if n in known), "internal")


def _failed(message: str, error_class: str, started: float) -> dict:
    return {
        "status": "failed",
        "seconds": round(time.perf_counter() - started, 2),
        "error_class": error_class,
        "error": message,
        "entities": {},
    }
