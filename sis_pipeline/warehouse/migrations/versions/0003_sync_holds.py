"""Sync holds: what a held run's load would have done, and what a person decided about it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 08:36:49

Written once and never edited after release: a warehouse that ran this revision will not run it again.
Use explicit DDL (op.create_table, op.add_column, op.batch_alter_table for SQLite), never the live
metadata in sis_pipeline.warehouse.schema, which keeps changing after this revision is written.
A new table only: `sync_runs` already allows the status 'held'.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sync_holds",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("integration", sa.String(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", _JSON, nullable=False),
        sa.Column("handle", _JSON, nullable=True),
        sa.Column("decision", sa.String(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("decision IN ('approved', 'discarded')", name="ck_sync_holds_decision"),
        sa.PrimaryKeyConstraint("run_id", "integration"),
    )
    op.create_index("ix_sync_holds_integration", "sync_holds", ["integration", "held_at"])


def downgrade() -> None:
    op.drop_index("ix_sync_holds_integration", table_name="sync_holds")
    op.drop_table("sync_holds")
