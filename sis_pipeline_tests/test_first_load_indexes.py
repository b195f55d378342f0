"""A large first load into an empty PostgreSQL table builds its secondary indexes after inserting.

The table must end with exactly the indexes it had, the load's counts and rows must be those of a load
with the indexes in place, and the deferral must never cost a district a failed or half-indexed load.
"""

import threading
import time

import pytest
from sqlalchemy import event, text

import sis_pipeline.warehouse.postgres_stage as postgres_stage
from sis_pipeline.warehouse import load_sql
from sis_pipeline.warehouse.engine import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES, ensure_schema
from sis_pipeline_tests.test_warehouse_loader import canonical, counts, load, row_count

ENROLLMENTS = ENTITY_TABLES["enrollments"]
ROWS = 300


@pytest.fixture
def engine(postgres_url, monkeypatch):
    monkeypatch.setattr(postgres_stage, "DEFERRED_INDEXES_FROM_ROWS", 100)  # a small table stands for a large one
    engine = create_warehouse_engine(postgres_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


def indexes(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'enrollments'")).all())


def statements(engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: seen.append(statement))
    return seen


def enrollments(count: int = ROWS, offset: int = 0):
    frame = canonical("enrollments", count + offset)[offset:]
    frame["section_source_id"] = [f"sec-{n % 7}" for n in range(len(frame))]
    frame["user_source_id"] = [f"stu-{n}" for n in range(len(frame))]
    return frame


def test_an_empty_tables_indexes_are_built_after_the_insert_and_end_as_they_were(engine):
    before = indexes(engine)
    assert {"ix_enrollments_user", "ix_enrollments_section"} <= set(before)
    seen = statements(engine)

    assert load(engine, {"enrollments": [enrollments()]}) == {"enrollments": counts(ROWS, inserted=ROWS)}

    assert indexes(engine) == before
    drops = [s for s in seen if s.startswith("DROP INDEX")]
    assert sorted(drops) == ['DROP INDEX "ix_enrollments_section"', 'DROP INDEX "ix_enrollments_user"']
    inserted_at = next(n for n, s in enumerate(seen) if s.lstrip().startswith("INSERT INTO enrollments"))
    assert all(n < inserted_at for n, s in enumerate(seen) if s.startswith("DROP INDEX"))
    assert [n for n, s in enumerate(seen) if s.startswith("CREATE INDEX")] and all(
        n > inserted_at for n, s in enumerate(seen) if s.startswith("CREATE INDEX")
    )
    with engine.connect() as conn:  # the rebuilt index answers for every row
        conn.execute(text("SET enable_seqscan = off"))
        found = conn.execute(text("SELECT count(*) FROM enrollments WHERE integration = 'demo' AND user_source_id = 'stu-5'")).scalar_one()
        plan = " ".join(row[0] for row in conn.execute(text(
            "EXPLAIN SELECT count(*) FROM enrollments WHERE integration = 'demo' AND user_source_id = 'stu-5'"
        )))
    assert found == 1 and "ix_enrollments_user" in plan


def test_a_table_holding_rows_or_a_small_load_keeps_its_indexes(engine):
    seen = statements(engine)
    load(engine, {"enrollments": [enrollments(50)]})  # below the threshold
    assert load(engine, {"enrollments": [enrollments(ROWS)]}) == {"enrollments": counts(ROWS, inserted=ROWS - 50, unchanged=50)}
    assert not [s for s in seen if s.startswith("DROP INDEX")]
    assert row_count(engine, ENROLLMENTS) == ROWS


def test_a_failed_first_load_leaves_the_indexes_in_place(engine, monkeypatch):
    before = indexes(engine)
    real_insert = load_sql.insert_new
    monkeypatch.setattr(load_sql, "insert_new", lambda table, stage: real_insert(table, stage) + " AND 1 / 0 = 1")
    with pytest.raises(Exception, match="division by zero"):
        load(engine, {"enrollments": [enrollments()]})
    assert indexes(engine) == before and row_count(engine, ENROLLMENTS) == 0


def test_a_reader_holding_the_empty_table_costs_two_seconds_not_the_load(engine, monkeypatch):
    """Someone's open transaction has read the empty table: the drop would wait for them, so after the
    lock wait the load keeps the indexes and succeeds."""
    before = indexes(engine)
    reading = threading.Event()
    done = threading.Event()

    def reader():
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM enrollments"))  # holds ACCESS SHARE until the transaction ends
            reading.set()
            done.wait(30)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert reading.wait(10)
        seen = statements(engine)
        started = time.monotonic()
        assert load(engine, {"enrollments": [enrollments()]}) == {"enrollments": counts(ROWS, inserted=ROWS)}
        waited = time.monotonic() - started
    finally:
        done.set()
        thread.join()
    assert 1.9 <= waited < 15
    assert not [s for s in seen if s.startswith("CREATE INDEX")]  # nothing was dropped, nothing rebuilt
    assert indexes(engine) == before


def test_while_another_integrations_run_is_open_the_indexes_stay(engine):
    """Its load could reach the table while this load holds it exclusively (and wait out its lock timeout):
    parallel first syncs of a state's partitions all keep their indexes."""
    from sis_pipeline.warehouse import start_sync_run

    start_sync_run(engine, "partition-2-run", "partition_2", "full")
    seen = statements(engine)
    assert load(engine, {"enrollments": [enrollments()]}) == {"enrollments": counts(ROWS, inserted=ROWS)}
    assert not [s for s in seen if s.startswith("DROP INDEX")]
