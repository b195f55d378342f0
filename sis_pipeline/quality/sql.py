"""What the checks share: an integration's active rows, and offending rows turned into one outcome."""

from sqlalchemy import ColumnElement, Connection, Select, String, Table, func, or_, select

from sis_pipeline.warehouse.check_results import CheckOutcome
from sis_pipeline.warehouse.schema import rejected_records

SAMPLE_IDS = 5  # a detail names a few offending source ids, never the values that made them offend


def active(table: Table, integration: str) -> ColumnElement[bool]:
    return (table.c.integration == integration) & table.c.archived_at.is_(None)


def active_id(table: Table, integration: str, source_id) -> ColumnElement[bool]:
    """An active row of `table` has this id."""
    return select(table.c.source_id).where(active(table, integration), table.c.source_id == source_id).exists()


def known_id(table: Table, integration: str, source_id) -> ColumnElement[bool]:
    """The integration holds a row with this id, active or archived, or rejected one this sync.

    A rejected record still exists in the SIS (normalize/stage.py does not orphan what refers to it).
    """
    held = select(table.c.source_id).where(table.c.integration == integration, table.c.source_id == source_id).exists()
    rejected = select(rejected_records.c.id).where(
        rejected_records.c.integration == integration,
        rejected_records.c.entity == table.name,
        rejected_records.c.source_id == source_id,
    ).exists()
    return held | rejected


def blank(column) -> ColumnElement[bool]:
    """Missing, or text of only spaces (NOT NULL in the schema lets an empty string through)."""
    if not isinstance(column.type, String):  # a date is there or not; PostgreSQL has no trim(date)
        return column.is_(None)
    return or_(column.is_(None), func.trim(column) == "")


def offending(conn: Connection, rows: Select) -> tuple[int, list[str]]:
    """How many rows `rows` (selecting `source_id`) finds, and the first few of their source ids."""
    found = rows.subquery()
    count = conn.execute(select(func.count()).select_from(found)).scalar_one()
    sample = conn.execute(select(found.c.source_id).order_by(found.c.source_id).limit(SAMPLE_IDS)).scalars().all()
    return count, list(sample)


def count_outcome(
    entity: str, name: str, severity: str, found: tuple[int, list[str]], what: str, *, threshold: int = 0
) -> CheckOutcome:
    """Passed while at most `threshold` rows offend; the detail says how many and which ids."""
    count, sample = found
    more = f" and {count - len(sample)} more" if count > len(sample) else ""
    detail = f"{count} {what}: {', '.join(sample)}{more}" if count else f"0 {what}"
    return CheckOutcome(entity, name, severity, count <= threshold, detail, observed=float(count), threshold=float(threshold))
