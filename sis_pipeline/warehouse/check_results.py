"""Data-quality check outcomes (`check_results`), owned here alone: a history outside Dagster.

Written once per run and check (a re-run of the checks of the same run replaces them); read by the
report and by checks that compare against earlier runs.
"""

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, select

from sis_pipeline.warehouse.schema import check_results


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict on one entity of one run; `detail` is one readable line (ids at most, never names)."""

    entity: str
    check_name: str
    severity: str  # ERROR (blocks what follows) or WARN
    passed: bool
    detail: str
    observed: float | None = None
    threshold: float | None = None


def record_check_results(engine: Engine, run_id: str, integration: str, outcomes: Iterable[CheckOutcome]) -> None:
    """Keep the outcomes of one run's checks, replacing any recorded before for the same run and checks."""
    outcomes = list(outcomes)
    if not outcomes:
        return
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for outcome in outcomes:
            conn.execute(
                delete(check_results).where(
                    check_results.c.run_id == run_id,
                    check_results.c.integration == integration,
                    check_results.c.entity == outcome.entity,
                    check_results.c.check_name == outcome.check_name,
                )
            )
        conn.execute(
            check_results.insert(),
            [
                {
                    "run_id": run_id,
                    "integration": integration,
                    "entity": o.entity,
                    "check_name": o.check_name,
                    "severity": o.severity,
                    "outcome": "passed" if o.passed else "failed",
                    "observed": o.observed,
                    "threshold": o.threshold,
                    "detail": o.detail,
                    "checked_at": now,
                }
                for o in outcomes
            ],
        )


def read_check_results(engine: Engine, integration: str, run_id: str | None = None, limit_runs: int = 30) -> list[dict]:
    """Outcomes of one run, or of the integration's last `limit_runs` checked runs, oldest first."""
    query = select(check_results).where(check_results.c.integration == integration)
    if run_id is not None:
        query = query.where(check_results.c.run_id == run_id)
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(query.order_by(check_results.c.checked_at, check_results.c.id))]
    if run_id is None:
        runs = list(dict.fromkeys(row["run_id"] for row in rows))[-limit_runs:]
        rows = [row for row in rows if row["run_id"] in runs]
    for row in rows:
        if row["checked_at"].tzinfo is None:
            row["checked_at"] = row["checked_at"].replace(tzinfo=UTC)
    return rows


def as_dict(outcome: CheckOutcome) -> dict:
    return asdict(outcome)
