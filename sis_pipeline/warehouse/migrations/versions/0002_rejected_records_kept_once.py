"""Rejected records kept once: a fingerprint per distinct rejection, first and last time, how many runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 08:41:15.504601

Written once and never edited after release: a warehouse that ran this revision will not run it again.
Use explicit DDL (op.create_table, op.add_column, op.batch_alter_table for SQLite), never the live
metadata in sis_pipeline.warehouse.schema, which keeps changing after this revision is written.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # New columns start nullable, are filled for the rows already there, then become NOT NULL.
    with op.batch_alter_table("rejected_records") as batch_op:
        batch_op.add_column(sa.Column("first_rejected_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("times_rejected", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("fingerprint", sa.String(), nullable=True))
    # Rows from before this revision keep one row each (a fingerprint of their own) and age out with retention.
    op.execute(
        "UPDATE rejected_records SET first_rejected_at = rejected_at, times_rejected = 1, "
        "fingerprint = 'legacy-' || CAST(id AS VARCHAR)"
    )
    with op.batch_alter_table("rejected_records") as batch_op:
        batch_op.alter_column("first_rejected_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.alter_column("times_rejected", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("fingerprint", existing_type=sa.String(), nullable=False)
        batch_op.create_index("ix_rejected_records_last_seen", ["integration", "rejected_at"], unique=False)
        batch_op.create_index("ux_rejected_records_fingerprint", ["integration", "fingerprint"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("rejected_records") as batch_op:
        batch_op.drop_index("ux_rejected_records_fingerprint")
        batch_op.drop_index("ix_rejected_records_last_seen")
        batch_op.drop_column("fingerprint")
        batch_op.drop_column("times_rejected")
        batch_op.drop_column("first_rejected_at")
