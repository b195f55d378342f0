"""Incremental runs against the OneRoster simulator: only what changed is read and written, watermarks move
only with a committed load, and nothing is archived for being absent."""

from datetime import date

from sqlalchemy import select

from sis_pipeline.normalize.stage import newest_versions
from sis_pipeline.warehouse.cursors import read_watermarks
from sis_pipeline.warehouse.engine import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES

from sis_pipeline_tests.helpers import served, warehouse_counts

import pandas as pd


def watermarks(url: str) -> dict:
    engine = create_warehouse_engine(url)
    try:
        return read_watermarks(engine, "springfield")
    finally:
        engine.dispose()


def updated_at(url: str, entity: str) -> dict[str, object]:
    table = ENTITY_TABLES[entity]
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        rows = dict(conn.execute(select(table.c.source_id, table.c.updated_at)).all())
    engine.dispose()
    return rows


def enrollment_end(url: str, source_id: str):
    table = ENTITY_TABLES["enrollments"]
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        end = conn.execute(select(table.c.end_date).where(table.c.source_id == source_id)).scalar_one()
    engine.dispose()
    return end


def test_an_incremental_run_applies_exactly_the_changes(district, write_config, sync, warehouse_url):
    config = write_config(district)
    full = sync(config, warehouse_url)
    assert full["status"] == "success", full
    after_full = watermarks(warehouse_url)
    assert set(after_full) == {"schools", "academicSessions", "courses", "classes", "students", "teachers", "enrollments", "demographics"}
    before = {entity: updated_at(warehouse_url, entity) for entity in ("students", "enrollments", "sections")}

    students = [district.district.students.sourced_id(i) for i in (3, 40, 41, 300)]
    withdrawn, dropped = district.district.enrollments.sourced_id(10), district.district.enrollments.sourced_id(11)
    district.apply_changes(
        [{"op": "update", "collection": "students", "sourcedId": s, "fields": {"givenName": f"Renamed{i}"}} for i, s in enumerate(students[:3])]
        + [{"op": "tobedeleted", "collection": "students", "sourcedId": students[3]}]
        + [{"op": "update", "collection": "enrollments", "sourcedId": withdrawn, "fields": {"endDate": "2026-11-20"}}]
        + [{"op": "tobedeleted", "collection": "enrollments", "sourcedId": dropped}]
    )
    requests_before = sum(district.stats()["requests"].values())
    incremental = sync(config, warehouse_url, mode="incremental")
    assert incremental["status"] == "success", incremental

    counts = incremental["entities"]
    assert counts["students"]["inserted"] == 0 and counts["students"]["updated"] == 4 and counts["students"]["archived"] == 1
    assert (counts["enrollments"]["inserted"], counts["enrollments"]["updated"], counts["enrollments"]["archived"]) == (0, 2, 1)
    for entity in ("schools", "terms", "courses", "sections", "teachers"):
        assert counts[entity]["inserted"] == counts[entity]["updated"] == counts[entity]["archived"] == 0, entity
    after = {entity: updated_at(warehouse_url, entity) for entity in before}
    rewritten = {s for s, moment in after["students"].items() if moment != before["students"][s]}
    assert rewritten == set(students)  # no other row was written
    assert after["sections"] == before["sections"]
    assert {e for e, moment in after["enrollments"].items() if moment != before["enrollments"][e]} == {withdrawn, dropped}
    assert enrollment_end(warehouse_url, withdrawn) == date(2026, 11, 20)
    assert warehouse_counts(warehouse_url, active_only=True)["students"] == district.totals()["students"] - 1

    moved = watermarks(warehouse_url)
    newest = max(pd.Timestamp(served(district, "students", s)["dateLastModified"]) for s in students)
    assert moved["students"] == newest.to_pydatetime()  # the SIS's clock, not ours
    assert moved["enrollments"] > after_full["enrollments"]
    assert moved["teachers"] == after_full["teachers"]  # nothing new there: unmoved
    # a handful of filtered requests per collection, not the district's pages
    assert sum(district.stats()["requests"].values()) - requests_before < 40


def test_a_held_incremental_run_moves_no_watermark(district, write_config, sync, warehouse_url):
    config = write_config(district, safety={"max_change_fraction": 0.001})
    assert sync(config, warehouse_url)["status"] == "success"
    stored = watermarks(warehouse_url)
    district.apply_changes(
        [{"op": "update", "collection": "students", "sourcedId": district.district.students.sourced_id(i), "fields": {"givenName": "X"}} for i in range(5)]
    )
    held = sync(config, warehouse_url, mode="incremental")
    assert held["status"] == "held", held
    assert watermarks(warehouse_url) == stored


def test_a_rejected_record_keeps_its_collection_watermark(district, write_config, sync, warehouse_url):
    config = write_config(district)
    assert sync(config, warehouse_url)["status"] == "success"
    stored = watermarks(warehouse_url)
    district.apply_changes([
        {"op": "update", "collection": "students", "sourcedId": district.district.students.sourced_id(7), "fields": {"givenName": "", "familyName": ""}},
        {"op": "update", "collection": "teachers", "sourcedId": district.district.teachers.sourced_id(1), "fields": {"givenName": "Ok"}},
    ])
    run = sync(config, warehouse_url, mode="incremental")
    assert run["status"] == "success", run
    assert run["entities"]["students"]["rejected"] == 1
    moved = watermarks(warehouse_url)
    assert moved["students"] == stored["students"]  # the rejected student must come again
    assert moved["teachers"] > stored["teachers"]


def test_an_incremental_run_keeps_the_newest_version_of_a_record_read_twice():
    frame = pd.DataFrame(
        {
            "source_id": ["a", "b", "a", "c", "a"],
            "given_name": ["old", "b", "newest", "c", "middle"],
            "source_updated_at": pd.to_datetime(
                ["2026-11-01T00:00Z", "2026-11-01T00:00Z", "2026-11-03T00:00Z", None, "2026-11-02T00:00Z"], utc=True
            ),
        }
    )
    kept = newest_versions(frame)
    assert sorted(kept["source_id"]) == ["a", "b", "c"]
    assert kept.set_index("source_id").loc["a", "given_name"] == "newest"


def test_whole_table_checks_run_with_full_syncs_and_not_with_incremental_runs(district, write_config, sync, sqlite_url):
    from sis_pipeline.warehouse.schema import check_results
    from sis_pipeline_tests.helpers import query_rows

    config = write_config(district)
    full = sync(config, sqlite_url)
    assert full["status"] == "success"
    district.apply_changes([{"op": "update", "collection": "students", "sourcedId": district.district.students.sourced_id(2), "fields": {"givenName": "Z"}}])
    incremental = sync(config, sqlite_url, mode="incremental")
    assert incremental["status"] == "success"
    checked = {row["run_id"] for row in query_rows(sqlite_url, select(check_results.c.run_id))}
    assert full["run_id"] in checked and incremental["run_id"] not in checked
