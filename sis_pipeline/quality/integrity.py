"""The blocking checks: keys, references and required fields whose failure makes the roster untrustworthy.

Judged on active rows. A reference must name a record the integration knows: a row of the warehouse or
a record the pipeline rejected. One that names an archived or rejected record (a withdrawn student whose
enrollments the SIS still lists) is a warning in sanity.py, not a broken roster. (integration, source_id) is the tables' primary key, so the database
already refuses a duplicate; the natural keys it cannot enforce are checked here.
"""

from dataclasses import replace

from sqlalchemy import Connection, case, func, literal, or_, select

from sis_pipeline.normalize.models import ENTITIES, MODELS
from sis_pipeline.quality import references
from sis_pipeline.quality.sql import active, blank, count_outcome, offending, offending_by_flag, unknown_id
from sis_pipeline.warehouse.check_results import CheckOutcome
from sis_pipeline.warehouse.schema import ENTITY_TABLES, KEY_COLUMNS

ERROR = "ERROR"
T = ENTITY_TABLES


def required_columns(entity: str) -> list[str]:
    """The canonical columns a record cannot be without (the models' non-nullable ones)."""
    schema = MODELS[entity].to_schema().columns
    return [name for name, column in schema.items() if not column.nullable and name not in KEY_COLUMNS]


def required_fields(conn: Connection, integration: str, entity: str) -> CheckOutcome:
    table, names = T[entity], required_columns(entity)
    missing = {name: blank(table.c[name]) for name in names}
    found = offending(conn, select(table.c.source_id).where(active(table, integration), or_(*missing.values())))
    outcome = count_outcome(entity, "required_fields", ERROR, found, "active rows miss a required field")
    if outcome.passed:
        return outcome
    per_column = conn.execute(
        select(*(func.sum(case((condition, 1), else_=0)).label(name) for name, condition in missing.items()))
        .where(active(table, integration))
    ).one()._asdict()
    columns = ", ".join(f"{name}: {count}" for name, count in per_column.items() if count)
    return replace(outcome, detail=f"{outcome.detail} ({columns})")


def unique_state_id(conn: Connection, integration: str) -> CheckOutcome:
    """Two active students with one state id are one child twice (or a typo that merges two children)."""
    students = T["students"]
    shared = (
        select(students.c.state_id)
        .where(active(students, integration), ~blank(students.c.state_id))
        .group_by(students.c.state_id)
        .having(func.count() > 1)
    )
    rows = select(students.c.source_id).where(active(students, integration), students.c.state_id.in_(shared))
    return count_outcome("students", "unique_state_id", ERROR, offending(conn, rows), "active students share a state id")


def enrollment_references(conn: Connection, integration: str) -> list[CheckOutcome]:
    found = offending_by_flag(conn, references.enrollment_references(integration), ["unknown_user", "unknown_section"])
    return [
        count_outcome(
            "enrollments", "user_exists", ERROR, found["unknown_user"],
            "active enrollments name a user who is no known student or teacher",
        ),
        count_outcome("enrollments", "section_exists", ERROR, found["unknown_section"], "active enrollments name an unknown section"),
    ]


def _resolved_terms(integration: str):
    """How many active terms a section's comma-separated `term_source_ids` names, matched as whole ids."""
    sections, terms = T["sections"], T["terms"]
    escaped = func.replace(func.replace(func.replace(terms.c.source_id, "\\", "\\\\"), "%", "\\%"), "_", "\\_")
    listed = literal(",") + sections.c.term_source_ids + literal(",")
    return (
        select(func.count(func.distinct(terms.c.source_id)))
        .where(active(terms, integration), listed.like(literal("%,") + escaped + literal(",%"), escape="\\"))
        .scalar_subquery()
    )


def section_references(conn: Connection, integration: str) -> list[CheckOutcome]:
    """A section without its course, school or terms cannot be placed in the district's year; none given is none found."""
    sections = T["sections"]
    where = active(sections, integration)
    listed = func.length(sections.c.term_source_ids) - func.length(func.replace(sections.c.term_source_ids, ",", "")) + 1
    missing = {
        "course_exists": unknown_id(T["courses"], integration, sections.c.course_source_id),
        "school_exists": unknown_id(T["schools"], integration, sections.c.school_source_id),
        "terms_exist": blank(sections.c.term_source_ids) | (_resolved_terms(integration) < listed),
    }
    what = {"course_exists": "course", "school_exists": "school", "terms_exist": "term"}
    return [
        count_outcome(
            "sections", name, ERROR, offending(conn, select(sections.c.source_id).where(where, condition)),
            f"active sections name no known {what[name]}",
        )
        for name, condition in missing.items()
    ]


def integrity_outcomes(conn: Connection, integration: str) -> list[CheckOutcome]:
    return [
        *(required_fields(conn, integration, entity) for entity in ENTITIES),
        unique_state_id(conn, integration),
        *enrollment_references(conn, integration),
        *section_references(conn, integration),
    ]
