"""`sis-pipeline simulate`: hands over to the sis-simulators distribution where it is installed, and
says in one line how to install it where it is not (the simulators are not part of sis-pipeline)."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx

CLI = str(Path(sys.executable).with_name("sis-pipeline"))
INSTALL_HINT = "pip install -e simulators/"


def run_cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def run_without(module: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    """`sis-pipeline` in a process where `module` cannot be imported, as if it were not installed."""
    code = (
        f"import sys; sys.modules[{module!r}] = None; from sis_pipeline.cli import main; "
        f"sys.exit(main({list(args)!r}))"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_simulate_writes_a_csv_package_through_the_simulators(tmp_path):
    out = tmp_path / "roster.zip"
    done = run_cli("simulate", "oneroster-csv", "--students", "30", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"OneRoster 1.1 CSV package: {out}" in done.stdout
    with zipfile.ZipFile(out) as package:
        assert {"manifest.csv", "users.csv", "enrollments.csv"} <= set(package.namelist())


def test_simulate_serves_a_district_and_names_itself_in_its_usage(tmp_path):
    usage = run_cli("simulate", "--help", cwd=tmp_path)
    assert usage.returncode == 0 and usage.stdout.startswith("usage: sis-pipeline simulate")
    env = {**os.environ, "SIS_SIM_CLIENT_ID": "cli-client", "SIS_SIM_CLIENT_SECRET": "cli-secret"}
    server = subprocess.Popen(
        [CLI, "simulate", "oneroster", "--students", "20", "--port", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = [server.stdout.readline() for _ in range(2)]
        assert lines[0].startswith("OneRoster simulator: 20 students"), lines
        base_url = lines[1].removeprefix("base_url ").strip()
        totals = httpx.get(f"{base_url}/admin/totals", timeout=10).raise_for_status().json()
        assert totals["students"] == 20
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_simulate_without_the_simulators_says_how_to_install_them(tmp_path):
    done = run_without("sis_simulators", "simulate", "oneroster", "--port", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert "simulators are not installed" in line and INSTALL_HINT in line


def test_simulate_with_a_broken_simulator_install_names_what_is_missing(tmp_path):
    done = run_without("starlette", "simulate", "oneroster", "--port", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert "starlette" in line and INSTALL_HINT in line


def test_the_other_commands_work_without_the_simulators(tmp_path):
    done = run_without("sis_simulators", "sync", "--config", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert done.returncode == 2 and "configuration refused" in done.stderr
