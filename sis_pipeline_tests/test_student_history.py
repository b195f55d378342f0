"""Student history: every change of every student kept, answered as of a date, free on an unchanged re-sync."""

from sqlalchemy import func, select, text

from sis_pipeline.warehouse.engine import create_warehouse_engine
from sis_pipeline.warehouse.schema import student_history, sync_runs

AS_OF = """
SELECT first_name FROM student_history
WHERE integration = 'springfield' AND source_id = :source_id
  AND valid_from <= :moment AND (valid_to IS NULL OR valid_to > :moment)"""


def scalar(url: str, query, **params):
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        value = conn.execute(query, params).scalar_one()
    engine.dispose()
    return value


def as_of(url: str, source_id: str, moment) -> str:
    from sqlalchemy import DateTime, bindparam

    query = text(AS_OF).bindparams(bindparam("moment", type_=DateTime(timezone=True)))
    return scalar(url, query, source_id=source_id, moment=moment)


def ended(url: str, run_id: str):
    return scalar(url, select(sync_runs.c.ended_at).where(sync_runs.c.run_id == run_id))


def test_history_answers_what_we_knew_on_a_date_and_costs_nothing_unchanged(district, write_config, sync, warehouse_url):
    config = write_config(district)
    first = sync(config, warehouse_url)
    assert first["status"] == "success"
    children = district.totals()["students"]
    assert scalar(warehouse_url, select(func.count()).select_from(student_history)) == children

    unchanged = sync(config, warehouse_url)
    assert unchanged["status"] == "success"
    assert scalar(warehouse_url, select(func.count()).select_from(student_history)) == children  # nothing written

    renamed = district.district.students.sourced_id(4)
    district.apply_changes([{"op": "update", "collection": "students", "sourcedId": renamed, "fields": {"givenName": "Renamed"}}])
    second = sync(config, warehouse_url, mode="incremental")
    assert second["status"] == "success"
    assert scalar(warehouse_url, select(func.count()).select_from(student_history)) == children + 1

    before, after = ended(warehouse_url, first["run_id"]), ended(warehouse_url, second["run_id"])
    old_name = as_of(warehouse_url, renamed, before)
    assert old_name != "Renamed" and as_of(warehouse_url, renamed, after) == "Renamed"
