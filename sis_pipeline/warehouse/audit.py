"""The API audit trail: what a run asked the SIS, kept for a configurable number of days."""

import os
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, insert

from sis_pipeline.warehouse.schema import api_calls

RETENTION_ENV = "SIS_AUDIT_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30


def retention_days(env=os.environ) -> int:
    value = env.get(RETENTION_ENV, str(DEFAULT_RETENTION_DAYS))
    if not value.isdigit():
        raise ValueError(f"{RETENTION_ENV} must be a whole number of days, got {value!r}")
    return int(value)


def record_api_calls(engine: Engine, run_id: str, integration: str, calls: list[dict]) -> int:
    """Keep one run's calls and drop every integration's calls older than the retention period."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days())
    with engine.begin() as conn:
        if calls:
            conn.execute(insert(api_calls), [call | {"run_id": run_id, "integration": integration} for call in calls])
        conn.execute(delete(api_calls).where(api_calls.c.called_at < cutoff))
    return len(calls)
