"""Every step of a run keeps the run's record in `sync_runs` (owned by warehouse/runs.py) up to date."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from sis_pipeline.errors import classify
from sis_pipeline.warehouse.errors import SyncHeld
from sis_pipeline.warehouse.runs import finish_sync_run, start_sync_run


@contextmanager
def recorded_sync_step(
    engine: Engine, run_id: str, integration: str, mode: str, *, hold_run_lock: Callable[[str, str], None]
) -> Iterator[None]:
    """One step of a run: the run is open while it works, and closed as failed (with its error class) if it fails.

    Before any work the step holds the integration's run lock (`RunLockResource.hold`): the
    run's first step takes it, or the run is refused and recorded as failed (`concurrent_run`).
    """
    start_sync_run(engine, run_id, integration, mode)
    try:
        hold_run_lock(integration, run_id)
        yield
    except SyncHeld:
        raise  # the load closed the run as held, with its report: it did not fail
    except Exception as exc:
        finish_sync_run(engine, run_id, integration, "failed", {}, error_class=classify(exc), error=str(exc))
        raise
