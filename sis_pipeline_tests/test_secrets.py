"""Client secrets and issued tokens never reach logs, reports or the warehouse in plain text."""

import logging
import os
import shutil
import stat
import subprocess
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.engine import make_url

from sis_pipeline.redact import MASK, redact, register_secret
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.schema import rejected_records
from sis_pipeline_tests.helpers import FILES, USERS, write_package


def test_redact_masks_registered_secrets_and_authorization_values():
    register_secret("hunter2-very-secret")
    line = "calling with hunter2-very-secret and Authorization: Bearer abcdefghijklmnop1234"
    cleaned = redact(line)
    assert "hunter2-very-secret" not in cleaned and "abcdefghijklmnop1234" not in cleaned
    assert cleaned.count(MASK) == 2


def test_log_records_are_redacted_at_creation(caplog):
    register_secret("another-secret-value")
    with caplog.at_level(logging.INFO):
        logging.getLogger("sis_pipeline.test").info("secret is %s", "another-secret-value")
    assert "another-secret-value" not in caplog.text and MASK in caplog.text


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_no_secret_or_token_in_logs_report_or_a_warehouse_dump(district, write_config, sync, postgres_url, caplog, monkeypatch):
    issued: list[str] = []
    tokens = district.state.tokens
    original_issue = tokens.issue

    def recording_issue(ttl_seconds):
        token = original_issue(ttl_seconds)
        issued.append(token)
        return token

    monkeypatch.setattr(tokens, "issue", recording_issue)
    monkeypatch.setenv("SIS_TOKEN_KEY", Fernet.generate_key().decode())  # tokens are stored, encrypted
    config = write_config(district)
    with caplog.at_level(logging.DEBUG):
        report = sync(config, postgres_url)
        district.expire_tokens()  # the next run must refresh, and the refreshed token must stay hidden too
        report_again = sync(config, postgres_url)
    assert report["status"] == report_again["status"] == "success"
    assert len(issued) >= 2

    url = make_url(postgres_url)
    dump = subprocess.run(
        ["pg_dump", "-h", url.host, "-p", str(url.port or 5432), "-U", url.username, "--data-only", url.database],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "springfield" in dump and len(dump) > 10_000  # the dump really holds the roster
    assert "oauth_tokens" in dump and "gAAAA" in dump  # and an encrypted (Fernet) token
    haystacks = {"warehouse dump": dump, "logs": caplog.text, "report": repr(report) + repr(report_again)}
    for secret in [district.client_secret, *issued]:
        for where, text in haystacks.items():
            assert secret not in text, f"a secret reached the {where}"


# --- Student data at rest: private staging, no credential fields -----------------------------------


def staged_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def staged_text(path: Path) -> str:
    """What a file holds, readable: Parquet decoded (its pages may be compressed), anything else as text."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path).to_csv()
    return path.read_text(errors="replace")


def test_staging_folders_are_0700_and_files_0600_whatever_the_umask(district, write_config, sync, sqlite_url, tmp_path):
    old_umask = os.umask(0)  # the most permissive a process can run with
    try:
        result = sync(write_config(district), sqlite_url)
    finally:
        os.umask(old_umask)
    assert result["status"] == "success", result
    root = tmp_path / "staging"
    folders = [root, *(path for path in root.rglob("*") if path.is_dir())]
    files = staged_files(root)
    kinds = {path.suffix for path in files}
    assert {".ndjson", ".parquet", ".json"} <= kinds and len(files) > 20  # raw pages, frames and handles
    assert {oct(stat.S_IMODE(folder.stat().st_mode)) for folder in folders} == {"0o700"}
    assert {oct(stat.S_IMODE(path.stat().st_mode)) for path in files} == {"0o600"}


def test_a_users_password_reaches_neither_staging_nor_rejected_records(district, write_config, sync, postgres_url, tmp_path):
    valid, invalid = district.district.students.sourced_id(1), district.district.students.sourced_id(2)
    passwords = {valid: "valid-users-pw-1234", invalid: "rejected-users-pw-5678"}
    district.apply_changes([
        {"op": "update", "collection": "students", "sourcedId": valid, "fields": {"password": passwords[valid]}},
        {"op": "update", "collection": "students", "sourcedId": invalid,
         "fields": {"password": passwords[invalid], "familyName": "  "}},
    ])
    served = _served_student(district, invalid)
    assert served["password"] == passwords[invalid]  # the SIS really sends it

    result = sync(write_config(district), postgres_url)
    assert result["status"] == "success" and result["entities"]["students"]["rejected"] == 1, result
    files = staged_files(tmp_path / "staging")
    raw_students = next(path for path in files if path.name == "students.ndjson").read_text()
    assert valid in raw_students and invalid in raw_students  # the records were staged, without the field
    engine = create_warehouse_engine(postgres_url)
    with engine.connect() as conn:
        payloads = conn.execute(select(rejected_records.c.source_id, rejected_records.c.payload)).all()
    engine.dispose()
    assert [source_id for source_id, _ in payloads] == [invalid] and invalid in payloads[0][1]
    for password in passwords.values():
        assert not any(password in staged_text(path) for path in files)
        assert password not in payloads[0][1]
    assert '"password"' not in raw_students


def test_a_csv_users_password_reaches_neither_staging_nor_rejected_records(tmp_path, sync, sqlite_url):
    users = USERS.replace("stu-1,,,true,\"sch-1,sch-2\",student,zoe,\"{stateId:CA100},{district:7}\",Zoë,O'Brien,,1001,,,,,05,",
                          "stu-1,,,true,\"sch-1,sch-2\",student,zoe,\"{stateId:CA100},{district:7}\",Zoë,O'Brien,,1001,,,,,05,csv-pw-valid")
    users = users.replace("stu-3,,,true,sch-1,student,bad,,Bo,,,1003,,,,,05,", "stu-3,,,true,sch-1,student,bad,,Bo,,,1003,,,,,05,csv-pw-bad")
    assert "csv-pw-valid" in users and "csv-pw-bad" in users
    package = write_package(tmp_path / "drop.zip", FILES | {"users": users}, dict.fromkeys(FILES, "bulk"), as_zip=True)
    config = tmp_path / "integrations.yaml"
    config.write_text(yaml.safe_dump({"integrations": [
        {"name": "springfield", "provider": "oneroster_csv", "options": {"path": str(package)}},
    ]}))
    result = sync(config, sqlite_url)
    assert result["status"] == "success" and result["entities"]["students"]["rejected"] == 1, result
    engine = create_warehouse_engine(sqlite_url)
    with engine.connect() as conn:
        payloads = dict(conn.execute(select(rejected_records.c.source_id, rejected_records.c.payload)).all())
    engine.dispose()
    assert "stu-3" in payloads
    files = staged_files(tmp_path / "staging")
    for password in ("csv-pw-valid", "csv-pw-bad"):
        assert not any(password in staged_text(path) for path in files)
        assert not any(password in (payload or "") for payload in payloads.values())


def test_staging_keeps_the_runs_sis_staging_keep_runs_says(district, write_config, sync, sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("SIS_STAGING_KEEP_RUNS", "1")
    config = write_config(district)
    run_ids = [sync(config, sqlite_url, reprocess=True)["run_id"] for _ in range(3)]  # each loads (and is the newest loaded)
    kept = {path.name for path in (tmp_path / "staging" / "springfield").iterdir() if path.name != "handles"}
    # one run, plus the run whose data the newest handles still point at (pruned at the start of a run)
    assert kept == set(run_ids[-2:])


def test_a_bad_sis_staging_keep_runs_is_refused_naming_the_variable(monkeypatch):
    from sis_pipeline.config import ConfigError, PipelineConfig
    from sis_pipeline.defs import build_resources

    for bad in ("0", "three", "-1"):
        monkeypatch.setenv("SIS_STAGING_KEEP_RUNS", bad)
        with pytest.raises(ConfigError, match="SIS_STAGING_KEEP_RUNS"):
            build_resources(PipelineConfig(integrations=[]))


def _served_student(sim, source_id: str) -> dict:
    token = httpx.post(sim.token_url, data={"grant_type": "client_credentials"}, auth=(sim.client_id, sim.client_secret))
    answer = httpx.get(f"{sim.oneroster_root('1.1')}/students/{source_id}",
                       headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    return answer.json()["user"]


def test_a_run_error_is_stored_masked_like_a_log_line(sqlite_url):
    from sis_pipeline.warehouse import ensure_schema
    from sis_pipeline.warehouse.runs import finish_sync_run, read_sync_run, start_sync_run

    register_secret("run-error-secret-123")
    engine = create_warehouse_engine(sqlite_url)
    ensure_schema(engine)
    start_sync_run(engine, "run-1", "springfield", "full")
    finish_sync_run(engine, "run-1", "springfield", "failed", {}, error_class="network",
                    error="ConnectError calling https://admin:url-pw-456@sis.example.org/x with run-error-secret-123")
    stored = read_sync_run(engine, "run-1", "springfield")["error"]
    engine.dispose()
    assert "url-pw-456" not in stored and "run-error-secret-123" not in stored and "sis.example.org/x" in stored


def test_private_folders_and_files_are_exactly_0700_and_0600_even_under_a_umask_that_takes_owner_bits(tmp_path):
    from sis_pipeline.staging import open_private

    target = tmp_path / "staging" / "springfield" / "run-1" / "raw" / "students.ndjson"
    (tmp_path / "staging").mkdir()
    old_umask = os.umask(0o277)  # would leave the owner unable to write into a folder it just made
    try:
        with open_private(target) as out:
            out.write(b'{"sourcedId": "stu-1"}\n')
    finally:
        os.umask(old_umask)
    made = [target.parent, target.parent.parent, target.parent.parent.parent]
    assert {oct(stat.S_IMODE(folder.stat().st_mode)) for folder in made} == {"0o700"}
    assert oct(stat.S_IMODE(target.stat().st_mode)) == "0o600"


def test_the_embedded_warehouse_file_is_readable_by_its_owner_only(district, write_config, sync, tmp_path, monkeypatch):
    """The SQLite warehouse holds every student: 0600 (its -wal and -shm too) and a private .data/, whatever the umask."""
    import os
    import stat

    from sis_pipeline.warehouse.engine import warehouse_url

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIS_WAREHOUSE_URL", raising=False)
    previous = os.umask(0o022)
    try:
        url = warehouse_url()
        assert sync(write_config(district), url)["status"] == "success"
    finally:
        os.umask(previous)
    data = tmp_path / ".data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [path for path in data.iterdir() if path.name.startswith("warehouse.sqlite")]
    assert data / "warehouse.sqlite" in files
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files} == {path.name: 0o600 for path in files}
