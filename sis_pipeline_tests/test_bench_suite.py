"""bench/suite.py at a tiny size (no dlt, so CI installs nothing more): its checks pass, its JSON holds every
phase, the re-sync wrote nothing and each ratio is the phases' seconds divided; and its re-sync and
incremental checks fail on a run that wrote what it should not have."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PHASES = {"full_sync", "resync", "resync_reprocessed", "incremental", "fetch_floor", "copy_floor"}
NOTHING_WRITTEN = {"inserted": 0, "updated": 0, "archived": 0}


@pytest.fixture
def bench_module(monkeypatch):
    # Appended, not prepended: bench/requests.py must not shadow the requests library.
    monkeypatch.setattr(sys, "path", [*sys.path, str(BENCH)])
    return importlib.import_module


@pytest.mark.timeout(240)
def test_the_suite_passes_its_checks_and_reports_every_phase_at_300_students(postgres_server_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "SIS_"))} | {"SIS_BENCH_POSTGRES_URL": postgres_server_url}
    done = subprocess.run(
        [sys.executable, str(BENCH / "suite.py"), "--sizes", "300", "--no-dlt", "--results-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=230,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "suite-300.json").read_text())
    phases = results["phases"]
    assert set(phases) == PHASES
    totals = results["simulator_totals"]
    assert results["warehouse_rows"] == {"schools": totals["schools"], "terms": totals["academicSessions"], "courses": totals["courses"],
                                         "sections": totals["classes"], "students": 300, "teachers": totals["teachers"],
                                         "enrollments": totals["enrollments"]}
    assert phases["copy_floor"]["records"] == sum(results["warehouse_rows"].values())
    assert phases["fetch_floor"]["records"] == phases["full_sync"]["records"] == sum(totals[c] for c in phases["fetch_floor"]["per_collection"])
    for resync in ("resync", "resync_reprocessed"):
        for counts in phases[resync]["entities"].values():
            assert {name: counts[name] for name in NOTHING_WRITTEN} == NOTHING_WRITTEN
    assert phases["resync"]["unchanged_since"] == phases["full_sync"]["run_id"]
    assert phases["resync_reprocessed"]["unchanged_since"] is None
    assert results["changes"] == {"students": 3, "renamed": 2, "tobedeleted": 1}
    assert {k: phases["incremental"]["entities"]["students"][k] for k in NOTHING_WRITTEN} == {"inserted": 0, "updated": 3, "archived": 1}

    seconds = {key: phase["seconds"] for key, phase in phases.items()}
    assert all(value > 0 for value in seconds.values())
    assert results["ratios"] == {
        "full_vs_fetch_plus_copy": round(seconds["full_sync"] / (seconds["fetch_floor"] + seconds["copy_floor"]), 3),
        "dlt_vs_full": None,
        "full_vs_fetch": round(seconds["full_sync"] / seconds["fetch_floor"], 3),
        "resync_vs_full": round(seconds["resync"] / seconds["full_sync"], 3),
        "reprocessed_resync_vs_full": round(seconds["resync_reprocessed"] / seconds["full_sync"], 3),
        "incremental_vs_full": round(seconds["incremental"] / seconds["full_sync"], 3),
    }
    resync_target = results["targets"]["resync_vs_full"]
    assert resync_target["met"] == (results["ratios"]["resync_vs_full"] <= 0.60)
    assert "dlt_vs_full" not in results["targets"]
    assert results["stage_rates"]["full_sync"]["resolved_rosters"]["records"] == 300
    assert all(phase["peak_rss_mib"] for phase in phases.values())
    assert set(results["machine"]) >= {"cpus", "cpu_model", "memory_gib", "python", "postgresql", "date"}
    table = (tmp_path / "suite-300.md").read_text()
    assert "| re-sync / full |" in table and ("NOT MET" in table or "| MET |" in table)


def test_the_resync_check_fails_when_an_unchanged_resync_writes_a_row(bench_module):
    checks, scratch = bench_module("_checks"), bench_module("_scratch")
    quiet = {"students": {"fetched": 300, "valid": 300, "rejected": 0, "inserted": 0, "updated": 0, "unchanged": 300, "archived": 0}}
    checks.check_resync_wrote_nothing(quiet)
    wrote = {"students": quiet["students"] | {"updated": 1, "unchanged": 299}}
    with pytest.raises(scratch.BenchmarkFailure, match="re-sync wrote rows"):
        checks.check_resync_wrote_nothing(wrote)


def test_the_incremental_check_fails_when_a_row_beyond_the_changed_students_moved(bench_module):
    checks, scratch = bench_module("_checks"), bench_module("_scratch")
    entities = {"students": {"inserted": 0, "updated": 2, "archived": 1}, "sections": {"inserted": 0, "updated": 0, "archived": 0}}
    moved = {"students": {"s1", "s2"}, "sections": set()}
    checks.check_incremental_wrote_only(entities, moved, renamed=["s1"], deleted=["s2"])
    with pytest.raises(scratch.BenchmarkFailure, match="rewrote rows of other tables"):
        checks.check_incremental_wrote_only(entities, moved | {"sections": {"c9"}}, renamed=["s1"], deleted=["s2"])
    with pytest.raises(scratch.BenchmarkFailure, match="students rewritten"):
        checks.check_incremental_wrote_only(entities, moved | {"students": {"s1", "s2", "s3"}}, renamed=["s1"], deleted=["s2"])


@pytest.mark.timeout(120)
def test_extract_cpu_runs_extraction_and_the_fetch_floor_at_300_students():
    done = subprocess.run(
        [sys.executable, str(BENCH / "extract_cpu.py"), "--students", "300", "--repeat", "1"],
        capture_output=True, text=True, timeout=110,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["extract", "fetch floor"], lines
    assert all(" s, CPU " in line for line in lines)
