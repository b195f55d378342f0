"""What an operator reads when a sync fails: one line per failed integration on stderr, tracebacks only with
--verbose, and a bad SIS_TOKEN_KEY refused before any work."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

from cryptography.fernet import Fernet

from sis_pipeline.warehouse.engine import parse_warehouse_url

CLI = str(Path(sys.executable).with_name("sis-pipeline"))
NOT_A_KEY = "not-a-fernet-key"


def run_cli(*args, env_extra: dict, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    return subprocess.run([CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_failed_integration_is_one_line_on_stderr_and_its_traceback_only_with_verbose(
    district, write_config, postgres_server_url, tmp_path
):
    missing = parse_warehouse_url(postgres_server_url).set(database=f"missing_{uuid.uuid4().hex[:8]}")
    env = {"SIS_WAREHOUSE_URL": missing.render_as_string(hide_password=False), "SIS_STAGING_DIR": str(tmp_path / "staging")}
    config = str(write_config(district))
    line = (
        f"springfield: failed (warehouse): could not connect to the warehouse at {missing.render_as_string()}: "
        f'connection to server at "{missing.host}", port {missing.port} failed: FATAL: database "{missing.database}" does not exist'
    )

    plain = run_cli("sync", "--config", config, env_extra=env, cwd=tmp_path)
    assert plain.returncode == 1
    assert line in plain.stderr.splitlines()
    assert len(plain.stderr.splitlines()) <= 3, plain.stderr[:3000]
    assert "Traceback" not in plain.stderr and "Stack Trace" not in plain.stderr
    assert plain.stdout.strip() == f"springfield: failed (warehouse) in {plain.stdout.split(' in ')[1].strip()}"

    verbose = run_cli("sync", "--config", config, "--verbose", env_extra=env, cwd=tmp_path)
    assert verbose.returncode == 1 and line in verbose.stderr.splitlines()
    assert 'File "' in verbose.stderr and "psycopg.OperationalError" in verbose.stderr  # the stack, down to the cause


def test_a_successful_sync_logs_progress_without_the_libraries_chatter(district, write_config, sqlite_url, tmp_path):
    env = {"SIS_WAREHOUSE_URL": sqlite_url, "SIS_STAGING_DIR": str(tmp_path / "staging")}
    done = run_cli("sync", "--config", str(write_config(district)), env_extra=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "springfield students: " in done.stderr  # our progress lines
    for chatter in ("HTTP Request:", "dagster -", "RUN_START", "STEP_START", "alembic.runtime", "Context impl"):
        assert chatter not in done.stderr, done.stderr[:3000]


def test_an_invalid_sis_token_key_is_refused_before_any_work(district, write_config, tmp_path):
    good = Fernet.generate_key().decode()
    env = {"SIS_TOKEN_KEY": f"{good},{NOT_A_KEY}", "SIS_STAGING_DIR": str(tmp_path / "staging")}
    done = run_cli("sync", "--config", str(write_config(district)), "--json", env_extra=env, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "configuration refused (config): SIS_TOKEN_KEY: key 2 of 2 is not a Fernet key (32 url-safe base64-encoded "
        "bytes); expected comma-separated keys from Fernet.generate_key(), newest first"
    ]
    assert NOT_A_KEY not in done.stderr and good not in done.stderr
    assert not (tmp_path / "staging").exists() and not (tmp_path / ".data").exists()  # nothing extracted, no warehouse


def test_in_dagster_an_invalid_sis_token_key_fails_the_code_location_and_the_first_step_as_config(
    district, write_config, sync, sqlite_url, tmp_path, monkeypatch
):
    config = write_config(district)
    env = {**os.environ, "SIS_TOKEN_KEY": NOT_A_KEY, "SIS_PIPELINE_CONFIG": str(config)}
    load = subprocess.run([sys.executable, "-c", "import sis_pipeline.definitions"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert load.returncode != 0 and "SIS_TOKEN_KEY: key 1 of 1 is not a Fernet key" in load.stderr

    monkeypatch.setenv("SIS_TOKEN_KEY", NOT_A_KEY)
    result = sync(config, sqlite_url)
    assert (result["status"], result["error_class"]) == ("failed", "config"), result
    assert result["error"].startswith("SIS_TOKEN_KEY: key 1 of 1 is not a Fernet key")
    assert not list((tmp_path / "staging").glob("springfield/*/raw/*.ndjson"))  # refused before extraction
