"""Teacher identity: a stable teacher_uid per teacher, and the links that found it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 13:00:00

Written once and never edited after release: a warehouse that ran this revision will not run it again.
Explicit DDL only. Every teacher row already held gets a uid of its own and a `source_id` link (rule
'source_id'), as if the identity step had minted it; the column is then made NOT NULL (SQLite
rebuilds the table for that; env.py keeps the views that read it valid through the rename).
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "teacher_mappings",
        sa.Column("integration", sa.String(), nullable=False),
        sa.Column("id_type", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column("teacher_uid", sa.String(length=36), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False, server_default="1.0"),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("integration", "id_type", "source_id", name="uq_teacher_mappings_id"),
    )
    op.create_index("ix_teacher_mappings_teacher_uid", "teacher_mappings", ["teacher_uid"])
    op.add_column("teachers", sa.Column("teacher_uid", sa.String(length=36), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT integration, source_id, updated_at, archived_at FROM teachers")).all()
    minted = [{"integration": r.integration, "source_id": r.source_id, "uid": str(uuid.uuid4()), "at": r.updated_at, "to": r.archived_at} for r in rows]
    if minted:
        connection.execute(sa.text("UPDATE teachers SET teacher_uid = :uid WHERE integration = :integration AND source_id = :source_id"), minted)
        connection.execute(
            sa.text(
                "INSERT INTO teacher_mappings (integration, id_type, source_id, teacher_uid, rule, linked_at, confidence, valid_from, valid_to) "
                "VALUES (:integration, 'source_id', :source_id, :uid, 'source_id', :at, 1.0, :at, :to)"
            ),
            minted,
        )
    with op.batch_alter_table("teachers") as batch:
        batch.alter_column("teacher_uid", existing_type=sa.String(length=36), nullable=False)
    op.create_index("ix_teachers_teacher_uid", "teachers", ["teacher_uid"])


def downgrade() -> None:
    op.drop_index("ix_teachers_teacher_uid", table_name="teachers")
    with op.batch_alter_table("teachers") as batch:
        batch.drop_column("teacher_uid")
    op.drop_index("ix_teacher_mappings_teacher_uid", table_name="teacher_mappings")
    op.drop_table("teacher_mappings")
