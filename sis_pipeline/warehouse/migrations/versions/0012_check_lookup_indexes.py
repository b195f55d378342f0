"""Indexes the data-quality checks look ids up by: rejected records by entity and id, sections by course.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 14:15:00

Written once and never edited after release: a warehouse that ran this revision will not run it again.
Explicit DDL only. Without them every "is this id known?" of quality/ reads all of `rejected_records`
(its only other index leads with run_id) and "does this course have a section?" all of `sections`.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_rejected_records_entity", "rejected_records", ["integration", "entity", "source_id"])
    op.create_index("ix_sections_course", "sections", ["integration", "course_source_id"])


def downgrade() -> None:
    op.drop_index("ix_sections_course", table_name="sections")
    op.drop_index("ix_rejected_records_entity", table_name="rejected_records")
