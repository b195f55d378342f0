"""Throwaway resources of one benchmark run: PostgreSQL databases and the integrations.yaml for the simulator."""

import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import yaml
from sqlalchemy import make_url

# Only the server is used from this URL: the benchmark creates and drops its own databases beside `test`.
SERVER_URL = os.environ.get("SIS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASE_PREFIX = "sis_bench_"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# warehouse table -> the simulator's collection whose total it must equal after a full sync
TOTAL_KEYS = {
    "schools": "schools", "terms": "academicSessions", "courses": "courses", "sections": "classes",
    "students": "students", "teachers": "teachers", "enrollments": "enrollments",
}
CLIENT_ID_ENV = "BENCH_CLIENT_ID"
CLIENT_SECRET_ENV = "BENCH_CLIENT_SECRET"


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as psycopg itself takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin() -> psycopg.Connection:
    return psycopg.connect(libpq_url(SERVER_URL), autocommit=True)


def create_database() -> str:
    """A fresh, empty database named sis_bench_<random>; returns its SQLAlchemy URL."""
    name = f"{DATABASE_PREFIX}{secrets.token_hex(6)}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(SERVER_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    # A guard, not paranoia: this function must never be able to drop a database it did not create.
    if not name or not name.startswith(DATABASE_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: the benchmark only drops {DATABASE_PREFIX}* databases")
    with _admin() as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def server_version() -> str:
    with _admin() as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def write_integrations(path: Path, name: str, simulator, page_size: int) -> None:
    """An integrations.yaml pointing at the simulator; its credentials go into this process's environment."""
    os.environ[CLIENT_ID_ENV] = simulator.client_id
    os.environ[CLIENT_SECRET_ENV] = simulator.client_secret
    integration = {
        "name": name,
        "provider": "oneroster",
        "base_url": simulator.oneroster_root("1.1"),
        "token_url": simulator.token_url,
        "client_id_env": CLIENT_ID_ENV,
        "client_secret_env": CLIENT_SECRET_ENV,
        "page_size": page_size,
    }
    path.write_text(yaml.safe_dump({"integrations": [integration]}, sort_keys=False), encoding="utf-8")


class BenchmarkFailure(Exception):
    """The pipeline did something wrong during the benchmark; its numbers mean nothing."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchmarkFailure(message)


def run_in_scratch(label: str, run: Callable[..., dict], args) -> dict | None:
    """`run(args, scratch, databases)` with a scratch folder and the databases it creates, both removed
    afterwards unless `args.keep_db`; None (and one line on stderr) when the benchmark's checks failed."""
    scratch = Path(tempfile.mkdtemp(prefix=f"sis_bench_{label}_"))
    databases: list[str] = []
    try:
        return run(args, scratch, databases)
    except BenchmarkFailure as failure:
        print(f"{label}: FAILED: {failure}", file=sys.stderr)
        return None
    finally:
        if args.keep_db:
            print(f"[{label}] kept {scratch} and databases {', '.join(databases) or 'none'}", file=sys.stderr)
        else:
            for url in databases:
                drop_database(url)
            shutil.rmtree(scratch, ignore_errors=True)


def write_results(results: dict, out: Path) -> str:
    """The results as JSON in `out` (its folder made if need be); returns the text written."""
    text = json.dumps(results, indent=2, default=str) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return text


def results_head(benchmark: str) -> dict:
    """What a one-off benchmark's results begin with: its name, when it ran, and the machine in brief."""
    return {
        "benchmark": benchmark,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average_1m": round(os.getloadavg()[0], 2)},
    }
