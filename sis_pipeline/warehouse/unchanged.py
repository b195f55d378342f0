"""An unchanged delivery: when a full sync may stand on the last one's load instead of normalising and loading.

A full sync of a delivery byte-identical to the latest run's (delivery.py: same pages, modes, settings
and code) would compute the same rows and write nothing, unless something besides the delivery changed.
`unchanged_reference` finds the run it may stand on, `record_unchanged` closes the run as a success with
that run's counts (nothing inserted, updated or archived) after checking again under the load's lock.

It may stand on the latest run of the integration only when that run
- succeeded, as a full sync, and recorded a delivery (a failed, held or incremental run, or a refused
  one aside, is the latest: the next run does the work);
- processed its delivery (or stands on one that did) at most `max_age_days` ago, so that the roster
  tables are compared with the SIS in full at least that often (a hand edit to them is not seen here);
- rejected no record for the run's date (a birth date after it may be valid another day);
and no person changed what a load reads since it started: a local edit set, a conflict or an identity
review decided. Other integrations' loads write their own rows; the golden records they touch they
rebuild themselves.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, exists, or_, select

from sis_pipeline.errors import SyncError
from sis_pipeline.normalize.checks import RUN_DATE_REASON
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.warehouse.loader import lock_integration
from sis_pipeline.warehouse.rejections import rejected_again
from sis_pipeline.warehouse.runs import finish_sync_run
from sis_pipeline.warehouse.schema import identity_reviews, local_overrides, rejected_records, sync_conflicts, sync_runs

REFUSED_RUN = "concurrent_run"  # a run refused because another held the integration did nothing (defs/steps.py)
# counts a load records besides the entities', carried over as they were
_CARRIED = ("rejected", "fetched", "kept_columns", "warnings")


class DeliveryChangedUnderneath(SyncError):
    """Between reading an unchanged delivery and recording it, something it stood on changed."""

    error_class = "changed_during_run"


def unchanged_reference(conn: Connection | Engine, integration: str, run_id: str, max_age_days: float | None) -> dict | None:
    """The latest run of the integration, if a delivery identical to its own may be recorded without loading.

    The result: that run's `run_id`, its `counts` and the `delivery` they recorded (digest, settings,
    processed_run, processed_at). None when a new full sync must do the work whatever it reads.
    """
    if max_age_days is None:
        return None
    if isinstance(conn, Engine):
        with conn.connect() as connection:
            return unchanged_reference(connection, integration, run_id, max_age_days)
    latest = conn.execute(
        select(sync_runs)
        .where(
            sync_runs.c.integration == integration,
            sync_runs.c.run_id != run_id,
            sync_runs.c.status != "running",  # a run that died before its load committed wrote nothing
            or_(sync_runs.c.error_class.is_(None), sync_runs.c.error_class != REFUSED_RUN),
        )
        .order_by(sync_runs.c.started_at.desc())
        .limit(1)
    ).first()
    if latest is None or latest.status != "success" or latest.mode != "full":
        return None
    delivery = (latest.counts or {}).get("delivery")
    if not delivery:
        return None
    processed_at = datetime.fromisoformat(delivery["processed_at"])
    if datetime.now(UTC) - processed_at > timedelta(days=max_age_days):
        return None
    since = _aware(latest.started_at)
    if _changed_by_people_since(conn, since) or _rejected_for_the_date(conn, integration, latest.run_id):
        return None
    return {"run_id": latest.run_id, "delivery": delivery, "counts": latest.counts}


def delivery_record(digest: str, settings: str, processed_run: str, processed_at: datetime) -> dict:
    """What a load records in its run's counts (`delivery`) for the next full sync to match."""
    return {"digest": digest, "settings": settings, "processed_run": processed_run, "processed_at": processed_at.isoformat()}


def record_unchanged(
    engine: Engine, integration: str, run_id: str, reference_run_id: str, digest: str, max_age_days: float | None
) -> dict:
    """Close the run as a success standing on `reference_run_id`'s load; its counts (what the report reads).

    Under the integration's load lock, the reference is looked up again: a load, an edit or a decision
    that came in while this run read the SIS raises DeliveryChangedUnderneath, and nothing is written.
    The reference's rejections are this run's too (they move on, as a load's upsert would move them).
    """
    now = datetime.now(UTC)
    with engine.begin() as conn:
        lock_integration(conn, integration)
        reference = unchanged_reference(conn, integration, run_id, max_age_days)
        if reference is None or reference["run_id"] != reference_run_id or reference["delivery"]["digest"] != digest:
            raise DeliveryChangedUnderneath(
                f"{integration}: the warehouse changed while run {run_id} read a delivery identical to run "
                f"{reference_run_id}'s (a local edit, a decision or another run); nothing was loaded, the next full sync loads"
            )
        counts = _counts_standing_on(reference["counts"], reference_run_id)
        rejected_again(conn, integration, run_id, reference_run_id, now)
        finish_sync_run(conn, run_id, integration, "success", counts)
    return counts


def _counts_standing_on(earlier: dict, earlier_run_id: str) -> dict:
    entities = {
        entity: {"staged": earlier[entity]["staged"], "inserted": 0, "updated": 0, "unchanged": earlier[entity]["staged"], "archived": 0}
        for entity in ENTITIES
        if entity in earlier
    }
    return {
        **entities,
        "stale": {entity: 0 for entity in entities},
        **{name: earlier[name] for name in _CARRIED if name in earlier},
        "delivery": {**earlier["delivery"], "unchanged_since": earlier_run_id},
    }


def _changed_by_people_since(conn: Connection, since: datetime) -> bool:
    """A local edit set, a conflict resolved or an identity review decided since `since` (any integration:
    a child's golden record and links span integrations)."""
    query = select(
        exists().where(local_overrides.c.set_at >= since)
        | exists().where(sync_conflicts.c.resolved_at >= since)
        | exists().where(identity_reviews.c.decided_at >= since)
    )
    return bool(conn.execute(query).scalar())


def _rejected_for_the_date(conn: Connection, integration: str, run_id: str) -> bool:
    query = select(
        exists().where(
            rejected_records.c.integration == integration,
            rejected_records.c.run_id == run_id,
            rejected_records.c.reasons.contains(RUN_DATE_REASON, autoescape=True),
        )
    )
    return bool(conn.execute(query).scalar())


def _aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
