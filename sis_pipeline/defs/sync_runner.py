"""The command line's way into the asset graph: the same assets, materialized in-process per integration."""

import logging
import os
import time
import traceback

import dagster as dg

from sis_pipeline.config import PipelineConfig
from sis_pipeline.counts import COUNT_NAMES
from sis_pipeline.defs import build_resources, roster_assets
from sis_pipeline.defs.automation import roster_selection
from sis_pipeline.errors import classify, describe
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.warehouse.holds import find_hold
from sis_pipeline.warehouse.runs import fail_if_running, read_sync_run

log = logging.getLogger(__name__)
# How Dagster names an interruption in a failure's error info (a signal, or termination from the UI).
INTERRUPTIONS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt", "RunInterrupted"}


def sync_instance() -> dg.DagsterInstance:
    """The deployment's instance when DAGSTER_HOME is set (runs then show in the UI), else a throwaway one."""
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def sync_integrations(
    config: PipelineConfig,
    names: list[str],
    *,
    mode: str = "full",
    reprocess: bool = False,
    instance: dg.DagsterInstance | None = None,
    resources: dict | None = None,
    dagster_log_level: str = "WARNING",
) -> dict:
    """Run the roster assets for each named integration, one after another; one failing stops no other.

    An interrupted run stops the rest: they are reported `not started`, and the report says `interrupted`.
    `dagster_log_level` is the level of Dagster's own console log (its step failures carry tracebacks).
    `reprocess`: normalise and load a full sync's delivery even when it is byte-identical to the last one.
    """
    assets = roster_assets(config)
    resources = resources or build_resources(config)
    instance = instance or sync_instance()
    run_config = {
        "loggers": {"console": {"config": {"log_level": dagster_log_level}}},
        "ops": {"raw_rosters": {"config": {"mode": mode, "reprocess": reprocess}}},
    }
    selection = roster_selection(mode)  # what the schedule's and the change sensor's runs materialize too
    report, interrupted = {}, False
    for name in names:
        if interrupted:
            report[name] = _failed("not started: the sync was interrupted", "interrupted", time.perf_counter(), "not started")
            continue
        started = time.perf_counter()
        try:
            result = dg.materialize(
                assets, partition_key=name, resources=resources, instance=instance, run_config=run_config, raise_on_error=False,
                selection=selection,
            )
        except Exception as exc:  # a failure before any step ran (e.g. resources that cannot start)
            report[name] = _failed(describe(exc), classify(exc), started) | {"traceback": "".join(traceback.format_exception(exc))}
            continue
        report[name] = _summary(result, name, resources["warehouse"], started)
        interrupted = report[name].get("error_class") == "interrupted"
    return {"integrations": report} | ({"interrupted": True} if interrupted else {})


def _summary(result: dg.ExecuteInProcessResult, name: str, warehouse, started: float) -> dict:
    if result.success or _only_blocking_checks_failed(result):
        entities, api, unchanged_since = {}, {}, None
        for event in result.get_asset_materialization_events():
            key, metadata = event.asset_key.path, event.materialization.metadata
            if len(key) == 2 and key[0] == "warehouse":
                entities[key[1]] = {count: metadata[count].value for count in COUNT_NAMES}
                unchanged_since = metadata["unchanged_since"].value if "unchanged_since" in metadata else None
            elif key == ["raw_rosters"]:
                api = {name.removeprefix("api_"): value.value for name, value in metadata.items() if name.startswith("api_")}
        loaded = {
            "status": "success",
            "run_id": result.run_id,
            "seconds": round(time.perf_counter() - started, 2),
            "entities": {entity: entities[entity] for entity in ENTITIES if entity in entities},
            "api": api,
            "checks": _checks(result),
            # the delivery was byte-identical to this run's: recorded without normalising or loading
            **({"unchanged_since": unchanged_since} if unchanged_since else {}),
        }
        return loaded if result.success else loaded | _blocked(loaded["checks"])
    if _step_failure_metadata(result).get("outcome") == "held":
        return _held(warehouse, result.run_id, name, started)
    error_class, message = _failure(result, name, warehouse)
    return _failed(message, error_class, started) | {"run_id": result.run_id}


def _checks(result: dg.ExecuteInProcessResult) -> dict:
    """How many checks passed, and each failed one with its one-line detail (ids at most)."""
    evaluations = result.get_asset_check_evaluations()
    failed = [
        {
            "check": f"{e.asset_check_key.asset_key.path[-1]}/{e.asset_check_key.name}",
            "severity": e.severity.value,
            "detail": e.description,
        }
        for e in evaluations
        if not e.passed
    ]
    return {"passed": sum(e.passed for e in evaluations), "failed": failed}


def _only_blocking_checks_failed(result: dg.ExecuteInProcessResult) -> bool:
    """The tables loaded and only a blocking ERROR check failed its step (Dagster fails a step so)."""
    failures = [event for event in result.all_events if event.is_step_failure]
    return bool(failures) and all(
        event.step_failure_data.error.cls_name == "DagsterAssetCheckFailedError" for event in failures
    )


def _blocked(checks: dict) -> dict:
    """The load committed, but a blocking check says the roster is not to be trusted: the sync reports failed."""
    errors = [f"{c['check']} ({c['detail']})" for c in checks["failed"] if c["severity"] == "ERROR"]
    return {"status": "failed", "error_class": "quality", "error": "blocking checks failed: " + "; ".join(errors)}


def _failure(result: dg.ExecuteInProcessResult, name: str, warehouse) -> tuple[str, str]:
    """The class and one-line message of a failed run.

    The failing step decided both once (`recorded_sync_step`): recorded in sync_runs and carried by its
    `dg.Failure`, which the command line reads here, so a warehouse that is itself the failure is not asked
    again. A run that stopped where no step could record it (between steps, in an IO manager) is closed here.
    """
    failure = next((e for e in result.all_events if e.is_step_failure), None)
    decided = _step_failure_metadata(result)
    if "error_class" in decided:
        return decided["error_class"], decided["error"]
    if _interrupted(result):
        error_class, message = "interrupted", "interrupted: the run was stopped between steps (a signal to its process)"
    else:
        error_class, message = "internal", _innermost_message(failure) if failure else "run failed before any step"
    try:
        engine = warehouse.engine()
        if not fail_if_running(engine, result.run_id, name, error_class, message):
            record = read_sync_run(engine, result.run_id, name) or {}
            error_class, message = record.get("error_class") or error_class, record.get("error") or message
    except Exception as unrecorded:  # the warehouse may be what failed
        log.warning("%s: run %s could not be closed as failed: %s", name, result.run_id, describe(unrecorded))
    return error_class, message


def _step_failure_metadata(result: dg.ExecuteInProcessResult) -> dict:
    """What the failing step said about its failure (`dg.Failure` metadata), if it said anything."""
    failure = next((e for e in result.all_events if e.is_step_failure), None)
    user = failure.step_failure_data.user_failure_data if failure else None
    return {key: value.value for key, value in user.metadata.items()} if user else {}


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


def _innermost_message(failure: dg.DagsterEvent) -> str:
    """What the user code raised, not Dagster's "Error occurred while executing op" around it."""
    error = failure.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    return " ".join(error.message.split())


def _interrupted(result: dg.ExecuteInProcessResult) -> bool:
    errors = (getattr(event.event_specific_data, "error", None) for event in result.all_events)
    return any(error is not None and error.cls_name in INTERRUPTIONS for error in errors)


def _failed(message: str, error_class: str, started: float, status: str = "failed") -> dict:
    return {
        "status": status,
        "seconds": round(time.perf_counter() - started, 2),
        "error_class": error_class,
        "error": message,
        "entities": {},
    }
