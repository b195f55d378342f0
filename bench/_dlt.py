"""Baseline (c) from the suite's side: dlt's own virtualenv, made on first use, and one run of dlt_baseline.py in it.

dlt lives apart so that it never shares (or upgrades) a dependency with the product we measure it against.
"""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DLT_VENV = BENCH / ".venv-dlt"  # git-ignored
DLT_REQUIREMENT = "dlt[postgres]==1.31.0"


def dlt_python(progress) -> Path:
    """The dlt virtualenv's python, the virtualenv created and dlt installed in it if need be (about a minute)."""
    python = DLT_VENV / "bin" / "python"
    ready = DLT_VENV / ".dlt-installed"
    if not ready.exists():
        progress(f"installing {DLT_REQUIREMENT} into {DLT_VENV} (first use only)")
        subprocess.run(["python3", "-m", "venv", str(DLT_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", DLT_REQUIREMENT],
                       check=True, stdout=sys.stderr)
        ready.write_text(DLT_REQUIREMENT + "\n", encoding="utf-8")
    return python
