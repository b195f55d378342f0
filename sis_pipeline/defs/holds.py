"""What `sis-pipeline holds approve | discard` does: apply exactly what a run held, or drop it.

An approval loads the held run's own staged files again, under the integration's run lock, with no
safety limits (a person looked) but with every other guard of the load, and closes the held run as
success. It is refused while another run of the integration is in progress, when a newer run has
succeeded since (the held data is older than the warehouse's), and when the staged files are gone.
"""

from pathlib import Path

from sqlalchemy import Engine

from sis_pipeline.datasets import RosterDatasets
from sis_pipeline.defs.resources import StagingResource, dataset_paths
from sis_pipeline.defs.warehouse_tables import load_staged
from sis_pipeline.warehouse.holds import discard_hold, find_hold, mark_approved
from sis_pipeline.warehouse.loader import EntityCounts
from sis_pipeline.warehouse.run_lock import acquire_run_lock
from sis_pipeline.warehouse.runs import newer_successful_run


class HoldRefused(Exception):
    """An approval or a discard that cannot be done; the message says why."""


def approve(engine: Engine, staging: StagingResource, run_id: str, integration: str | None = None) -> tuple[str, dict[str, EntityCounts]]:
    """Apply a pending hold; returns the integration and what the load did."""
    name = find_hold(engine, run_id, integration)["integration"]
    lock = acquire_run_lock(engine, name, run_id)
    try:
        hold = find_hold(engine, run_id, name)  # read again under the lock: another approval may have won
        _check_pending(hold)
        if hold["handle"] is None:
            raise HoldRefused(f"{name}: run {run_id} kept no staged data to apply; discard it")
        newer = newer_successful_run(engine, name, run_id)
        if newer is not None:
            raise HoldRefused(
                f"{name}: run {run_id} cannot be approved: run {newer['run_id']} started after it and succeeded, so "
                "the held data is older than the warehouse's; discard it"
            )
        document = {key: value for key, value in hold["handle"].items() if key != "type"}
        staged = RosterDatasets.model_validate(document)
        missing = [path for path in dataset_paths(document) if not Path(path).exists()]
        if missing:
            raise HoldRefused(f"{name}: run {run_id} cannot be approved: {len(missing)} of its staged files are gone; discard it")
        counts = load_staged(engine, staged, run_id=run_id, safety=None)
        mark_approved(engine, run_id, name)
    finally:
        lock.release()
    staging.release_held(name, run_id)
    staging.mark_loaded(name, staged)
    return name, counts


def discard(engine: Engine, staging: StagingResource, run_id: str, integration: str | None = None) -> str:
    """Mark a pending hold discarded (nothing is applied, ever); returns the integration."""
    hold = find_hold(engine, run_id, integration)
    _check_pending(hold)
    if not discard_hold(engine, run_id, hold["integration"]):
        raise HoldRefused(f"{hold['integration']}: run {run_id} was decided meanwhile")
    staging.release_held(hold["integration"], run_id)
    return hold["integration"]


def _check_pending(hold: dict) -> None:
    if hold["decision"] is not None or hold["status"] != "held":
        state = hold["decision"] or f"now {hold['status']}"
        raise HoldRefused(f"{hold['integration']}: run {hold['run_id']} is no longer pending ({state})")
