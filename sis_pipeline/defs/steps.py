"""Every step of a run keeps the run's record in `sync_runs` (owned by warehouse/runs.py) up to date."""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
from sqlalchemy import Engine

from sis_pipeline.defs.resources import WarehouseResource
from sis_pipeline.errors import classify, describe
from sis_pipeline.signals import signals_as_interrupts
from sis_pipeline.warehouse.errors import SyncHeld
from sis_pipeline.warehouse.runs import finish_sync_run, start_sync_run

log = logging.getLogger(__name__)


@contextmanager
def recorded_sync_step(
    warehouse: WarehouseResource, run_id: str, integration: str, mode: str, *, hold_run_lock: Callable[[str, str], None]
) -> Iterator[Engine]:
    """One step of a run, handed the warehouse engine: the run is open while it works, and closed as failed
    (with its error class) if it fails, however it fails.

    An error becomes a `dg.Failure` whose description is the one line an operator reads and whose
    metadata carries the class, so the UI and the command line can say what went wrong even when the
    warehouse itself is what failed and the run could not be recorded. An interruption (SIGTERM, SIGINT,
    a run terminated from the UI; see sis_pipeline/signals.py) is recorded as `interrupted` and re-raised
    as it is, so Dagster still sees the run as interrupted.

    Before any work the step holds the integration's run lock (`RunLockResource.hold`): the run's first
    step takes it, or the run is refused and recorded as failed (`concurrent_run`). A held load is not a
    failure: the load closed the run as held, with its report, and the caller says so.
    """
    engine = None
    try:
        with signals_as_interrupts():  # a KeyboardInterrupt, which psycopg answers by cancelling the statement
            engine = warehouse.engine()
            start_sync_run(engine, run_id, integration, mode)
            hold_run_lock(integration, run_id)
            yield engine
    except SyncHeld:
        raise
    except BaseException as exc:
        error_class, message = classify(exc), describe(exc)
        if engine is not None:
            _record_failure(engine, run_id, integration, error_class, message)
        if not isinstance(exc, Exception):
            raise
        raise dg.Failure(
            description=f"{integration}: failed ({error_class}): {message}",
            metadata={"error_class": error_class, "error": message},
        ) from exc


def _record_failure(engine: Engine, run_id: str, integration: str, error_class: str, message: str) -> None:
    """Close the run as failed; if even that fails (the warehouse is gone), say so and keep the original error."""
    try:
        finish_sync_run(engine, run_id, integration, "failed", {}, error_class=error_class, error=message)
    except Exception as unrecorded:
        log.warning("%s: run %s could not be recorded as failed (%s): %s", integration, run_id, error_class, describe(unrecorded))
