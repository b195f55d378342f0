"""Every step of a run keeps the run's record in `sync_runs` (owned by warehouse/runs.py) up to date."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from sis_pipeline.errors import classify
from sis_pipeline.warehouse.runs import finish_sync_run, start_sync_run


@contextmanager
def recorded_sync_step(engine: Engine, run_id: str, integration: str, mode: str) -> Iterator[None]:
    """One step of a run: the run is open while it works, and closed as failed (with its error class) if it fails."""
    start_sync_run(engine, run_id, integration, mode)
    try:
        yield
    except Exception as exc:
        finish_sync_run(engine, run_id, integration, "failed", {}, error_class=classify(exc), error=str(exc))
        raise
