"""Watermarks of incremental syncs (`sync_cursors`), owned here alone.

Per integration and raw collection, the newest source modification time (the SIS's own clock, in UTC;
never this machine's) among the records a committed load took. They move only inside the load's
transaction, so a failed, interrupted or held run moves nothing, and only for collections none of
whose records this run rejected: a rejected record must come again in the next incremental run.
A full sync replaces them all (it is the backstop for changes whose modification time did not move).
"""

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, select

from sis_pipeline.warehouse.schema import sync_cursors


def read_watermarks(engine_or_conn: Engine | Connection, integration: str) -> dict[str, datetime]:
    """Per collection, the watermark an incremental run of `integration` reads changes from (UTC)."""
    query = select(sync_cursors.c.collection, sync_cursors.c.watermark).where(sync_cursors.c.integration == integration)
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            rows = conn.execute(query).all()
    else:
        rows = engine_or_conn.execute(query).all()
    return {collection: _utc(watermark) for collection, watermark in rows}


def advance_watermarks(
    conn: Connection,
    integration: str,
    run_id: str,
    newest: Mapping[str, datetime],
    *,
    full: bool,
    now: datetime,
) -> dict[str, datetime]:
    """Inside the load's transaction: record `newest` (collection -> newest modification committed).

    An incremental run only moves a watermark forward (a look-back re-reads older records); a full
    sync replaces the integration's watermarks with its own, and forgets those of collections it
    could not vouch for (absent from `newest`), so their next incremental run reads them whole.
    Returns the watermarks as they now stand.
    """
    stored = read_watermarks(conn, integration)
    if full:
        conn.execute(delete(sync_cursors).where(sync_cursors.c.integration == integration))
        stored = {}
    for collection, moment in newest.items():
        moment = _utc(moment)
        if collection in stored and stored[collection] >= moment:
            continue
        conn.execute(
            delete(sync_cursors).where(sync_cursors.c.integration == integration, sync_cursors.c.collection == collection)
        )
        conn.execute(
            sync_cursors.insert().values(
                integration=integration, collection=collection, watermark=moment, run_id=run_id, updated_at=now
            )
        )
        stored[collection] = moment
    return stored


def _utc(moment: datetime) -> datetime:
    """SQLite hands times back naive, in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
