"""The whole asset graph against the OneRoster simulator over HTTP, into SQLite and PostgreSQL."""

import pytest
from sqlalchemy import func, select

from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES, rejected_records, student_mappings, sync_runs
from sis_pipeline_tests.helpers import expected_totals, student, warehouse_counts

@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_full_sync_loads_the_simulators_totals_and_a_resync_writes_nothing(district, write_config, sync, warehouse_url, version):
    config = write_config(district, version=version)
    totals = expected_totals(district)

    first = sync(config, warehouse_url)
    assert first["status"] == "success", first
    assert {e: c["fetched"] for e, c in first["entities"].items()} == totals
    assert {e: c["inserted"] for e, c in first["entities"].items()} == totals
    assert all(c["rejected"] == 0 and c["archived"] == 0 for c in first["entities"].values())
    assert warehouse_counts(warehouse_url) == totals

    second = sync(config, warehouse_url, reprocess=True)  # normalised and compared row by row, not an unchanged delivery
    assert second["status"] == "success", second
    assert "unchanged_since" not in second
    assert {e: (c["inserted"], c["updated"], c["unchanged"]) for e, c in second["entities"].items()} == {
        e: (0, 0, n) for e, n in totals.items()
    }
    assert warehouse_counts(warehouse_url) == totals

    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as conn:
        runs = conn.execute(select(sync_runs.c.status, sync_runs.c.counts).order_by(sync_runs.c.started_at)).all()
        uids = conn.execute(select(func.count(func.distinct(ENTITY_TABLES["students"].c.student_uid)))).scalar_one()
        mappings = conn.execute(select(func.count()).select_from(student_mappings)).scalar_one()
    engine.dispose()
    assert [status for status, _ in runs] == ["success", "success"]
    assert runs[1][1]["students"]["unchanged"] == totals["students"]
    assert uids == mappings == totals["students"]


def test_canonical_values_reach_the_warehouse(district, write_config, sync, sqlite_url):
    record = district.district.students.record(0, "1.1")
    assert sync(write_config(district), sqlite_url)["status"] == "success"
    row = student(sqlite_url, record["sourcedId"])
    state_id = next(u["identifier"] for u in record["userIds"] if u["type"] == "stateId")
    assert (row.first_name, row.last_name, row.student_number, row.state_id) == (
        record["givenName"], record["familyName"], record["identifier"], state_id
    )
    assert row.grade_level == record["grades"][0] and row.school_source_id == record["orgs"][0]["sourcedId"]
    assert row.status == "active" and row.enabled is True and row.archived_at is None
    assert row.birth_date is not None


@pytest.mark.parametrize("paging_headers", ["none", "total_only", "link_only"])
def test_every_record_arrives_whatever_paging_headers_the_provider_sends(district, write_config, sync, sqlite_url, paging_headers):
    district.update_settings(paging_headers=paging_headers)
    result = sync(write_config(district, page_size=97), sqlite_url)
    assert result["status"] == "success", result
    assert warehouse_counts(sqlite_url) == expected_totals(district)


def test_withdrawn_student_is_archived_then_restored_with_the_same_uid(district, write_config, sync, warehouse_url):
    config = write_config(district)
    assert sync(config, warehouse_url)["status"] == "success"
    gone = district.district.students.sourced_id(7)
    uid = student(warehouse_url, gone).student_uid
    enrollments = [district.district.enrollments.sourced_id(7 * 6 + k) for k in range(6)]
    district.apply_changes(
        [{"op": "remove", "collection": "students", "sourcedId": gone}]
        + [{"op": "remove", "collection": "enrollments", "sourcedId": e} for e in enrollments]
    )

    withdrawn = sync(config, warehouse_url)
    assert withdrawn["entities"]["students"]["archived"] == 1
    assert withdrawn["entities"]["enrollments"]["archived"] == 6
    assert student(warehouse_url, gone).archived_at is not None
    assert warehouse_counts(warehouse_url, active_only=True)["students"] == district.totals()["students"]

    district.reset()
    restored = sync(config, warehouse_url)
    assert restored["entities"]["students"]["updated"] == 1
    assert restored["entities"]["enrollments"]["updated"] == 6
    row = student(warehouse_url, gone)
    assert row.archived_at is None and row.student_uid == uid


def test_tobedeleted_record_is_kept_and_archived(district, write_config, sync, sqlite_url):
    config = write_config(district)
    sync(config, sqlite_url)
    marked = district.district.students.sourced_id(3)
    district.apply_changes([{"op": "tobedeleted", "collection": "students", "sourcedId": marked}])
    result = sync(config, sqlite_url)
    assert (result["entities"]["students"]["updated"], result["entities"]["students"]["archived"]) == (1, 1)
    row = student(sqlite_url, marked)
    assert row.status == "tobedeleted" and row.archived_at is not None


def test_invalid_records_are_rejected_with_reasons_and_the_rest_loads(district, write_config, sync, warehouse_url):
    config = write_config(district)
    sync(config, warehouse_url)
    bad_name = district.district.students.sourced_id(1)
    bad_date = district.district.students.sourced_id(2)
    before = student(warehouse_url, bad_name)
    district.apply_changes(
        [
            {"op": "update", "collection": "students", "sourcedId": bad_name, "fields": {"familyName": "  "}},
            {"op": "update", "collection": "demographics", "sourcedId": bad_date, "fields": {"birthDate": "2013-02-30"}},
        ]
    )
    result = sync(config, warehouse_url)
    assert result["status"] == "success"
    students = result["entities"]["students"]
    assert (students["rejected"], students["valid"], students["archived"]) == (2, district.totals()["students"] - 2, 0)

    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as conn:
        rows = {r.source_id: r for r in conn.execute(select(rejected_records).where(rejected_records.c.entity == "students"))}
    engine.dispose()
    assert set(rows) == {bad_name, bad_date}
    assert "last_name" in rows[bad_name].reasons and "birth_date" in rows[bad_date].reasons
    assert bad_name in rows[bad_name].payload
    # a rejected student keeps its last good version: it was listed, so it is not archived
    after = student(warehouse_url, bad_name)
    assert after.archived_at is None and after.last_name == before.last_name


def test_enrollment_naming_an_unknown_student_is_rejected(district, write_config, sync, sqlite_url):
    gone = district.district.students.sourced_id(4)
    district.apply_changes([{"op": "remove", "collection": "students", "sourcedId": gone}])
    result = sync(write_config(district), sqlite_url)
    assert result["entities"]["enrollments"]["rejected"] == 6
    assert result["entities"]["enrollments"]["inserted"] == district.totals()["enrollments"] - 6


def test_refused_credentials_fail_the_run_cleanly_and_leave_the_warehouse_as_it_was(
    district, write_config, sync, warehouse_url, monkeypatch
):
    config = write_config(district)
    sync(config, warehouse_url)
    before = warehouse_counts(warehouse_url, active_only=True)
    monkeypatch.setenv("SPRINGFIELD_CLIENT_SECRET", "not-the-secret")
    result = sync(config, warehouse_url)
    assert result["status"] == "failed" and result["error_class"] == "auth"
    assert "not-the-secret" not in result["error"]
    assert warehouse_counts(warehouse_url, active_only=True) == before
    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as conn:
        last = conn.execute(select(sync_runs).order_by(sync_runs.c.started_at.desc()).limit(1)).one()
    engine.dispose()
    assert (last.status, last.error_class) == ("failed", "auth")


def test_entities_cover_the_canonical_model(district, write_config, sync, sqlite_url):
    result = sync(write_config(district), sqlite_url)
    assert list(result["entities"]) == ENTITIES


def test_an_empty_export_never_empties_a_table(district, write_config, sync, warehouse_url):
    config = write_config(district)
    sync(config, warehouse_url)
    before = warehouse_counts(warehouse_url, active_only=True)
    district.apply_changes(
        [{"op": "remove", "collection": "schools", "sourcedId": district.district.schools.sourced_id(i)}
         for i in range(district.district.schools.count())]
    )
    result = sync(config, warehouse_url)
    assert result["status"] == "failed" and result["error_class"] == "data"
    assert "schools" in result["error"] and "refusing to archive" in result["error"]
    assert warehouse_counts(warehouse_url, active_only=True) == before



def test_every_api_call_of_a_run_is_in_the_audit_trail(district, write_config, sync, warehouse_url):
    from sis_pipeline.warehouse.schema import api_calls

    before = district.stats()["requests"]
    result = sync(write_config(district), warehouse_url)
    served = sum(district.stats()["requests"].values()) - sum(before.values())
    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as conn:
        calls = conn.execute(select(api_calls).where(api_calls.c.run_id == result["run_id"])).all()
    engine.dispose()
    assert len(calls) == served  # every call, the token request included, nothing else
    assert [call.path for call in calls if call.method == "POST"] == ["/oauth/token"]
    assert all(call.status == 200 and call.attempt == 1 and call.bytes > 0 for call in calls)
    assert any("/enrollments?limit=100&offset=0" in call.path for call in calls)
