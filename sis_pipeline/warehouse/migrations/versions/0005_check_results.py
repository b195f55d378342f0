"""Check results: every data-quality check's outcome per run, kept in the warehouse beside the roster.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:06:00

Written once and never edited after release: a warehouse that ran this revision will not run it again.
Explicit DDL only, never the live metadata in sis_pipeline.warehouse.schema. A new table only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "check_results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("integration", sa.String(), nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("check_name", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("observed", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("outcome IN ('passed', 'failed')", name="ck_check_results_outcome"),
        sa.CheckConstraint("severity IN ('ERROR', 'WARN')", name="ck_check_results_severity"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_check_results_run", "check_results", ["integration", "run_id"])
    op.create_index("ix_check_results_history", "check_results", ["integration", "check_name", "checked_at"])


def downgrade() -> None:
    op.drop_index("ix_check_results_history", table_name="check_results")
    op.drop_index("ix_check_results_run", table_name="check_results")
    op.drop_table("check_results")
