"""Student history: every version of every student row, valid from one load to the next that changed it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:15:00

Written once and never edited after release: a warehouse that ran this revision will not run it again.
Explicit DDL only, never the live metadata in sis_pipeline.warehouse.schema. The rows already held
become the first versions, valid from when they were last written.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT = ("status", "first_name", "middle_name", "last_name", "email", "username", "school_source_id", "legacy_source_id",
         "student_number", "state_id", "preferred_first_name", "sex", "grade_level", "enrollment_status")
_COPIED = ("integration", "source_id", "student_uid", "source_updated_at", "enabled", "extra", "birth_date", "archived_at", *_TEXT)


def upgrade() -> None:
    op.create_table(
        "student_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("integration", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column("student_uid", sa.String(length=36), nullable=False),
        *(sa.Column(name, sa.Text(), nullable=True) for name in _TEXT),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("extra", sa.Text().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_student_history_record", "student_history", ["integration", "source_id", "valid_to"])
    op.create_index("ix_student_history_uid", "student_history", ["student_uid", "valid_from"])
    columns = ", ".join(_COPIED)
    op.execute(
        f"INSERT INTO student_history ({columns}, valid_from, valid_to, run_id) "
        f"SELECT {columns}, updated_at, NULL, 'migration-0008' FROM students"
    )


def downgrade() -> None:
    op.drop_index("ix_student_history_uid", table_name="student_history")
    op.drop_index("ix_student_history_record", table_name="student_history")
    op.drop_table("student_history")
