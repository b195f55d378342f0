"""Rejected records: one row per distinct rejection, refreshed by each run that rejects it again, kept N days.

A record the SIS keeps sending unchanged and we keep rejecting is one row, not one per night: its
fingerprint (entity, source id, reasons, payload) is the key, `first_rejected_at` says since when,
`rejected_at` and `run_id` the latest run, `times_rejected` how many runs. Each run's report still
counts every rejection it made. Rows not seen for `SIS_REJECTED_RETENTION_DAYS` days are deleted.
"""

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import ModuleType

import pandas as pd
from sqlalchemy import Column, Connection, MetaData, Table, delete, update

from sis_pipeline.config import ConfigError
from sis_pipeline.warehouse import load_sql
from sis_pipeline.warehouse.schema import rejected_records

RETENTION_ENV = "SIS_REJECTED_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30
REJECTED_COLUMNS = ["source_id", "reasons", "payload"]
_STAGED = [
    "run_id", "integration", "entity", "source_id", "reasons", "payload",
    "rejected_at", "first_rejected_at", "times_rejected", "fingerprint",
]


def retention_days(env=os.environ) -> int:
    value = env.get(RETENTION_ENV, str(DEFAULT_RETENTION_DAYS)).strip()
    if not value.isdigit():
        raise ConfigError(f"{RETENTION_ENV} must be a whole number of days, got {value!r}")
    return int(value)


def fingerprint(entity: str, source_id, reasons: str, payload) -> str:
    document = json.dumps([entity, source_id, reasons, payload], ensure_ascii=False)
    return hashlib.blake2b(document.encode(), digest_size=20).hexdigest()


def write_rejected(
    conn: Connection,
    backend: ModuleType,
    integration: str,
    run_id: str,
    rejected: Mapping[str, pd.DataFrame],
    now: datetime,
) -> dict[str, int]:
    """Record this run's rejections (per entity: source_id, reasons, payload) and prune old ones; the counts."""
    frames = [
        frame[REJECTED_COLUMNS].assign(
            entity=entity,
            fingerprint=[fingerprint(entity, *row) for row in frame[REJECTED_COLUMNS].itertuples(index=False, name=None)],
        )
        for entity, frame in rejected.items()
        if len(frame)
    ]
    if frames:
        at = pd.Timestamp(now)
        # a run may reject the same record twice (a repeated page): one row, refreshed once
        records = pd.concat(frames, ignore_index=True).drop_duplicates("fingerprint").assign(
            run_id=run_id, integration=integration, rejected_at=at, first_rejected_at=at, times_rejected=1
        )
        stage = _stage_table()
        stage.create(conn)
        backend.copy_frame(conn, stage, records[_STAGED])
        conn.execute(load_sql.bind(_UPSERT))
        stage.drop(conn)
    _prune(conn, integration, now)
    return {entity: len(frame) for entity, frame in rejected.items()}


def rejected_again(conn: Connection, integration: str, run_id: str, earlier_run_id: str, now: datetime) -> None:
    """An unchanged delivery rejects exactly what `earlier_run_id` rejected: those rows move on to this run,
    as write_rejected's upsert would have moved them, and old ones are pruned."""
    conn.execute(
        update(rejected_records)
        .where(rejected_records.c.integration == integration, rejected_records.c.run_id == earlier_run_id)
        .values(run_id=run_id, rejected_at=now, times_rejected=rejected_records.c.times_rejected + 1)
    )
    _prune(conn, integration, now)


def _prune(conn: Connection, integration: str, now: datetime) -> None:
    cutoff = now - timedelta(days=retention_days())
    conn.execute(delete(rejected_records).where(
        rejected_records.c.integration == integration, rejected_records.c.rejected_at < cutoff
    ))


def _stage_table() -> Table:
    return Table(
        "stage_rejected_records",
        MetaData(),
        *(Column(name, rejected_records.c[name].type) for name in _STAGED),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


_UPSERT = f"""
INSERT INTO rejected_records ({", ".join(_STAGED)})
SELECT {", ".join(_STAGED)} FROM stage_rejected_records WHERE true
ON CONFLICT (integration, fingerprint) DO UPDATE SET
    run_id = excluded.run_id,
    rejected_at = excluded.rejected_at,
    times_rejected = rejected_records.times_rejected + 1
"""
