"""Sync cursors: per integration and collection, the watermark an incremental sync reads changes from.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 11:05:00

Written once and never edited after release: a warehouse that ran this revision will not run it again.
Explicit DDL only, never the live metadata in sis_pipeline.warehouse.schema. A new table only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_cursors",
        sa.Column("integration", sa.String(), nullable=False),
        sa.Column("collection", sa.String(), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("integration", "collection"),
    )


def downgrade() -> None:
    op.drop_table("sync_cursors")
