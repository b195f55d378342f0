"""Safety holds: a load that would archive or change too much of the roster applies nothing and waits for a person."""

import json

import dagster as dg
import pytest
from sqlalchemy import select

from sis_pipeline import cli
from sis_pipeline.config import ConfigError, load_config
from sis_pipeline.defs import build_resources, roster_assets
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES, sync_holds
from sis_pipeline.warehouse.runs import read_sync_run
from sis_pipeline_tests.helpers import expected_totals, warehouse_counts

students = ENTITY_TABLES["students"]


def run_status(url: str, run_id: str) -> str:
    engine = create_warehouse_engine(url)
    try:
        return read_sync_run(engine, run_id, "springfield")["status"]
    finally:
        engine.dispose()


def student_rows(url: str) -> dict[str, tuple]:
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(students.c.source_id, students.c.last_name, students.c.archived_at)).all()
    engine.dispose()
    return {source_id: (last_name, archived_at) for source_id, last_name, archived_at in rows}


def remove_students(district, count: int, start: int = 0) -> list[str]:
    """A partial delivery: the SIS stops listing `count` students from position `start`."""
    gone = [district.district.students.sourced_id(i) for i in range(start, start + count)]
    district.apply_changes([{"op": "remove", "collection": "students", "sourcedId": s} for s in gone])
    return gone


def holds_cli(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["holds", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    """What `sis-pipeline holds` reads: the same warehouse and staging folder as the `sync` fixture."""

    def point_at(url: str) -> None:
        monkeypatch.setenv("SIS_WAREHOUSE_URL", url)
        monkeypatch.setenv("SIS_STAGING_DIR", str(tmp_path / "staging"))

    return point_at


def test_a_partial_delivery_is_held_with_its_report_and_changes_nothing(district, write_config, sync, warehouse_url):
    config = write_config(district)
    assert sync(config, warehouse_url)["status"] == "success"
    before = student_rows(warehouse_url)
    total = district.totals()["students"]
    gone = remove_students(district, int(total * 0.58))  # users.csv cut short: 58% of the students missing

    held = sync(config, warehouse_url)

    assert run_status(warehouse_url, held["run_id"]) == "held"
    assert held["status"] == "held"
    assert student_rows(warehouse_url) == before  # nothing applied, not one name or archive
    students_report = held["hold"]["entities"]["students"]
    assert (students_report["active_before"], students_report["archived_active"]) == (total, len(gone))
    assert students_report["archive_fraction"] == pytest.approx(len(gone) / total, abs=1e-3)
    assert set(students_report["sample_archived"]) <= set(gone) and len(students_report["sample_archived"]) == 5
    assert held["hold"]["reasons"] == [
        f"springfield/students: would archive {len(gone)} of {total} active rows ({len(gone) / total:.1%}; limit 10%)"
    ]
    report_text = json.dumps(held["hold"])
    assert not any(name in report_text for name, _ in before.values())  # ids only, never names


def test_the_warehouse_step_fails_visibly_in_dagster_with_the_held_report(district, write_config, sqlite_url, tmp_path):
    config = load_config(write_config(district))
    resources = build_resources(config, sqlite_url, str(tmp_path / "staging"))
    assert dg.materialize(roster_assets(config), partition_key="springfield", resources=resources).success
    remove_students(district, 200)

    result = dg.materialize(roster_assets(config), partition_key="springfield", resources=resources, raise_on_error=False)

    assert run_status(sqlite_url, result.run_id) == "held"
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert failure.step_key == "warehouse_tables"
    data = failure.step_failure_data.user_failure_data
    assert data.metadata["outcome"].value == "held"
    assert data.metadata["approve_with"].value == f"sis-pipeline holds approve {result.run_id}"
    assert "springfield/students: would archive 200 of 650" in data.description


def test_approve_applies_exactly_the_held_data(district, write_config, sync, warehouse_url, cli_env, capsys):
    config = write_config(district)
    sync(config, warehouse_url)
    gone = remove_students(district, 100)
    held = sync(config, warehouse_url)
    assert run_status(warehouse_url, held["run_id"]) == "held"
    district.reset()  # the SIS is whole again: approval must apply what was held, not ask the SIS
    cli_env(warehouse_url)

    code, out, _ = holds_cli(capsys, "list", "--json")
    assert code == 0 and [hold["run_id"] for hold in json.loads(out)["holds"]] == [held["run_id"]]
    code, out, _ = holds_cli(capsys, "show", held["run_id"])
    assert code == 0 and "would archive 100 of 650" in out

    code, out, err = holds_cli(capsys, "approve", held["run_id"], "--json")

    assert code == 0, err
    assert run_status(warehouse_url, held["run_id"]) == "success"
    assert json.loads(out)["entities"]["students"]["archived"] == 100
    archived = {source_id for source_id, (_, archived_at) in student_rows(warehouse_url).items() if archived_at}
    assert archived == set(gone)
    assert holds_cli(capsys, "list", "--json")[1] and json.loads(holds_cli(capsys, "list", "--json")[1])["holds"] == []
    code, _, err = holds_cli(capsys, "approve", held["run_id"])
    assert code == 1 and "no longer pending (approved)" in err


def test_discard_applies_nothing_and_the_hold_cannot_be_approved_after(district, write_config, sync, sqlite_url, cli_env, capsys):
    config = write_config(district)
    sync(config, sqlite_url)
    before = student_rows(sqlite_url)
    remove_students(district, 100)
    held = sync(config, sqlite_url)
    cli_env(sqlite_url)

    code, out, _ = holds_cli(capsys, "discard", held["run_id"])

    assert code == 0 and "discarded; nothing was applied" in out
    assert student_rows(sqlite_url) == before
    engine = create_warehouse_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(select(sync_holds.c.decision)).scalars().all() == ["discarded"]
    engine.dispose()
    code, _, err = holds_cli(capsys, "approve", held["run_id"])
    assert code == 1 and "no longer pending (discarded)" in err
    assert student_rows(sqlite_url) == before


def test_approve_is_refused_once_a_newer_run_succeeded(district, write_config, sync, warehouse_url, cli_env, capsys):
    config = write_config(district)
    sync(config, warehouse_url)
    remove_students(district, 100)
    held = sync(config, warehouse_url)
    district.reset()
    assert sync(config, warehouse_url)["status"] == "success"  # a newer, complete delivery
    cli_env(warehouse_url)

    code, _, err = holds_cli(capsys, "approve", held["run_id"])

    assert code == 1
    assert "succeeded, so the held data is older than the warehouse's" in err
    assert run_status(warehouse_url, held["run_id"]) == "held"
    assert warehouse_counts(warehouse_url, active_only=True) == expected_totals(district)


def test_held_staged_files_outlive_staging_retention(district, write_config, sync, sqlite_url, cli_env, capsys):
    config = write_config(district)
    sync(config, sqlite_url)
    gone = remove_students(district, 100)
    held = sync(config, sqlite_url)
    district.reset()
    failed_later = []
    district.apply_changes(  # later runs fail at the load (an empty schools export is refused), never succeed
        [{"op": "remove", "collection": "schools", "sourcedId": district.district.schools.sourced_id(i)}
         for i in range(district.district.schools.count())]
    )
    for _ in range(4):
        failed_later.append(sync(config, sqlite_url)["status"])
    assert failed_later == ["failed"] * 4
    cli_env(sqlite_url)

    code, _, err = holds_cli(capsys, "approve", held["run_id"])

    assert code == 0, err
    archived = {source_id for source_id, (_, archived_at) in student_rows(sqlite_url).items() if archived_at}
    assert archived == set(gone)


def test_changing_most_of_the_students_is_held(district, write_config, sync, warehouse_url):
    config = write_config(district)
    sync(config, warehouse_url)
    before = student_rows(warehouse_url)
    changed = [district.district.students.sourced_id(i) for i in range(500)]  # 500 of 650: 77%
    district.apply_changes(
        [{"op": "update", "collection": "students", "sourcedId": s, "fields": {"familyName": "Renamed"}} for s in changed]
    )

    held = sync(config, warehouse_url)

    assert run_status(warehouse_url, held["run_id"]) == "held"
    assert held["hold"]["reasons"] == ["springfield/students: would change 500 of 650 active rows (76.9%; limit 75%)"]
    assert set(held["hold"]["entities"]["students"]["sample_changed"]) <= set(changed)
    assert student_rows(warehouse_url) == before


def test_an_integrations_first_sync_is_exempt(district, write_config, sync, sqlite_url):
    result = sync(write_config(district), sqlite_url)
    assert run_status(sqlite_url, result["run_id"]) == "success"
    assert warehouse_counts(sqlite_url) == expected_totals(district)


def test_the_limits_come_from_the_integrations_configuration(district, write_config, sync, sqlite_url):
    config = write_config(district, safety={"max_archive_fraction": 0.25})
    sync(config, sqlite_url)
    remove_students(district, 130)  # 20%: within this integration's 25%

    result = sync(config, sqlite_url)

    assert run_status(sqlite_url, result["run_id"]) == "success"
    assert result["entities"]["students"]["archived"] == 130
    remove_students(district, 170, start=130)  # 170 more of the 520 still active: 33%
    assert run_status(sqlite_url, sync(config, sqlite_url)["run_id"]) == "held"


@pytest.mark.parametrize(
    ("safety", "message"),
    [
        ({"max_archive_fraction": 1.5}, "field 'safety.max_archive_fraction': Input should be less than or equal to 1"),
        ({"max_change_fraction": -0.1}, "field 'safety.max_change_fraction': Input should be greater than or equal to 0"),
        ({"max_delete_fraction": 0.1}, "field 'safety.max_delete_fraction': unknown field"),
    ],
)
def test_safety_limits_are_validated(district, write_config, safety, message):
    with pytest.raises(ConfigError, match="integration 'springfield', " + message.replace("(", r"\(")):
        load_config(write_config(district, safety=safety))
