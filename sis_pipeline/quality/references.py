"""What each active enrollment's person and section resolve to, worked out in one pass over enrollments.

Left joins on the tables' keys (at most one row each: (integration, source_id) is their primary key)
and on the distinct rejected ids, so the database hashes each referenced table once instead of asking
per enrollment. integrity.py counts the references known nowhere, sanity.py the ones known but archived.
"""

from sqlalchemy import ColumnElement, Subquery, and_, case, not_, or_, select

from sis_pipeline.quality.sql import active
from sis_pipeline.warehouse.schema import ENTITY_TABLES, rejected_records

T = ENTITY_TABLES


def _rejected_ids(integration: str, entity: str) -> Subquery:
    # distinct: one source id can be rejected several times over (one row per distinct rejection)
    return (
        select(rejected_records.c.source_id)
        .where(rejected_records.c.integration == integration, rejected_records.c.entity == entity)
        .distinct()
        .subquery(f"rejected_{entity}")
    )


def _flag(condition: ColumnElement[bool]):
    return case((condition, 1), else_=0)  # 1/0, not a boolean: SQLite has none and sums these


def enrollment_references(integration: str) -> Subquery:
    """Every active enrollment (`source_id`) with 1/0 flags `unknown_user`, `unknown_section`, `inactive_reference`.

    Known: a row of the table, active or archived, or a rejected record. Inactive: known, but no active row.
    """
    enrollments = T["enrollments"]
    user, section = enrollments.c.user_source_id, enrollments.c.section_source_id
    students, teachers, sections = (T[e].alias(f"referenced_{e}") for e in ("students", "teachers", "sections"))
    rejected = {e: _rejected_ids(integration, e) for e in ("students", "teachers", "sections")}

    def held(table):
        return table.c.source_id.is_not(None)

    def live(table):
        return held(table) & table.c.archived_at.is_(None)

    joined = enrollments
    for table, column in ((students, user), (teachers, user), (sections, section)):
        joined = joined.outerjoin(table, and_(table.c.integration == integration, table.c.source_id == column))
    for entity, column in (("students", user), ("teachers", user), ("sections", section)):
        joined = joined.outerjoin(rejected[entity], rejected[entity].c.source_id == column)

    person_known = or_(held(students), held(teachers), held(rejected["students"]), held(rejected["teachers"]))
    section_known = or_(held(sections), held(rejected["sections"]))
    inactive_person = not_(or_(live(students), live(teachers))) & person_known
    inactive_section = not_(live(sections)) & section_known
    return (
        select(
            enrollments.c.source_id,
            _flag(not_(person_known)).label("unknown_user"),
            _flag(not_(section_known)).label("unknown_section"),
            _flag(inactive_person | inactive_section).label("inactive_reference"),
        )
        .select_from(joined)
        .where(active(enrollments, integration))
        .subquery("enrollment_references")
    )
