"""Shared fixtures: a PostgreSQL server for the session, a fresh database per test, and the
warehouse on both backends.

The server is `SIS_TEST_DATABASE_URL` if set, else the local one on 127.0.0.1:5432, else a
throwaway cluster started from the installed binaries. Without any PostgreSQL the PostgreSQL
tests are skipped, except under `CI=true`, where they fail.
"""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

import yaml

from sis_pipeline.config import load_config
from sis_pipeline.defs import build_resources
from sis_pipeline.defs.sync_runner import sync_integrations
from sis_pipeline.providers.common.guards import forget_guards
from sis_simulators import SimulatorServer, SimulatorSettings
from sis_pipeline.warehouse import create_warehouse_engine, ensure_schema
from sis_pipeline.warehouse.engine import parse_warehouse_url
from sis_pipeline_tests.helpers import created_database

LOCAL_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def postgres_server_url():
    """A URL of a PostgreSQL server on which tests may create and drop databases."""
    configured = os.environ.get("SIS_TEST_DATABASE_URL")
    if configured:
        yield parse_warehouse_url(configured).render_as_string(hide_password=False)
    elif _answers(LOCAL_POSTGRES_URL):
        yield LOCAL_POSTGRES_URL
    else:
        bindir = _postgres_bindir()
        if bindir is None:
            _postgres_unavailable("nothing answers on 127.0.0.1:5432 and no initdb/pg_ctl is installed")
        with _throwaway_cluster(bindir) as url:
            yield url


@pytest.fixture
def postgres_url(postgres_server_url):
    """A fresh, empty database for one test, dropped afterwards."""
    with created_database(postgres_server_url, f"sis_test_{uuid.uuid4().hex[:12]}") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request):
    """The same test against each supported warehouse backend."""
    return request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "postgres_url"}[request.param])


@pytest.fixture
def warehouse_engine(warehouse_url):
    engine = create_warehouse_engine(warehouse_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


def _answers(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def _postgres_unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}", pytrace=False)
    warnings.warn(f"PostgreSQL tests SKIPPED: {reason}", stacklevel=2)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def _postgres_bindir() -> Path | None:
    candidates = []
    if shutil.which("pg_config"):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        candidates.append(Path(bindir))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(Path(path).parent.name), reverse=True
    )
    candidates.extend(Path(path) for path in versions)
    return next((path for path in candidates if (path / "initdb").exists() and (path / "pg_ctl").exists()), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _throwaway_cluster(bindir: Path):
    """A private cluster in a temp dir on a free port; initdb refuses root, so run it as `postgres`."""
    root = Path(tempfile.mkdtemp(prefix="sis-test-pg-"))
    run_as = {}
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _postgres_unavailable("running as root and there is no 'postgres' OS user to run initdb as")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        run_as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}

    def pg(*args):
        done = subprocess.run([str(arg) for arg in args], cwd=root, capture_output=True, text=True, **run_as)
        if done.returncode:
            raise RuntimeError(f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr or done.stdout}")

    data, port = root / "data", _free_port()
    try:
        pg(
            bindir / "initdb",
            "-D",
            data,
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg(bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-o", options, "-w", "start")
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            pg(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Make `xdist_group` marks hold under `--dist loadgroup` with this pytest.

    pytest-xdist groups a test by appending `@<group>` to its nodeid (`item._nodeid`); pytest 9 keeps the
    nodeid in `item._id`, so that append is lost and grouped tests (a fixed port, a shared warehouse) were
    spread over both workers. Append it where pytest reads it.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # an older pytest: xdist's own append works
        return
    for item in items:
        groups = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                         for mark in item.iter_markers("xdist_group")})
        nodeid = item.nodeid
        if groups and not nodeid.rfind("@") > nodeid.rfind("]") and hasattr(item, "_id"):
            item._id = NodeId.parse(f"{nodeid}@{'_'.join(groups)}")


# --- The OneRoster simulator and a configured integration pointing at it ---------------------------


@pytest.fixture(autouse=True)
def fresh_guards():
    """Each test starts like a new process: no circuit left open by the test before."""
    forget_guards()
    yield

SIM_STUDENTS = 650  # two schools: enough for paging across many pages, fast enough for every test


@pytest.fixture(scope="session")
def oneroster_sim():
    """One simulated district for the session; `district` resets its changes around each test."""
    settings = SimulatorSettings(client_id="sis-test-client", client_secret=f"secret-{uuid.uuid4().hex}")
    with SimulatorServer(students=SIM_STUDENTS, settings=settings) as sim:
        yield sim


@pytest.fixture
def district(oneroster_sim):
    oneroster_sim.reset()
    oneroster_sim.update_settings(paging_headers="all")
    yield oneroster_sim
    oneroster_sim.reset()
    oneroster_sim.update_settings(paging_headers="all")


@pytest.fixture
def write_config(tmp_path, monkeypatch):
    """Write an integrations.yaml for a simulator and put its credentials in the environment."""

    def write(sim, *, name="springfield", version="1.1", page_size=100, **fields) -> Path:
        monkeypatch.setenv("SPRINGFIELD_CLIENT_ID", sim.client_id)
        monkeypatch.setenv("SPRINGFIELD_CLIENT_SECRET", sim.client_secret)
        entry = {
            "name": name,
            "provider": "oneroster",
            "base_url": sim.oneroster_root(version),
            "token_url": sim.token_url,
            "client_id_env": "SPRINGFIELD_CLIENT_ID",
            "client_secret_env": "SPRINGFIELD_CLIENT_SECRET",
            "page_size": page_size,
            **fields,
        }
        path = tmp_path / "integrations.yaml"
        path.write_text(yaml.safe_dump({"integrations": [entry]}))
        return path

    return write


@pytest.fixture
def sync(tmp_path):
    """Run the asset graph in-process for one configured integration into a given warehouse."""

    def run(config_file: Path, warehouse: str, *, name: str = "springfield", mode: str = "full", reprocess: bool = False) -> dict:
        config = load_config(config_file)
        resources = build_resources(config, warehouse, str(tmp_path / "staging"))
        return sync_integrations(config, [name], mode=mode, reprocess=reprocess, resources=resources)["integrations"][name]

    return run


@pytest.fixture(scope="session")
def _first_sync_templates():
    """Per backend, a warehouse holding the default district's first full sync, and that sync's report;
    made on first use in each test process, dropped at the end of the session."""
    with contextlib.ExitStack() as templates:
        yield templates, {}


@pytest.fixture
def first_synced(request, district, write_config, sync, warehouse_url, _first_sync_templates, tmp_path_factory) -> dict:
    """`warehouse_url` holding the default district's first full sync (`write_config(district)`), and that
    sync's report (status asserted).

    For tests that start from a synced district and then change the warehouse themselves: the sync runs
    once per backend and test process, into a template, and each test gets a copy of its own (a PostgreSQL
    database made from the template, a SQLite backup), which costs a fraction of a sync. Not for tests
    that judge the time since the sync or read its staged files: the template's sync ran earlier, in
    another test's staging folder.
    """
    stack, made = _first_sync_templates
    backend = sa.engine.make_url(warehouse_url).get_backend_name()
    if backend not in made:
        if backend == "sqlite":
            template = f"sqlite:///{tmp_path_factory.mktemp('first-sync') / 'warehouse.sqlite'}"
        else:
            template = stack.enter_context(created_database(request.getfixturevalue("postgres_server_url"), f"sis_tmpl_{uuid.uuid4().hex[:12]}"))
        report = sync(write_config(district), template)
        assert report["status"] == "success", report
        made[backend] = (template, report)
    template, report = made[backend]
    if backend == "sqlite":
        with sqlite3.connect(sa.engine.make_url(template).database) as source, sqlite3.connect(sa.engine.make_url(warehouse_url).database) as copy:
            source.backup(copy)
    else:
        _copy_database(request.getfixturevalue("postgres_server_url"), template, warehouse_url)
    return report


def _copy_database(server_url: str, template_url: str, url: str) -> None:
    """Replace the (empty) database of `url` with a copy of the template's: CREATE DATABASE ... TEMPLATE,
    which needs nobody connected to either."""
    template, database = sa.engine.make_url(template_url).database, sa.engine.make_url(url).database
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN (:t, :d)"), {"t": template, "d": database})
            conn.execute(sa.text(f'DROP DATABASE "{database}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{database}" TEMPLATE "{template}"'))
    finally:
        admin.dispose()
