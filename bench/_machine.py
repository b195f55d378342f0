"""The machine a benchmark ran on, noted beside its numbers: they are only comparable within one run."""

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from _scratch import server_version


def _proc_field(path: str, field: str) -> str | None:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(field)), None)


def load_1m() -> float:
    return round(os.getloadavg()[0], 2)


def machine() -> dict:
    memory_kib = _proc_field("/proc/meminfo", "MemTotal")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "memory_gib": round(int(memory_kib.split()[0]) / 2**20, 1) if memory_kib else None,
        "python": platform.python_version(),
        "postgresql": server_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
