"""The identity step's view of the warehouse: the links it made, and every child it knows."""

import pandas as pd
from sqlalchemy import Engine, select

from sis_pipeline.resolve.identity import IdentityIndex
from sis_pipeline.warehouse.schema import ENTITY_TABLES, student_mappings

_PEOPLE = ("integration", "source_id", "student_uid", "state_id", "student_number", "first_name", "last_name", "birth_date")


def read_student_mappings(engine: Engine, integration: str) -> pd.DataFrame:
    """Every id of the integration already linked to a child: id_type, source_id, student_uid."""
    query = select(student_mappings.c.id_type, student_mappings.c.source_id, student_mappings.c.student_uid).where(
        student_mappings.c.integration == integration
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=["id_type", "source_id", "student_uid"], dtype=object)


def read_identity_index(engine: Engine, integration: str) -> IdentityIndex:
    """The integration's links, and every student row of every integration (ids, names and birth dates only)."""
    students = ENTITY_TABLES["students"]
    with engine.connect() as conn:
        people = conn.execute(select(*(students.c[name] for name in _PEOPLE))).all()
    frame = pd.DataFrame(people, columns=list(_PEOPLE), dtype=object)
    frame["birth_date"] = frame["birth_date"].map(lambda day: None if day is None else str(day)[:10])
    return IdentityIndex(read_student_mappings(engine, integration), frame)
