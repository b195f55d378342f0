"""The golden record: one row per student_uid, merged from its source rows by integration priority.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 11:45:00

Written once and never edited after release: a warehouse that ran this revision will not run it again.
Explicit DDL only, never the live metadata in sis_pipeline.warehouse.schema. Filled from the students
already held, so a warehouse upgraded in place has a profile per child at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FIELDS = ("first_name", "middle_name", "last_name", "preferred_first_name", "email", "state_id", "student_number",
           "sex", "grade_level", "enrollment_status", "school_source_id", "status")


def upgrade() -> None:
    op.create_table(
        "student_profiles",
        sa.Column("student_uid", sa.String(length=36), nullable=False),
        sa.Column("integration", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        *(sa.Column(name, sa.Text(), nullable=True) for name in _FIELDS),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sources", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("student_uid"),
    )
    columns = ", ".join(_FIELDS)
    op.execute(
        f"""
INSERT INTO student_profiles (student_uid, integration, source_id, {columns}, birth_date, active, sources, updated_at)
SELECT student_uid, integration, source_id, {columns}, birth_date, active_sources > 0, active_sources, updated_at FROM (
  SELECT s.*,
         ROW_NUMBER() OVER (PARTITION BY s.student_uid ORDER BY (CASE WHEN s.archived_at IS NULL THEN 0 ELSE 1 END), s.updated_at DESC, s.integration, s.source_id) AS pick,
         SUM(CASE WHEN s.archived_at IS NULL THEN 1 ELSE 0 END) OVER (PARTITION BY s.student_uid) AS active_sources
  FROM students AS s) AS ranked
WHERE pick = 1"""
    )


def downgrade() -> None:
    op.drop_table("student_profiles")
