"""Identity links with confidence and validity, and a review queue for possible duplicates.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:20:00

Written once and never edited after release: a warehouse that ran this revision will not run it again.
Explicit DDL only, never the live metadata in sis_pipeline.warehouse.schema. Existing links keep their
rule; they were all exact (source or legacy id), so their confidence is 1 and they are valid from when
they were made.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("student_mappings", sa.Column("confidence", sa.Float(), nullable=False, server_default="1.0"))
    op.add_column("student_mappings", sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True))
    op.add_column("student_mappings", sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE student_mappings SET valid_from = linked_at")
    op.create_table(
        "identity_reviews",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("integration", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column("candidate_uid", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.String(), nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("decision IN ('linked', 'split')", name="ck_identity_reviews_decision"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("integration", "source_id", "candidate_uid", name="uq_identity_reviews_pair"),
    )


def downgrade() -> None:
    op.drop_table("identity_reviews")
    with op.batch_alter_table("student_mappings") as batch:
        batch.drop_column("valid_to")
        batch.drop_column("valid_from")
        batch.drop_column("confidence")
