"""The identity step's view of the warehouse: which student_uid each source id already has."""

import pandas as pd
from sqlalchemy import Engine, select

from sis_pipeline.warehouse.schema import student_mappings


def read_student_mappings(engine: Engine, integration: str) -> pd.DataFrame:
    """One row per mapped source id of the integration: source_id, student_uid."""
    query = select(student_mappings.c.source_id, student_mappings.c.student_uid).where(
        student_mappings.c.integration == integration, student_mappings.c.id_type == "source_id"
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=["source_id", "student_uid"], dtype=object)
