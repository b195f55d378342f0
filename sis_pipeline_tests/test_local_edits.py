"""Local edits against SIS changes of the same field, under each conflict strategy, through the command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from sis_pipeline.warehouse.schema import ENTITY_TABLES, local_overrides, student_profiles, sync_conflicts
from sis_pipeline_tests.helpers import query_rows

CLI = str(Path(sys.executable).with_name("sis-pipeline"))
STUDENTS = ENTITY_TABLES["students"]


def cli(url: str, cwd, *args) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], env={**os.environ, "SIS_WAREHOUSE_URL": url}, capture_output=True, text=True, cwd=cwd, timeout=120)


def golden_last_name(url: str, uid: str) -> str:
    return query_rows(url, select(student_profiles.c.last_name).where(student_profiles.c.student_uid == uid))[0]["last_name"]


def edited_district(district, write_config, sync, url, tmp_path, strategy):
    """A synced district where a registrar corrected one child's last name locally; then the SIS changes it too."""
    config = write_config(district, conflict_strategy=strategy)
    assert sync(config, url)["status"] == "success"
    source_id = district.district.students.sourced_id(8)
    uid = query_rows(url, select(STUDENTS.c.student_uid).where(STUDENTS.c.source_id == source_id))[0]["student_uid"]
    edit = cli(url, tmp_path, "students", "edit", uid, "--set", "last_name=Local-Spelling", "--by", "registrar", "--reason", "family request")
    assert edit.returncode == 0, edit.stderr
    assert golden_last_name(url, uid) == "Local-Spelling"
    return config, source_id, uid


@pytest.mark.parametrize(
    "strategy, sis_edit_is_newer, shown, edit_active",
    [
        ("sis_wins", True, "Sis-Spelling", False),
        ("local_wins", True, "Local-Spelling", True),
        ("newest_wins", True, "Sis-Spelling", False),
        ("manual", True, "Local-Spelling", True),
    ],
)
def test_each_strategy_with_a_local_edit_and_a_sis_edit_of_the_same_field(
    strategy, sis_edit_is_newer, shown, edit_active, district, write_config, sync, warehouse_url, tmp_path
):
    config, source_id, uid = edited_district(district, write_config, sync, warehouse_url, tmp_path, strategy)
    district.apply_changes([{"op": "update", "collection": "students", "sourcedId": source_id, "fields": {"familyName": "Sis-Spelling"}}])
    run = sync(config, warehouse_url, mode="incremental")
    assert run["status"] == "success", run

    assert golden_last_name(warehouse_url, uid) == shown
    # the students row always mirrors the SIS
    assert query_rows(warehouse_url, select(STUDENTS.c.last_name).where(STUDENTS.c.source_id == source_id))[0]["last_name"] == "Sis-Spelling"
    edits = query_rows(warehouse_url, select(local_overrides))
    assert len(edits) == 1 and (edits[0]["retired_at"] is None) == edit_active
    conflicts = query_rows(warehouse_url, select(sync_conflicts))
    if strategy == "manual":
        assert [(c["field"], c["sis_value"], c["local_value"], c["resolution"]) for c in conflicts] == [
            ("last_name", "Sis-Spelling", "Local-Spelling", None)
        ]
    else:
        assert conflicts == []


def test_newest_wins_keeps_a_local_edit_made_after_the_sis_change(district, write_config, sync, warehouse_url, tmp_path):
    config = write_config(district, conflict_strategy="newest_wins")
    assert sync(config, warehouse_url)["status"] == "success"
    source_id = district.district.students.sourced_id(8)
    district.apply_changes([{"op": "update", "collection": "students", "sourcedId": source_id, "fields": {"familyName": "Sis-Spelling"}}])
    uid = query_rows(warehouse_url, select(STUDENTS.c.student_uid).where(STUDENTS.c.source_id == source_id))[0]["student_uid"]
    # the registrar corrects after the SIS changed it, before the next sync picks the SIS change up
    assert cli(warehouse_url, tmp_path, "students", "edit", uid, "--set", "last_name=Later-Local", "--by", "registrar").returncode == 0
    assert sync(config, warehouse_url, mode="incremental")["status"] == "success"
    assert golden_last_name(warehouse_url, uid) == "Later-Local"


def test_a_manual_conflict_is_resolved_from_the_command_line_and_asked_once(district, write_config, sync, warehouse_url, tmp_path):
    config, source_id, uid = edited_district(district, write_config, sync, warehouse_url, tmp_path, "manual")
    district.apply_changes([{"op": "update", "collection": "students", "sourcedId": source_id, "fields": {"familyName": "Sis-Spelling"}}])
    assert sync(config, warehouse_url, mode="incremental")["status"] == "success"
    assert sync(config, warehouse_url)["status"] == "success"  # the nightly full sync: same SIS value, no second conflict
    listed = cli(warehouse_url, tmp_path, "conflicts", "list", "--json")
    found = json.loads(listed.stdout)["conflicts"]
    assert len(found) == 1

    resolved = cli(warehouse_url, tmp_path, "conflicts", "resolve", str(found[0]["id"]), "--take", "value=Agreed-Spelling", "--by", "registrar")
    assert resolved.returncode == 0, resolved.stderr
    assert golden_last_name(warehouse_url, uid) == "Agreed-Spelling"
    assert cli(warehouse_url, tmp_path, "conflicts", "list").stdout.strip() == "no open conflicts"
    shown = json.loads(cli(warehouse_url, tmp_path, "students", "show", uid, "--json").stdout)
    assert [o["value"] for o in shown["overrides"]] == ["Local-Spelling", "Agreed-Spelling"]
    assert shown["overrides"][0]["retired_at"] is not None and shown["overrides"][1]["set_by"] == "registrar"


def test_an_edit_of_an_unknown_field_or_child_is_refused(district, write_config, sync, sqlite_url, tmp_path):
    assert sync(write_config(district), sqlite_url)["status"] == "success"
    refused = cli(sqlite_url, tmp_path, "students", "edit", "no-such-uid", "--set", "last_name=X", "--by", "registrar")
    assert refused.returncode == 1 and "no student with student_uid no-such-uid" in refused.stderr
    uid = query_rows(sqlite_url, select(STUDENTS.c.student_uid).limit(1))[0]["student_uid"]
    bad = cli(sqlite_url, tmp_path, "students", "edit", uid, "--set", "shoe_size=9", "--by", "registrar")
    assert bad.returncode == 1 and "cannot be edited" in bad.stderr


def test_the_conflicts_benchmark_runs_and_checks_its_figures(tmp_path):
    out = tmp_path / "conflicts.json"
    bench = Path(__file__).resolve().parents[1] / "bench" / "conflicts.py"
    done = subprocess.run([sys.executable, str(bench), "--students", "20000", "--json-out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["edited"] == 200
    assert {s: r["decided"] for s, r in figures["strategies"].items()} == {"sis_wins": 200, "newest_wins": 200, "manual": 200, "local_wins": 0}
