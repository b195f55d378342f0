"""Views of the enrollment lifecycle: which enrollments are current today, and each section's teachers of record.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:45:00

Written once and never edited after release: a warehouse that ran this revision will not run it again.
Explicit DDL only. An enrollment is current when it, its person and its section are not archived and
`begin_date <= today < end_date` (end dates are exclusive, as OneRoster defines them; a missing date
does not bound). Ended enrollments stay in `enrollments` for history.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = """
CREATE VIEW current_enrollments AS
SELECT e.*
FROM enrollments AS e
JOIN sections AS s ON s.integration = e.integration AND s.source_id = e.section_source_id AND s.archived_at IS NULL
WHERE e.archived_at IS NULL
  AND (e.begin_date IS NULL OR e.begin_date <= CURRENT_DATE)
  AND (e.end_date IS NULL OR e.end_date > CURRENT_DATE)
  AND (EXISTS (SELECT 1 FROM students AS p WHERE p.integration = e.integration AND p.source_id = e.user_source_id AND p.archived_at IS NULL)
       OR EXISTS (SELECT 1 FROM teachers AS t WHERE t.integration = e.integration AND t.source_id = e.user_source_id AND t.archived_at IS NULL))
"""

TEACHERS_OF_RECORD = """
CREATE VIEW teachers_of_record AS
SELECT e.integration, e.section_source_id, e.user_source_id AS teacher_source_id, e.is_primary
FROM current_enrollments AS e
WHERE e.role = 'teacher'
  AND (e.is_primary IS NULL OR e.is_primary = true
       OR NOT EXISTS (SELECT 1 FROM current_enrollments AS p
                      WHERE p.integration = e.integration AND p.section_source_id = e.section_source_id
                        AND p.role = 'teacher' AND p.is_primary = true))
"""


def upgrade() -> None:
    op.execute(CURRENT)
    op.execute(TEACHERS_OF_RECORD)


def downgrade() -> None:
    op.execute("DROP VIEW teachers_of_record")
    op.execute("DROP VIEW current_enrollments")
