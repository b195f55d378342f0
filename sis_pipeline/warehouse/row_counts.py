"""How many active rows each roster table holds for an integration (what `dagster/row_count` reports)."""

from sqlalchemy import Engine, func, select

from sis_pipeline.warehouse.schema import ENTITY_TABLES


def active_row_counts(engine: Engine, integration: str, entities: list[str]) -> dict[str, int]:
    counts = {}
    with engine.connect() as conn:
        for entity in entities:
            table = ENTITY_TABLES[entity]
            query = select(func.count()).where(table.c.integration == integration, table.c.archived_at.is_(None))
            counts[entity] = conn.execute(query).scalar_one()
    return counts
