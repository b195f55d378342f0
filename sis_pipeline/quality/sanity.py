"""Warnings a district reads as "something to look at": rows that exist but make little sense together.

Each counts active rows; a real district may have a few (a student enrolled next week), so these warn
and never block.
"""

from sqlalchemy import Connection, select

from sis_pipeline.quality import references
from sis_pipeline.quality.sql import active, count_outcome, offending, offending_by_flag
from sis_pipeline.warehouse.check_results import CheckOutcome
from sis_pipeline.warehouse.schema import ENTITY_TABLES

WARN = "WARN"
T = ENTITY_TABLES


def _enrolled(integration: str, column, source_id, role: str | None = None):
    enrollments = T["enrollments"]
    where = [active(enrollments, integration), enrollments.c[column] == source_id]
    if role is not None:
        where.append(enrollments.c.role == role)
    return select(enrollments.c.source_id).where(*where).exists()


def _without(conn: Connection, integration: str, entity: str, lacking) -> tuple[int, list[str]]:
    table = T[entity]
    return offending(conn, select(table.c.source_id).where(active(table, integration), ~lacking(table)))


def sanity_outcomes(conn: Connection, integration: str) -> list[CheckOutcome]:
    sections, enrollments = T["sections"], T["enrollments"]

    def taught(table):
        return _enrolled(integration, "user_source_id", table.c.source_id, "teacher")

    def offered(table):
        return select(sections.c.source_id).where(
            active(sections, integration), sections.c.course_source_id == table.c.source_id
        ).exists()

    # known but not active; an id known nowhere is integrity.py's blocking failure, not counted twice here
    inactive = offending_by_flag(conn, references.enrollment_references(integration), ["inactive_reference"])
    reversed_dates = select(enrollments.c.source_id).where(
        active(enrollments, integration), enrollments.c.end_date < enrollments.c.begin_date
    )
    return [
        count_outcome(
            "students", "without_enrollments", WARN,
            _without(conn, integration, "students", lambda t: _enrolled(integration, "user_source_id", t.c.source_id)),
            "active students have no active enrollment",
        ),
        count_outcome(
            "sections", "without_students", WARN,
            _without(conn, integration, "sections", lambda t: _enrolled(integration, "section_source_id", t.c.source_id, "student")),
            "active sections have no enrolled student",
        ),
        count_outcome(
            "sections", "without_teacher", WARN,
            _without(conn, integration, "sections", lambda t: _enrolled(integration, "section_source_id", t.c.source_id, "teacher")),
            "active sections have no teacher",
        ),
        count_outcome(
            "teachers", "without_sections", WARN, _without(conn, integration, "teachers", taught),
            "active teachers teach no active section",
        ),
        count_outcome(
            "courses", "without_sections", WARN, _without(conn, integration, "courses", offered),
            "active courses have no active section",
        ),
        count_outcome(
            "enrollments", "ending_before_beginning", WARN, offending(conn, reversed_dates),
            "active enrollments end before they begin",
        ),
        count_outcome(
            "enrollments", "inactive_references", WARN, inactive["inactive_reference"],
            "active enrollments name an archived or rejected person or section",
        ),
    ]
