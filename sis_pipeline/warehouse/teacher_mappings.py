"""The teacher identity step's view of the warehouse: its links, and the integration's teachers."""

import pandas as pd
from sqlalchemy import Engine, select

from sis_pipeline.warehouse.schema import ENTITY_TABLES, teacher_mappings


def read_teacher_index(engine: Engine, integration: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(links: id_type, source_id, teacher_uid; people: integration, source_id, teacher_uid, staff_number)."""
    teachers = ENTITY_TABLES["teachers"]
    links = select(teacher_mappings.c.id_type, teacher_mappings.c.source_id, teacher_mappings.c.teacher_uid).where(
        teacher_mappings.c.integration == integration
    )
    people = select(teachers.c.integration, teachers.c.source_id, teachers.c.teacher_uid, teachers.c.staff_number).where(
        teachers.c.integration == integration
    )
    with engine.connect() as conn:
        mapped, held = conn.execute(links).all(), conn.execute(people).all()
    return (
        pd.DataFrame(mapped, columns=["id_type", "source_id", "teacher_uid"], dtype=object),
        pd.DataFrame(held, columns=["integration", "source_id", "teacher_uid", "staff_number"], dtype=object),
    )
