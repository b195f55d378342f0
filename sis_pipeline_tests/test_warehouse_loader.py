"""What a district sees after each load, on SQLite and PostgreSQL alike."""

import uuid
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from sqlalchemy import func, select

from sis_pipeline.normalize.models import DATE_COLUMNS, columns
from sis_pipeline.warehouse import (
    WarehouseLoadError,
    WarehouseSafetyError,
    finish_sync_run,
    load_integration,
    read_student_mappings,
    start_sync_run,
)
from sis_pipeline.warehouse.schema import ENTITY_TABLES, rejected_records, student_mappings, sync_runs

INTEGRATION = "demo"
students_table = ENTITY_TABLES["students"]
schools_table = ENTITY_TABLES["schools"]


def canonical(entity: str, count: int, integration: str = INTEGRATION) -> pd.DataFrame:
    """A valid canonical frame: required text filled per row, optional text empty, dates and flags set."""
    ids = [f"{entity}-{index}" for index in range(count)]
    frame = pd.DataFrame({name: [None] * count for name in columns(entity)}, dtype=object)
    frame["integration"] = integration
    frame["source_id"] = ids
    frame["status"] = "active"
    frame["source_updated_at"] = pd.Timestamp("2024-08-01T12:00:00.123456Z")
    for name in DATE_COLUMNS.get(entity, []):
        frame[name] = "2024-08-20"
    table = ENTITY_TABLES[entity]
    for name in columns(entity):
        if not table.c[name].nullable and frame[name].isna().all():
            frame[name] = [f"{name} {source_id}" for source_id in ids]
    if entity == "enrollments":
        frame["role"] = "student"
    if entity in ("students", "teachers"):
        frame["enabled"] = True
    if entity in ("students", "teachers"):
        frame[f"{entity[:-1]}_uid"] = [str(uuid.uuid4()) for _ in ids]
        frame["identity_rule"] = "new"
    return frame


def load(engine, datasets, *, full=True, run_id=None, **kwargs):
    run_id = run_id or uuid.uuid4().hex
    start_sync_run(engine, run_id, INTEGRATION, "full" if full else "delta")
    counts = load_integration(engine, INTEGRATION, datasets, full=full, run_id=run_id, **kwargs)
    return {entity: entity_counts.as_dict() for entity, entity_counts in counts.items()}


def counts(staged, inserted=0, updated=0, unchanged=0, archived=0):
    return {"staged": staged, "inserted": inserted, "updated": updated, "unchanged": unchanged, "archived": archived}


def rows(engine, table, integration=INTEGRATION) -> dict[str, dict]:
    with engine.connect() as conn:
        result = conn.execute(select(table).where(table.c.integration == integration)).mappings().all()
    return {row["source_id"]: dict(row) for row in result}


def row_count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_first_load_inserts_every_student_and_links_each_to_a_new_uid(warehouse_engine):
    students = canonical("students", 1000)

    assert load(warehouse_engine, {"students": [students[:400], students[400:]]}) == {
        "students": counts(1000, inserted=1000)
    }

    stored = rows(warehouse_engine, students_table)
    assert len(stored) == 1000
    assert {source_id: row["student_uid"] for source_id, row in stored.items()} == dict(
        zip(students.source_id, students.student_uid, strict=True)
    )
    mappings = read_student_mappings(warehouse_engine, INTEGRATION)
    assert dict(zip(mappings.source_id, mappings.student_uid, strict=True)) == dict(
        zip(students.source_id, students.student_uid, strict=True)
    )
    with warehouse_engine.connect() as conn:
        rules = conn.execute(select(student_mappings.c.rule, student_mappings.c.id_type).distinct()).all()
    assert rules == [("new", "source_id")]


def test_the_load_records_the_identity_steps_decision_and_never_makes_its_own(warehouse_engine):
    students = canonical("students", 2).assign(identity_rule=["new", "legacy_source_id"])
    load(warehouse_engine, {"students": [students]})

    with warehouse_engine.connect() as conn:
        linked = conn.execute(
            select(student_mappings.c.source_id, student_mappings.c.student_uid, student_mappings.c.rule).order_by(
                student_mappings.c.source_id
            )
        ).all()
    assert linked == [
        ("students-0", students.student_uid[0], "new"),
        ("students-1", students.student_uid[1], "legacy_source_id"),
    ]
    assert {row["student_uid"] for row in rows(warehouse_engine, students_table).values()} == set(students.student_uid)


def test_unchanged_resync_writes_nothing(warehouse_engine):
    students = canonical("students", 1000)
    load(warehouse_engine, {"students": [students]})
    before = rows(warehouse_engine, students_table)

    assert load(warehouse_engine, {"students": [students]}) == {"students": counts(1000, unchanged=1000)}
    assert rows(warehouse_engine, students_table) == before


def test_one_changed_name_is_one_update(warehouse_engine):
    students = canonical("students", 1000)
    load(warehouse_engine, {"students": [students]})
    before = rows(warehouse_engine, students_table)["students-7"]
    students.loc[7, "first_name"] = "Renamed"

    assert load(warehouse_engine, {"students": [students]}) == {"students": counts(1000, updated=1, unchanged=999)}

    after = rows(warehouse_engine, students_table)["students-7"]
    assert after["first_name"] == "Renamed"
    assert after["first_seen_at"] == before["first_seen_at"]
    assert after["updated_at"] > before["updated_at"]


def test_a_tracked_column_changing_to_and_from_null_is_one_update_each_way(warehouse_engine):
    students = canonical("students", 1000)
    students["email"] = [f"{source_id}@example.org" for source_id in students.source_id]
    load(warehouse_engine, {"students": [students]})

    cleared = students.copy()
    cleared.loc[3, "email"] = None
    assert load(warehouse_engine, {"students": [cleared]}) == {"students": counts(1000, updated=1, unchanged=999)}
    assert rows(warehouse_engine, students_table)["students-3"]["email"] is None

    assert load(warehouse_engine, {"students": [students]}) == {"students": counts(1000, updated=1, unchanged=999)}
    assert rows(warehouse_engine, students_table)["students-3"]["email"] == "students-3@example.org"


def test_full_sync_archives_the_missing_student_and_restores_them_with_the_same_uid(warehouse_engine):
    students = canonical("students", 1000)
    load(warehouse_engine, {"students": [students]})
    uid = students.loc[5, "student_uid"]

    assert load(warehouse_engine, {"students": [students.drop(index=5)]}) == {
        "students": counts(999, unchanged=999, archived=1)
    }
    archived = rows(warehouse_engine, students_table)
    assert len(archived) == 1000
    assert archived["students-5"]["archived_at"] is not None
    assert sum(row["archived_at"] is not None for row in archived.values()) == 1

    returning = students.copy()
    returning.loc[5, "student_uid"] = str(uuid.uuid4())  # the identity step minting again must not win
    assert load(warehouse_engine, {"students": [returning]}) == {"students": counts(1000, updated=1, unchanged=999)}
    restored = rows(warehouse_engine, students_table)["students-5"]
    assert restored["archived_at"] is None
    assert restored["student_uid"] == uid
    mappings = read_student_mappings(warehouse_engine, INTEGRATION)
    assert mappings.loc[mappings.source_id == "students-5", "student_uid"].tolist() == [uid]


def test_delta_sync_never_archives_by_absence(warehouse_engine):
    students = canonical("students", 10)
    load(warehouse_engine, {"students": [students]})

    assert load(warehouse_engine, {"students": [students[:3]]}, full=False) == {"students": counts(3, unchanged=3)}
    assert all(row["archived_at"] is None for row in rows(warehouse_engine, students_table).values())


def test_tobedeleted_records_are_archived_kept_and_restorable(warehouse_engine):
    schools = canonical("schools", 3)
    load(warehouse_engine, {"schools": [schools]})
    schools.loc[1, "status"] = "tobedeleted"
    newcomer = canonical("schools", 4)[3:].assign(status="tobedeleted")
    marked = pd.concat([schools, newcomer], ignore_index=True)

    # one school of three is a third of the table: beyond the default hold limits (test_holds.py)
    assert load(warehouse_engine, {"schools": [marked]}, safety=None) == {
        "schools": counts(4, inserted=1, updated=1, unchanged=2, archived=2)
    }
    stored = rows(warehouse_engine, schools_table)
    assert {source_id for source_id, row in stored.items() if row["archived_at"] is not None} == {
        "schools-1",
        "schools-3",
    }
    assert stored["schools-1"]["status"] == "tobedeleted"

    assert load(warehouse_engine, {"schools": [marked]}) == {"schools": counts(4, unchanged=4)}

    marked.loc[1, "status"] = "active"
    assert load(warehouse_engine, {"schools": [marked]}, safety=None) == {"schools": counts(4, updated=1, unchanged=3)}
    assert rows(warehouse_engine, schools_table)["schools-1"]["archived_at"] is None


def test_full_sync_of_zero_rows_is_refused_and_changes_nothing(warehouse_engine):
    load(warehouse_engine, {"schools": [canonical("schools", 2)], "students": [canonical("students", 5)]})
    schools_before = rows(warehouse_engine, schools_table)

    with pytest.raises(WarehouseSafetyError, match=r"demo/students: .*staged 0 rows .* holds 5 active rows"):
        load(warehouse_engine, {"schools": [canonical("schools", 1)], "students": []})

    assert rows(warehouse_engine, schools_table) == schools_before
    assert all(row["archived_at"] is None for row in rows(warehouse_engine, students_table).values())


def test_full_sync_of_zero_rows_on_an_empty_warehouse_is_fine(warehouse_engine):
    assert load(warehouse_engine, {"students": [canonical("students", 0)]}) == {"students": counts(0)}


def test_a_failure_mid_load_leaves_the_warehouse_exactly_as_before(warehouse_engine):
    schools, students = canonical("schools", 3), canonical("students", 3)
    load(warehouse_engine, {"schools": [schools], "students": [students]})
    before = {table.name: rows(warehouse_engine, table) for table in (schools_table, students_table)}
    mappings_before = read_student_mappings(warehouse_engine, INTEGRATION)

    schools.loc[0, "name"] = "Renamed"
    grown = pd.concat([schools, canonical("schools", 4)[3:]], ignore_index=True)
    broken = canonical("students", 4)
    broken.loc[3, "last_name"] = None
    rejected = {"students": pd.DataFrame({"source_id": ["x"], "reasons": ["bad"], "payload": ["{}"]})}
    start_sync_run(warehouse_engine, "failing", INTEGRATION, "full")
    with pytest.raises(Exception, match="last_name") as failure:
        load_integration(
            warehouse_engine,
            INTEGRATION,
            {"schools": [grown], "students": [broken]},
            full=True,
            run_id="failing",
            rejected=rejected,
        )
    finish_sync_run(
        warehouse_engine, "failing", INTEGRATION, "failed", {}, type(failure.value).__name__, str(failure.value)
    )

    assert {table.name: rows(warehouse_engine, table) for table in (schools_table, students_table)} == before
    pd.testing.assert_frame_equal(read_student_mappings(warehouse_engine, INTEGRATION), mappings_before)
    assert row_count(warehouse_engine, rejected_records) == 0
    assert any("demo/students" in note for note in failure.value.__notes__)
    with warehouse_engine.connect() as conn:
        run = conn.execute(select(sync_runs).where(sync_runs.c.run_id == "failing")).mappings().one()
    assert (run["status"], run["error_class"]) == ("failed", type(failure.value).__name__)
    assert run["ended_at"] is not None
    assert load(warehouse_engine, {"schools": [grown]}) == {"schools": counts(4, inserted=1, updated=1, unchanged=2)}


def test_run_is_closed_as_success_with_its_counts_in_the_load_transaction(warehouse_engine):
    rejected = {
        "students": pd.DataFrame(
            {
                "source_id": ["s-bad", None],
                "reasons": ["birth_date: 2026-02-30 is not a date", "no id"],
                "payload": ['{"a": 1}', None],
            }
        )
    }
    load(
        warehouse_engine,
        {"students": [canonical("students", 2)]},
        run_id="r1",
        rejected=rejected,
        counts_extra={"fetched": {"students": 4}},
    )

    with warehouse_engine.connect() as conn:
        run = conn.execute(select(sync_runs).where(sync_runs.c.run_id == "r1")).mappings().one()
        stored_rejects = conn.execute(
            select(
                rejected_records.c.run_id,
                rejected_records.c.integration,
                rejected_records.c.entity,
                rejected_records.c.source_id,
                rejected_records.c.reasons,
                rejected_records.c.payload,
            ).order_by(rejected_records.c.id)
        ).all()
    assert run["status"] == "success"
    assert run["mode"] == "full"
    assert run["counts"] == {
        "students": counts(2, inserted=2),
        "rejected": {"students": 2},
        "stale": {"students": 0},
        "fetched": {"students": 4},
    }
    assert stored_rejects == [
        ("r1", "demo", "students", "s-bad", "birth_date: 2026-02-30 is not a date", '{"a": 1}'),
        ("r1", "demo", "students", None, "no id", None),
    ]


def test_finishing_a_run_that_never_started_is_an_error(warehouse_engine):
    with pytest.raises(LookupError, match="ghost"):
        finish_sync_run(warehouse_engine, "ghost", INTEGRATION, "success", {})


def test_a_full_sync_archives_only_within_its_own_integration(warehouse_engine):
    other = canonical("students", 3, integration="other")
    start_sync_run(warehouse_engine, "o1", "other", "full")
    load_integration(warehouse_engine, "other", {"students": [other]}, full=True, run_id="o1")

    assert load(warehouse_engine, {"students": [canonical("students", 1)]}) == {"students": counts(1, inserted=1)}
    assert all(row["archived_at"] is None for row in rows(warehouse_engine, students_table, "other").values())


def test_a_chunk_from_another_integration_is_refused(warehouse_engine):
    with pytest.raises(WarehouseLoadError, match=r"demo/schools: .*'other' \(source_id 'schools-0'\)"):
        load(warehouse_engine, {"schools": [canonical("schools", 2, integration="other")]})
    assert row_count(warehouse_engine, schools_table) == 0


def test_a_source_id_repeated_across_chunks_fails_the_load(warehouse_engine):
    schools = canonical("schools", 3)
    with pytest.raises(Exception, match="source_id") as failure:
        load(warehouse_engine, {"schools": [schools, schools[1:2]]})
    assert failure.value.__notes__ == ["while staging demo/schools rows 4-4"]
    assert row_count(warehouse_engine, schools_table) == 0


def test_values_round_trip_and_reload_unchanged(warehouse_engine):
    students = canonical("students", 3)
    students["email"] = ["", None, "kid@example.org"]
    students["enabled"] = pd.array([True, False, None], dtype="boolean")
    students["birth_date"] = ["2010-03-28", None, "2011-10-31"]
    students["source_updated_at"] = pd.to_datetime(
        ["2024-03-31T00:59:59.999999Z", "2024-10-27T01:30:00Z", None], utc=True, format="ISO8601"
    )
    load(warehouse_engine, {"students": [students]})

    stored = rows(warehouse_engine, students_table)
    assert [stored[f"students-{index}"]["email"] for index in range(3)] == ["", None, "kid@example.org"]
    assert [stored[f"students-{index}"]["enabled"] for index in range(3)] == [True, False, None]
    assert [stored[f"students-{index}"]["birth_date"] for index in range(3)] == [
        date(2010, 3, 28),
        None,
        date(2011, 10, 31),
    ]
    assert [_as_utc(stored[f"students-{index}"]["source_updated_at"]) for index in range(3)] == [
        datetime(2024, 3, 31, 0, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 10, 27, 1, 30, tzinfo=UTC),
        None,
    ]
    assert load(warehouse_engine, {"students": [students]}) == {"students": counts(3, unchanged=3)}


def test_every_entity_loads_and_reloads_unchanged(warehouse_engine):
    datasets = {entity: [canonical(entity, 5)] for entity in ENTITY_TABLES}
    assert load(warehouse_engine, datasets) == {entity: counts(5, inserted=5) for entity in ENTITY_TABLES}
    assert load(warehouse_engine, datasets) == {entity: counts(5, unchanged=5) for entity in ENTITY_TABLES}


def _as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC; PostgreSQL hands back an aware time."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def test_a_student_first_seen_as_tobedeleted_gets_a_closed_link(warehouse_engine):
    """The links' validity follows the rows on a first load too (close_links looks at inserted rows only
    when they arrive archived)."""
    students = canonical("students", 5)
    students.loc[3, "status"] = "tobedeleted"
    load(warehouse_engine, {"students": [students]})
    with warehouse_engine.connect() as conn:
        links = conn.execute(
            select(student_mappings.c.source_id, student_mappings.c.valid_to).where(student_mappings.c.id_type == "source_id")
        ).all()
    closed = {source_id for source_id, valid_to in links if valid_to is not None}
    assert len(links) == 5 and closed == {"students-3"}
