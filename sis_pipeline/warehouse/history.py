"""Student history (`student_history`), owned here alone: a new version for every student row a load wrote.

Inside the load's transaction, after the upsert and the archive: the open version of each row this
load wrote (`updated_at = :now`) is closed at `:now` and the row as it now stands is opened. An
unchanged re-sync writes no student row, so it writes no history either.
"""

from sqlalchemy import Connection

from sis_pipeline.warehouse import load_sql
from sis_pipeline.warehouse.schema import HISTORY_COPIED

_COLUMNS = ", ".join(HISTORY_COPIED)
_WRITTEN = "SELECT source_id FROM students WHERE integration = :integration AND updated_at = :now"


def record_student_versions(conn: Connection, params: dict) -> int:
    """Close the open versions of the rows this load wrote and open their new ones; how many were opened."""
    conn.execute(
        load_sql.bind(
            f"UPDATE student_history SET valid_to = :now "
            f"WHERE integration = :integration AND valid_to IS NULL AND source_id IN ({_WRITTEN})"
        ),
        params,
    )
    return conn.execute(
        load_sql.bind(
            f"INSERT INTO student_history ({_COLUMNS}, valid_from, valid_to, run_id) "
            f"SELECT {_COLUMNS}, :now, NULL, :run_id FROM students WHERE integration = :integration AND updated_at = :now"
        ),
        params,
    ).rowcount
