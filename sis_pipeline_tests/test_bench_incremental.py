"""bench/incremental.py in its small mode: the benchmark's own checks pass (exactly the changed students
written, nothing else), so the 100,000-student numbers in docs/benchmarks.md come from a working script."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(180)
def test_the_incremental_benchmark_passes_its_checks_at_2000_students(postgres_server_url, tmp_path):
    out = tmp_path / "incremental.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "SIS_"))} | {"SIS_BENCH_POSTGRES_URL": postgres_server_url}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "incremental.py"), "--students", "2000", "--json-out", str(out)],
        env=env, capture_output=True, text=True, timeout=170,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["changes"] == {"students": 20, "renamed": 18, "tobedeleted": 2, "fraction_of_students": 0.01}
    assert results["rows_rewritten"] == {"schools": 0, "terms": 0, "courses": 0, "sections": 0, "students": 20, "teachers": 0, "enrollments": 0}
    assert results["incremental"]["entities"]["students"] | {"fetched": 0, "valid": 0, "unchanged": 0} == {
        "fetched": 0, "valid": 0, "rejected": 0, "inserted": 0, "updated": 20, "unchanged": 0, "archived": 2,
    }
    assert results["ratio_wall"] == round(results["incremental"]["wall_seconds"] / results["full"]["wall_seconds"], 4)
