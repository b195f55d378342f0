"""`sis-pipeline sync` as an operator runs it: a real subprocess, JSON out, exit codes, no secrets printed."""

import json
import os
import subprocess
import sys
from pathlib import Path

from sis_pipeline_tests.helpers import expected_totals

CLI = str(Path(sys.executable).with_name("sis-pipeline"))
COUNT_KEYS = {"fetched", "valid", "rejected", "inserted", "updated", "unchanged", "archived"}


def run_cli(*args, env_extra: dict, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    return subprocess.run([CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_sync_json_reports_the_totals_and_a_second_run_reports_no_writes(district, write_config, postgres_url, tmp_path):
    config = write_config(district)
    env = {"SIS_WAREHOUSE_URL": postgres_url, "SIS_STAGING_DIR": str(tmp_path / "staging")}
    first = run_cli("sync", "--config", str(config), "--json", env_extra=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    report = json.loads(first.stdout)["integrations"]["springfield"]
    assert report["status"] == "success"
    totals = expected_totals(district)
    assert {e: c["inserted"] for e, c in report["entities"].items()} == totals
    assert all(set(counts) == COUNT_KEYS for counts in report["entities"].values())

    second = json.loads(run_cli("sync", "--config", str(config), "--json", env_extra=env, cwd=tmp_path).stdout)
    entities = second["integrations"]["springfield"]["entities"]
    assert sum(c["inserted"] + c["updated"] for c in entities.values()) == 0
    assert second["integrations"]["springfield"]["unchanged_since"] == report["run_id"]  # the same bytes: nothing loaded

    # --reprocess compares every row all the same, and says nothing of an unchanged delivery
    third = run_cli("sync", "--config", str(config), "--reprocess", env_extra=env, cwd=tmp_path)
    assert third.returncode == 0, third.stderr[-2000:]
    assert "springfield: success in" in third.stdout and "delivered exactly" not in third.stdout
    for output in (first.stdout, first.stderr):
        assert district.client_secret not in output


def test_readable_summary_and_nonzero_exit_when_an_integration_fails(district, write_config, sqlite_url, tmp_path):
    config = write_config(district)
    env = {"SIS_WAREHOUSE_URL": sqlite_url, "SIS_STAGING_DIR": str(tmp_path / "staging")}
    ok = run_cli("sync", "--config", str(config), env_extra=env, cwd=tmp_path)
    assert ok.returncode == 0 and "springfield: success" in ok.stdout and "enrollments" in ok.stdout
    assert "records in" in ok.stderr  # progress lines

    failed = run_cli("sync", "--config", str(config), env_extra=env | {"SPRINGFIELD_CLIENT_SECRET": "wrong-secret"}, cwd=tmp_path)
    assert failed.returncode == 1
    assert "springfield: failed (auth)" in failed.stdout
    assert any(line.startswith("springfield: failed (auth): ") for line in failed.stderr.splitlines())
    assert "wrong-secret" not in failed.stdout + failed.stderr


def test_bad_config_is_refused_before_any_work(tmp_path):
    config = tmp_path / "integrations.yaml"
    config.write_text("integrations:\n  - name: x\n    provider: nope\n")
    done = run_cli("sync", "--config", str(config), env_extra={}, cwd=tmp_path)
    assert done.returncode == 2
    assert "configuration refused" in done.stderr and str(config) in done.stderr
    assert not (tmp_path / ".data").exists()  # no warehouse was created


def test_an_unknown_integration_is_refused(district, write_config, tmp_path):
    config = write_config(district)
    unknown = run_cli("sync", "--config", str(config), "--integration", "shelbyville", env_extra={}, cwd=tmp_path)
    assert unknown.returncode == 2 and "no integration named 'shelbyville'" in unknown.stderr


def test_an_incremental_sync_from_the_command_line_writes_only_the_change(district, write_config, postgres_url, tmp_path):
    config = write_config(district)
    env = {"SIS_WAREHOUSE_URL": postgres_url, "SIS_STAGING_DIR": str(tmp_path / "staging")}
    assert run_cli("sync", "--config", str(config), "--json", env_extra=env, cwd=tmp_path).returncode == 0
    changed = district.district.students.sourced_id(12)
    district.apply_changes([{"op": "update", "collection": "students", "sourcedId": changed, "fields": {"familyName": "Moved"}}])

    done = run_cli("sync", "--config", str(config), "--mode", "incremental", "--json", env_extra=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)["integrations"]["springfield"]
    assert report["status"] == "success"
    written = {entity: counts["inserted"] + counts["updated"] + counts["archived"] for entity, counts in report["entities"].items()}
    assert written == {entity: int(entity == "students") for entity in written}
