"""Each measured phase runs in a child process: its peak RSS is its own, and no phase inherits another's heap."""

import json
import subprocess
import tempfile
import time
from pathlib import Path

from _scratch import BenchmarkFailure


def run_child(label: str, command: list[str], spec: dict | None = None) -> dict:
    """`command SPEC_JSON OUT_JSON` (SPEC_JSON only when `spec` is given); the JSON it wrote, plus
    `process_seconds`: the child's whole life, start-up included."""
    with tempfile.TemporaryDirectory(prefix="sis_bench_child_") as folder:
        out = Path(folder) / "out.json"
        arguments = []
        if spec is not None:
            spec_file = Path(folder) / "spec.json"
            spec_file.write_text(json.dumps(spec, default=str), encoding="utf-8")
            arguments.append(str(spec_file))
        started = time.perf_counter()
        done = subprocess.run([*command, *arguments, str(out)], capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0 or not out.exists():
            raise BenchmarkFailure(f"{label} exited {done.returncode}: {done.stderr[-3000:]}")
        return json.loads(out.read_text(encoding="utf-8")) | {"process_seconds": round(seconds, 3)}
