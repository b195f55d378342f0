"""Warnings about an integration as a whole: did its size jump, are key fields empty, is it stale."""

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, case, func, select

from sis_pipeline.config import QualityThresholds
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.quality.sql import active, blank
from sis_pipeline.warehouse.check_results import CheckOutcome
from sis_pipeline.warehouse.row_counts import active_row_counts
from sis_pipeline.warehouse.runs import last_successful_run, previous_full_run
from sis_pipeline.warehouse.schema import ENTITY_TABLES

WARN = "WARN"
# What a district's own tools need to match a student across systems and place them in a class.
NULL_RATE_FIELDS = ("state_id", "birth_date", "grade_level")


def row_count_drift(engine: Engine, integration: str, run_id: str, limit: float) -> list[CheckOutcome]:
    """Active rows now against what the previous successful full sync loaded (its `staged` count).

    A SIS that suddenly serves far fewer or more records is likelier broken than the district changed.
    """
    previous = previous_full_run(engine, integration, run_id)
    now = active_row_counts(engine, integration, ENTITIES)
    outcomes = []
    for entity in ENTITIES:
        before = ((previous or {}).get("counts") or {}).get(entity, {}).get("staged")
        if not before:
            outcomes.append(CheckOutcome(entity, "row_count_drift", WARN, True, f"{now[entity]} active rows; no earlier full sync to compare", threshold=limit))
            continue
        drift = (now[entity] - before) / before
        detail = f"{now[entity]} active rows against {before} loaded by full sync {previous['run_id']} ({drift:+.1%})"
        outcomes.append(CheckOutcome(entity, "row_count_drift", WARN, abs(drift) <= limit, detail, round(abs(drift), 4), limit))
    return outcomes


def null_rates(conn: Connection, integration: str, limit: float) -> list[CheckOutcome]:
    students = ENTITY_TABLES["students"]
    row = conn.execute(
        select(
            func.count().label("total"),
            *(func.sum(case((blank(students.c[name]), 1), else_=0)).label(name) for name in NULL_RATE_FIELDS),
        ).where(active(students, integration))
    ).one()._asdict()
    outcomes = []
    for name in NULL_RATE_FIELDS:
        missing, total = row[name] or 0, row["total"]
        rate = missing / total if total else 0.0
        detail = f"{missing} of {total} active students have no {name.replace('_', ' ')} ({rate:.1%})"
        outcomes.append(CheckOutcome("students", f"{name}_null_rate", WARN, rate <= limit, detail, round(rate, 4), limit))
    return outcomes


def freshness(engine: Engine, integration: str, limit_hours: float, now: datetime) -> list[CheckOutcome]:
    """Every table is as fresh as the integration's newest successful sync: one transaction loads them all."""
    last = last_successful_run(engine, integration)
    if last is None:
        age, detail = None, "no successful sync recorded"
    else:
        ended = last["ended_at"] if last["ended_at"].tzinfo else last["ended_at"].replace(tzinfo=UTC)  # SQLite: naive UTC
        age = round((now - ended).total_seconds() / 3600, 2)
        detail = f"last successful sync {last['run_id']} ended {age:.1f} hours ago"
    passed = age is not None and age <= limit_hours
    return [CheckOutcome(entity, "freshness", WARN, passed, detail, age, limit_hours) for entity in ENTITIES]


def health_outcomes(
    engine: Engine, conn: Connection, integration: str, run_id: str, thresholds: QualityThresholds, now: datetime
) -> list[CheckOutcome]:
    return [
        *row_count_drift(engine, integration, run_id, thresholds.max_row_count_drift),
        *null_rates(conn, integration, thresholds.max_null_fraction),
        *freshness(engine, integration, thresholds.freshness_hours, now),
    ]
