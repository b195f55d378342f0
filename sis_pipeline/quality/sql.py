"""What the checks share: an integration's active rows, and offending rows turned into one outcome."""

from sqlalchemy import ColumnElement, Connection, Select, String, Subquery, Table, and_, func, or_, select

from sis_pipeline.warehouse.check_results import CheckOutcome
from sis_pipeline.warehouse.schema import rejected_records

SAMPLE_IDS = 5  # a detail names a few offending source ids, never the values that made them offend


def active(table: Table, integration: str) -> ColumnElement[bool]:
    return (table.c.integration == integration) & table.c.archived_at.is_(None)


def _held_or_rejected(table: Table, integration: str, source_id) -> list[ColumnElement[bool]]:
    """The ways the integration can know an id of `table`: a row, active or archived, or a rejected record.

    A rejected record still exists in the SIS (normalize/stage.py does not orphan what refers to it).
    """
    held = select(table.c.source_id).where(table.c.integration == integration, table.c.source_id == source_id).exists()
    rejected = select(rejected_records.c.id).where(
        rejected_records.c.integration == integration,
        rejected_records.c.entity == table.name,
        rejected_records.c.source_id == source_id,
    ).exists()
    return [held, rejected]


def unknown_id(table: Table, integration: str, source_id) -> ColumnElement[bool]:
    """The integration knows no such id of `table`: NOT EXISTS joined by AND, each an anti-join the database
    plans as one set operation (NOT over an OR of EXISTS asks once per row)."""
    return and_(*(~known for known in _held_or_rejected(table, integration, source_id)))


def blank(column) -> ColumnElement[bool]:
    """Missing, or text of only spaces (NOT NULL in the schema lets an empty string through)."""
    if not isinstance(column.type, String):  # a date is there or not; PostgreSQL has no trim(date)
        return column.is_(None)
    return or_(column.is_(None), func.trim(column) == "")


def offending(conn: Connection, rows: Select) -> tuple[int, list[str]]:
    """How many rows `rows` (selecting `source_id`) finds, and the first few of their source ids.

    The sample is only looked for when something offends: a passing check costs one count.
    """
    found = rows.subquery()
    count = conn.execute(select(func.count()).select_from(found)).scalar_one()
    if not count:
        return 0, []
    sample = conn.execute(select(found.c.source_id).order_by(found.c.source_id).limit(SAMPLE_IDS)).scalars().all()
    return count, list(sample)


def offending_by_flag(conn: Connection, rows: Subquery, flags: list[str]) -> dict[str, tuple[int, list[str]]]:
    """`offending` for each 1/0 column of `rows` (one row per `source_id`): one pass counts them all."""
    counts = conn.execute(select(*(func.coalesce(func.sum(rows.c[flag]), 0).label(flag) for flag in flags))).one()._asdict()
    found = {}
    for flag in flags:
        sample = []
        if counts[flag]:
            flagged = select(rows.c.source_id).where(rows.c[flag] == 1).order_by(rows.c.source_id).limit(SAMPLE_IDS)
            sample = list(conn.execute(flagged).scalars())
        found[flag] = (counts[flag], sample)
    return found


def count_outcome(
    entity: str, name: str, severity: str, found: tuple[int, list[str]], what: str, *, threshold: int = 0
) -> CheckOutcome:
    """Passed while at most `threshold` rows offend; the detail says how many and which ids."""
    count, sample = found
    more = f" and {count - len(sample)} more" if count > len(sample) else ""
    detail = f"{count} {what}: {', '.join(sample)}{more}" if count else f"0 {what}"
    return CheckOutcome(entity, name, severity, count <= threshold, detail, observed=float(count), threshold=float(threshold))
