"""Why a run refused records: per entity, the top reason patterns with counts and example source ids.

Grouped in the database (GROUP BY over the reason patterns, examples picked by a window function), so a
run that rejected a million records costs the database a scan and Python a few dozen rows.

`rejected_records` keeps one row per distinct rejection, moved on to the latest run that made it: a
run's summary shows the rejections it was the last to make (for the newest run, every one it made).
"""

from sqlalchemy import Connection, Engine, and_, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from sis_pipeline.normalize.reason_patterns import RULES, SEPARATOR, reason_pattern
from sis_pipeline.warehouse.schema import rejected_records

TOP_REASONS = 10
EXAMPLES_PER_REASON = 5
SQLITE_FUNCTION = "sis_reason_pattern"


def rejection_summary(
    engine: Engine,
    integration: str,
    run_id: str,
    *,
    top: int = TOP_REASONS,
    examples: int = EXAMPLES_PER_REASON,
    with_payloads: bool = False,
) -> dict[str, dict]:
    """Per entity: `records` (rows recorded for this run), `reasons_total`, and `reasons`, the top ones, each with
    `pattern`, `records` (a record refused for two reasons counts under both) and `examples` (source ids,
    with the payloads as sent only when `with_payloads`: they hold names and birth dates)."""
    with engine.connect() as conn:
        parts = _reason_parts(conn, integration, run_id)
        distinct = select(parts.c.entity, parts.c.reason, parts.c.id, parts.c.source_id).distinct().subquery()
        records = func.count()
        counted = (
            select(
                distinct.c.entity,
                distinct.c.reason,
                records.label("records"),
                func.row_number().over(partition_by=distinct.c.entity, order_by=(records.desc(), distinct.c.reason)).label("rank"),
                func.count().over(partition_by=distinct.c.entity).label("reasons_total"),
            )
            .group_by(distinct.c.entity, distinct.c.reason)
            .subquery()
        )
        groups = conn.execute(select(counted).where(counted.c.rank <= top).order_by(counted.c.entity, counted.c.rank)).all()
        ranked = select(
            distinct,
            func.row_number().over(partition_by=(distinct.c.entity, distinct.c.reason), order_by=(distinct.c.source_id, distinct.c.id)).label("n"),
        ).subquery()
        picked = (
            select(ranked.c.entity, ranked.c.reason, ranked.c.source_id, rejected_records.c.payload if with_payloads else literal(None))
            .join(counted, and_(counted.c.entity == ranked.c.entity, counted.c.reason == ranked.c.reason))
            .join(rejected_records, rejected_records.c.id == ranked.c.id)
            .where(counted.c.rank <= top, ranked.c.n <= examples)
            .order_by(ranked.c.entity, ranked.c.reason, ranked.c.n)
        )
        picked_rows = conn.execute(picked).all()
        totals = conn.execute(
            select(rejected_records.c.entity, func.count())
            .where(rejected_records.c.integration == integration, rejected_records.c.run_id == run_id)
            .group_by(rejected_records.c.entity)
        ).all()
    summary = {entity: {"records": count, "reasons_total": 0, "reasons": []} for entity, count in totals}
    found: dict[tuple[str, str], list] = {}
    for entity, reason, source_id, payload in picked_rows:
        found.setdefault((entity, reason), []).append({"source_id": source_id} | ({"payload": payload} if with_payloads else {}))
    for entity, reason, count, _rank, reasons_total in groups:
        summary[entity]["reasons_total"] = reasons_total
        summary[entity]["reasons"].append({"pattern": reason, "records": count, "examples": found.get((entity, reason), [])})
    return summary


def _reason_parts(conn: Connection, integration: str, run_id: str):
    """One row per (rejected record, reason pattern) of the run: (id, entity, source_id, reason)."""
    table = rejected_records
    mine = and_(table.c.integration == integration, table.c.run_id == run_id)
    pattern = pattern_sql(conn, table.c.reasons)
    if conn.dialect.name == "postgresql":
        reason = func.regexp_split_to_table(pattern, literal(SEPARATOR)).label("reason")
        return select(table.c.id, table.c.entity, table.c.source_id, reason).where(mine).cte("parts")
    # SQLite cannot split a string into rows: a recursive CTE peels one reason off at a time
    seed = select(
        table.c.id, table.c.entity, table.c.source_id, literal("").label("reason"), (pattern + SEPARATOR).label("rest")
    ).where(mine).cte("split", recursive=True)
    cut = func.instr(seed.c.rest, SEPARATOR)
    split = seed.union_all(
        select(seed.c.id, seed.c.entity, seed.c.source_id, func.substr(seed.c.rest, 1, cut - 1), func.substr(seed.c.rest, cut + len(SEPARATOR)))
        .where(seed.c.rest != "")
    )
    return select(split.c.id, split.c.entity, split.c.source_id, split.c.reason).where(split.c.reason != "").cte("parts")


def pattern_sql(conn: Connection, reasons: ColumnElement) -> ColumnElement:
    """`reason_pattern` as a SQL expression over a column, for the connection's dialect."""
    if conn.dialect.name == "sqlite":
        # SQLite has no regexp_replace: the same Python rules run inside the query, one row at a time
        conn.connection.driver_connection.create_function(SQLITE_FUNCTION, 1, reason_pattern, deterministic=True)
        return getattr(func, SQLITE_FUNCTION)(reasons)
    for pattern, replacement in RULES:
        reasons = func.regexp_replace(reasons, literal(pattern), literal(replacement), literal("g"))
    return reasons
