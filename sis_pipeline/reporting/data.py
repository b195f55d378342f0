"""The report's numbers for one integration and run, assembled from the warehouse as plain JSON-ready data.

Counts come from `sync_runs` (what the run itself recorded), check outcomes from `check_results`,
rejection reasons from `rejected_records` grouped in SQL. Nothing here renders.
"""

from sqlalchemy import Engine

from sis_pipeline.counts import LOAD_COUNTS
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.reporting.rejections_summary import rejection_summary
from sis_pipeline.warehouse.check_results import read_check_results
from sis_pipeline.warehouse.runs import find_run, run_history

HISTORY_RUNS = 30
ENTITY_COUNTS = ("fetched", "staged", *LOAD_COUNTS, "rejected")
CHECK_FIELDS = ("entity", "check_name", "severity", "outcome", "observed", "threshold", "detail")


class RunNotFound(LookupError):
    pass


def integration_report(engine: Engine, integration: str, run_id: str | None = None, *, personal_data: bool = False) -> dict:
    """One integration's report on `run_id` (default: its newest finished run) and its last 30 runs."""
    history = run_history(engine, integration, HISTORY_RUNS)
    run = _chosen_run(engine, integration, run_id, history)
    counts = run["counts"] or {}
    return {
        "integration": integration,
        "run": _run_summary(run, personal_data),
        "entities": entity_counts(counts),
        "checks": [{key: row[key] for key in CHECK_FIELDS} for row in read_check_results(engine, integration, run["run_id"])],
        "errors": rejection_summary(engine, integration, run["run_id"], with_payloads=personal_data),
        "warnings": {entity: counts.get("warnings", {})[entity] for entity in ENTITIES if entity in counts.get("warnings", {})},
        "history": [_history_point(record) for record in history],
    }


def entity_counts(counts: dict) -> dict[str, dict[str, int]]:
    """Per loaded entity, what the run fetched, staged, wrote and refused (sync_runs.counts, reshaped)."""
    loaded = [entity for entity in ENTITIES if isinstance(counts.get(entity), dict)]
    return {
        entity: {
            "fetched": counts.get("fetched", {}).get(entity, 0),
            **{name: counts[entity].get(name, 0) for name in ("staged", *LOAD_COUNTS)},
            "rejected": counts.get("rejected", {}).get(entity, 0),
        }
        for entity in loaded
    }


def _chosen_run(engine: Engine, integration: str, run_id: str | None, history: list[dict]) -> dict:
    if run_id is None:
        finished = [record for record in history if record["status"] != "running"]
        if not finished and not history:
            raise RunNotFound(f"{integration}: no recorded runs")
        return (finished or history)[-1]
    record = next((r for r in history if r["run_id"] == run_id), None) or find_run(engine, integration, run_id)
    if record is None:
        raise RunNotFound(f"{integration}: no run {run_id}")
    return record


def _run_summary(run: dict, personal_data: bool) -> dict:
    """The run's outcome; its error message only with personal data, since a database error may quote a row."""
    return {
        "run_id": run["run_id"],
        "status": run["status"],
        "mode": run["mode"],
        "started_at": run["started_at"].isoformat(),
        "ended_at": run["ended_at"].isoformat() if run["ended_at"] else None,
        "seconds": _seconds(run),
        "error_class": run["error_class"],
        **({"error": run["error"]} if personal_data else {}),
        # a delivery byte-identical to that run's: recorded on its load, nothing normalised or loaded
        "unchanged_since": ((run["counts"] or {}).get("delivery") or {}).get("unchanged_since"),
    }


def _history_point(run: dict) -> dict:
    counts = entity_counts(run["counts"] or {})
    return {
        "run_id": run["run_id"],
        "status": run["status"],
        "started_at": run["started_at"].isoformat(),
        "rows": sum(entity["staged"] for entity in counts.values()),
        "rejected": sum(entity["rejected"] for entity in counts.values()),
        "seconds": _seconds(run),
    }


def _seconds(run: dict) -> float | None:
    if run["ended_at"] is None:
        return None
    return round((run["ended_at"] - run["started_at"]).total_seconds(), 2)
