"""The identity step's view of the warehouse: which student_uid each source id already has."""

import pandas as pd
from sqlalchemy import Engine, select

from sis_pipeline.warehouse.schema import student_mappings


def read_student_mappings(engine: Engine, integration: str) -> pd.DataFrame:
    """Every id of the integration already linked to a child: id_type, source_id, student_uid."""
    query = select(student_mappings.c.id_type, student_mappings.c.source_id, student_mappings.c.student_uid).where(
        student_mappings.c.integration == integration
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=["id_type", "source_id", "student_uid"], dtype=object)
