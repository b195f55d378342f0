"""The command line's way into the asset graph: the same assets, materialized in-process per integration."""

import os
import time

import dagster as dg

from sis_pipeline.config import PipelineConfig
from sis_pipeline.counts import COUNT_NAMES
from sis_pipeline.defs import build_resources, roster_assets
from sis_pipeline.errors import classify
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.warehouse.holds import find_hold
from sis_pipeline.warehouse.runs import read_sync_run

QUIET_DAGSTER = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def sync_instance() -> dg.DagsterInstance:
    """The deployment's instance when DAGSTER_HOME is set (runs then show in the UI), else a throwaway one."""
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def sync_integrations(
    config: PipelineConfig,
    names: list[str],
    *,
    mode: str = "full",
    instance: dg.DagsterInstance | None = None,
    resources: dict | None = None,
) -> dict:
    """Run the roster assets for each named integration, one after another; one failing stops no other."""
    assets = roster_assets(config)
    resources = resources or build_resources(config)
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
                run_config={**QUIET_DAGSTER, "ops": {"raw_rosters": {"config": {"mode": mode}}}},
                raise_on_error=False,
            )
        except Exception as exc:  # a failure before any step ran (e.g. resources that cannot start)
            report[name] = _failed(str(exc), classify(exc), started)
            continue
        report[name] = _summary(result, name, resources["warehouse"], started)
    return {"integrations": report}


def _summary(result: dg.ExecuteInProcessResult, name: str, warehouse, started: float) -> dict:
    if result.success:
        entities, api = {}, {}
        for event in result.get_asset_materialization_events():
            key, metadata = event.asset_key.path, event.materialization.metadata
            if len(key) == 2 and key[0] == "warehouse":
                entities[key[1]] = {count: metadata[count].value for count in COUNT_NAMES}
            elif key == ["raw_rosters"]:
                api = {name.removeprefix("api_"): value.value for name, value in metadata.items() if name.startswith("api_")}
        return {
            "status": "success",
            "run_id": result.run_id,
            "seconds": round(time.perf_counter() - started, 2),
            "entities": {entity: entities[entity] for entity in ENTITIES if entity in entities},
            "api": api,
        }
    # The failing step recorded its error, already classified, in sync_runs.
    try:
        record = read_sync_run(warehouse.engine(), result.run_id, name) or {}
    except Exception:  # the warehouse itself may be what failed
        record = {}
    if record.get("status") == "held":
        return _held(warehouse, result.run_id, name, started)
    failure = next((e for e in result.all_events if e.is_step_failure), None)
    fallback = failure.step_failure_data.error.message.strip() if failure else "run failed"
    item = _failed(record.get("error") or fallback, record.get("error_class") or "internal", started)
    return item | {"run_id": result.run_id}


def _held(warehouse, run_id: str, name: str, started: float) -> dict:
    """Nothing was applied; the report says what the load would have done (sis-pipeline holds show RUN)."""
    report = find_hold(warehouse.engine(), run_id, name)["report"]
    return {
        "status": "held",
        "run_id": run_id,
        "seconds": round(time.perf_counter() - started, 2),
        "entities": {},
        "hold": report,
    }


def _failed(message: str, error_class: str, started: float) -> dict:
    return {
        "status": "failed",
        "seconds": round(time.perf_counter() - started, 2),
        "error_class": error_class,
        "error": message,
        "entities": {},
    }
