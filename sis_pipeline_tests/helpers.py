"""What several test modules share: expected totals per simulator, warehouse readers, a sample OneRoster CSV drop.

Tests import from here, never from each other.
"""

import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy import create_engine, func, select, text

from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES, api_calls, rejected_records, sync_runs

# warehouse entity -> the simulator's collection that holds its records
SOURCE_COLLECTION = {
    "schools": "schools",
    "terms": "academicSessions",
    "courses": "courses",
    "sections": "classes",
    "students": "students",
    "teachers": "teachers",
    "enrollments": "enrollments",
}


def expected_totals(sim) -> dict[str, int]:
    totals = sim.totals()
    return {entity: totals[collection] for entity, collection in SOURCE_COLLECTION.items()}


def wait_until_loading(url: str, process: subprocess.Popen, timeout: float = 120.0, entity: str = "") -> int:
    """Until the sync's connection is staging rows inside its load transaction; that connection's backend pid.

    With `entity`, until it is staging that entity's rows (earlier entities are upserted by then).
    """
    engine = create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail("the sync ended before its load could be interrupted")
            with engine.connect() as conn:
                loading = conn.execute(text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state <> 'idle' AND query ILIKE :staging LIMIT 1"
                ), {"staging": f"%stage_{entity}%"}).scalar()
            if loading:
                return loading
            time.sleep(0.01)
        pytest.fail("the load never started")
    finally:
        engine.dispose()


def warehouse_counts(url: str, *, active_only: bool = False) -> dict[str, int]:
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        counts = {}
        for entity, table in ENTITY_TABLES.items():
            query = select(func.count()).select_from(table)
            if active_only:
                query = query.where(table.c.archived_at.is_(None))
            counts[entity] = conn.execute(query).scalar_one()
    engine.dispose()
    return counts


def student(url: str, source_id: str):
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        row = conn.execute(select(ENTITY_TABLES["students"]).where(ENTITY_TABLES["students"].c.source_id == source_id)).one()
    engine.dispose()
    return row


def extras(url: str, entity: str) -> dict[str, dict | None]:
    table = ENTITY_TABLES[entity]
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.source_id, table.c.extra)).all()
    engine.dispose()
    # PostgreSQL hands JSONB back as a dict, SQLite as the JSON text
    return {source_id: json.loads(extra) if isinstance(extra, str) else extra for source_id, extra in rows}


def powerschool_totals(sim) -> dict[str, int]:
    totals = sim.totals()
    return {
        "schools": totals["schools"], "terms": totals["terms"], "courses": totals["courses"],
        "sections": totals["sections"], "students": totals["students"], "teachers": totals["staff"],
        # each section's teacher is enrolled too
        "enrollments": totals["section_enrollments"] + totals["sections"],
    }


# warehouse entity -> the Qmlativ objects its records come from
QMLATIV_SOURCES = {
    "schools": ("District/Entity",),
    "terms": ("District/SchoolYear",),
    "courses": ("Scheduling/Course",),
    "sections": ("Scheduling/Section",),
    "students": ("Student/Student",),
    "teachers": ("Staff/Staff",),
    "enrollments": ("Scheduling/StudentSection", "Scheduling/Section"),  # plus each section's teacher of record
}


def qmlativ_totals(sim) -> dict[str, int]:
    totals = sim.totals()
    return {entity: sum(totals[o] for o in objects) for entity, objects in QMLATIV_SOURCES.items()}


ORGS = """sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
dst-1,,,Springfield Public Schools,district,900,
sch-1,,,Lincoln Elementary,school,101,dst-1
sch-2,,,"Adams Middle School, Annex",school,102,dst-1
"""
SESSIONS = """sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear
sy-1,,,2026-2027,schoolYear,2026-08-15,2027-06-15,,2027
trm-1,,,Fall,semester,2026-08-15,2027-01-10,sy-1,2027
"""
COURSES = """sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes
crs-1,,,sy-1,Math 5,M5,05,sch-1,,
"""
CLASSES = """sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods
cls-1,,,Math 5 - A,05,crs-1,M5-A,scheduled,,sch-1,"trm-1,sy-1",,,"1,2"
"""
# header typos a reader should fix: lower-case, trailing space; one it cannot: "famlyName" -> too far? no: close enough
USERS = """sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenname,familyName ,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password
stu-1,,,true,"sch-1,sch-2",student,zoe,"{stateId:CA100},{district:7}",Zoë,O'Brien,,1001,,,,,05,
stu-2,,,true,sch-1,student,ana,{stateId:CA101},Ana,Smith-Jones,,1002,,,,,KG,
stu-3,,,true,sch-1,student,bad,,Bo,,,1003,,,,,05,
tch-1,,,true,sch-1,teacher,mrs.k,,Kim,Nguyễn,,T1,,,,,,
par-1,,,true,sch-1,parent,dad,,Al,O'Brien,,,,,,,,
"""
ENROLLMENTS = """sourcedId,status,dateLastModified,classSourcedID,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
enr-1,,,cls-1,sch-1,stu-1,student,false,2026-08-15,2027-01-10
enr-2,,,cls-1,sch-1,stu-2,student,false,1/05/2023,2027-01-10
enr-3,,,cls-1,sch-1,stu-99,student,false,2026-08-15,2027-01-10
enr-4,,,cls-1,sch-1,tch-1,teacher,true,2026-08-15,2027-01-10
"""
DEMOGRAPHICS = """sourcedId,status,dateLastModified,birthDate,sex,americanIndianOrAlaskaNative
stu-1,,,2016-03-04,female,false
stu-2,,,2021-01-30,male,false
"""
FILES = {
    "orgs": ORGS, "academicSessions": SESSIONS, "courses": COURSES, "classes": CLASSES,
    "users": USERS, "enrollments": ENROLLMENTS, "demographics": DEMOGRAPHICS,
}


def manifest(modes: dict[str, str], version: str = "1.1") -> str:
    lines = ["propertyName,value", "manifest.version,1.0", f"oneroster.version,{version}"]
    every = ["academicSessions", "categories", "classes", "classResources", "courses", "courseResources",
             "demographics", "enrollments", "lineItems", "orgs", "resources", "results", "users"]
    lines += [f"file.{name},{modes.get(name, 'absent')}" for name in every]
    return "\n".join(lines) + "\n"


def write_package(
    path, files: dict[str, str], modes: dict[str, str], *, as_zip: bool, dirty_encoding: bool = True, encoding: str = "utf-8"
):
    """A package as real drops arrive: UTF-8 (or `encoding`) with a byte-order mark and CRLF line endings."""
    contents = {"manifest.csv": manifest(modes)} | {f"{name}.csv": content for name, content in files.items()}
    bom = "\ufeff" if encoding == "utf-8" else ""
    encode = (lambda content: bom + content.replace("\n", "\r\n")) if dirty_encoding else (lambda content: content)
    if as_zip:
        with zipfile.ZipFile(path, "w") as archive:
            for name, content in contents.items():
                archive.writestr(f"export/{name}", encode(content).encode(encoding))
    else:
        path.mkdir()
        for name, content in contents.items():
            (path / name).write_bytes(encode(content).encode(encoding))
    return path


def csv_config(tmp_path, package, *, fields: dict | None = None, **options) -> str:
    """An integrations.yaml with one OneRoster CSV integration, `springfield`, reading `package`.

    `options` go under the integration's `options`; `fields` are other integration fields (e.g. `safety`).
    """
    config = tmp_path / "integrations.yaml"
    config.write_text(yaml.safe_dump({"integrations": [
        {"name": "springfield", "provider": "oneroster_csv", "options": {"path": str(package), **options}, **(fields or {})},
    ]}))
    return config


def rejected(url: str) -> dict[str, str]:
    """The rejected records of every run: source id -> reasons."""
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(rejected_records.c.source_id, rejected_records.c.reasons)).all()
    engine.dispose()
    return dict(rows)


@contextmanager
def created_database(server_url: str, database: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server for the duration of the block; its URL."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    for attempt in range(50):
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
            break
        except sa.exc.OperationalError as error:
            # Two test workers creating a database at once: PostgreSQL refuses to copy template1 while
            # another session is copying it. Wait and ask again.
            if "being accessed by other users" not in str(error) or attempt == 49:
                raise
            time.sleep(0.1)
    try:
        yield admin.url.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :database"),
                {"database": database},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}"'))
        admin.dispose()


class LatePort:
    """A loopback port that refuses connections (bound, nothing listening) until `open()`, then forwards
    every connection to `target_port`: a SIS host that comes up a moment late."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.accepted = 0
        self._listening = False
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]

    def open(self) -> None:
        if not self._listening:
            self._listening = True
            self._socket.listen()
            threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._socket.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._socket.accept()
            except OSError:  # closed
                return
            self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
            threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def api_calls_to(url: str, path: str) -> list[tuple[int, int | None, str | None]]:
    """(attempt, status, transport error) of every audited call to `path`, in the order they were made."""
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(api_calls.c.attempt, api_calls.c.status, api_calls.c.error)
            .where(api_calls.c.path == path).order_by(api_calls.c.called_at, api_calls.c.id)
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def only_sync_run(url: str) -> dict:
    """The warehouse's one `sync_runs` row (a test that ran one sync)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        record = conn.execute(select(sync_runs)).mappings().one()
    engine.dispose()
    return dict(record)


# --- The daemon-driven change latency (bench/change_latency.py and test_change_latency.py) ------------
#
# A deployment as a district runs it: a OneRoster simulator in its own process, a fresh PostgreSQL
# warehouse, `dagster dev` (webserver and daemon) with a temporary DAGSTER_HOME holding the repository's
# dagster.yaml, and an integrations.yaml whose change sensor `<integration>_changes` polls the simulator.
# A change is timed from the moment it is made at the SIS until the warehouse row shows it.

REPO_ROOT = Path(__file__).resolve().parents[1]
LATENCY_INTEGRATION = "latency_district"
_IN_FLIGHT = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]


class LatencyFailure(AssertionError):
    """The daemon did not bring a change to the warehouse as it should; the numbers mean nothing."""


class _StillLoading(Exception):
    """The webserver answers, but its code location is still loading."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process_group(process: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM to the process group `process` leads (started with start_new_session), SIGKILL to what is left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # children (run workers, code server) may outlive the leader briefly
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if process.poll() is None:
        process.wait(timeout=10)


class DaemonDeployment:
    """Simulator, warehouse and `dagster dev` for one integration; everything it starts is stopped on exit.

    `poll_interval_seconds` goes into integrations.yaml as is (None switches the change sensor off);
    the nightly schedule is off, so every run after the first full sync is one the sensor requested.
    """

    def __init__(
        self, server_url: str, *, students: int, poll_interval_seconds: int | None, page_size: int = 1000,
        name: str = LATENCY_INTEGRATION, progress=lambda message: None,
    ):
        self.server_url, self.students, self.poll = server_url, students, poll_interval_seconds
        self.page_size, self.name, self.progress = page_size, name, progress
        self.bin = Path(sys.executable).parent
        self._stack = ExitStack()
        self.dagster: subprocess.Popen | None = None

    @property
    def sensor_name(self) -> str:
        return f"{self.name}_changes"

    def __enter__(self) -> "DaemonDeployment":
        from sis_simulators.server import SimulatorProcess
        from sis_simulators.settings import SimulatorSettings

        try:
            self.scratch = Path(tempfile.mkdtemp(prefix="sis-latency-"))
            self._stack.callback(shutil.rmtree, self.scratch, ignore_errors=True)
            self.url = self._stack.enter_context(created_database(self.server_url, f"sis_bench_{uuid.uuid4().hex[:12]}"))
            settings = SimulatorSettings(client_id="latency", client_secret=secrets.token_urlsafe(24))
            self.progress(f"starting the simulator ({self.students} students) in its own process")
            self.simulator = self._stack.enter_context(SimulatorProcess(students=self.students, settings=settings))
            self._write_files()
            self.warehouse = create_warehouse_engine(self.url)
            self._stack.callback(self.warehouse.dispose)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if self.dagster is not None:
                self.progress("stopping dagster dev (its whole process group)")
                stop_process_group(self.dagster)
                self._dagster_log.close()
        finally:
            self._stack.close()

    def _write_files(self) -> None:
        self.home = self.scratch / "dagster_home"
        self.home.mkdir()
        # the repository's instance settings: the run queue and one run per partition (integration)
        shutil.copy(REPO_ROOT / "dagster.yaml", self.home / "dagster.yaml")
        self.workspace = self.home / "workspace.yaml"
        self.workspace.write_text(yaml.safe_dump({"load_from": [
            {"python_module": {"module_name": "sis_pipeline.definitions", "working_directory": str(REPO_ROOT)}},
        ]}))
        self.config = self.scratch / "integrations.yaml"
        self.config.write_text(yaml.safe_dump({"integrations": [{
            "name": self.name, "provider": "oneroster", "page_size": self.page_size,
            "base_url": self.simulator.oneroster_root("1.1"), "token_url": self.simulator.token_url,
            "client_id_env": "LATENCY_CLIENT_ID", "client_secret_env": "LATENCY_CLIENT_SECRET",
            "schedule": None, "poll_interval_seconds": self.poll,
        }]}, sort_keys=False))
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DAGSTER_", "SIS_"))}
        self.env = env | {
            "PATH": f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
            "DAGSTER_HOME": str(self.home),
            "SIS_PIPELINE_CONFIG": str(self.config),
            "SIS_WAREHOUSE_URL": self.url,
            "SIS_STAGING_DIR": str(self.scratch / "staging"),
            "LATENCY_CLIENT_ID": self.simulator.client_id,
            "LATENCY_CLIENT_SECRET": self.simulator.client_secret,
        }

    def full_sync(self) -> dict:
        """`sis-pipeline sync --json` against the deployment's instance: the watermarks the sensor starts from."""
        self.progress("full sync (sis-pipeline sync), so the watermarks exist")
        done = subprocess.run([str(self.bin / "sis-pipeline"), "sync", "--json", "--quiet"], env=self.env,
                              capture_output=True, text=True, cwd=self.scratch)
        try:
            report = json.loads(done.stdout)["integrations"][self.name]
        except (json.JSONDecodeError, KeyError):
            raise LatencyFailure(f"the full sync printed no report (exit {done.returncode}): {done.stderr[-3000:]}") from None
        if report["status"] != "success":
            raise LatencyFailure(f"the full sync {report['status']}: {report.get('error_class')}: {report.get('error')}")
        return report

    def start_dagster(self) -> None:
        """`dagster dev` on loopback, in its own process group; `wait_for_dagster` waits for its webserver."""
        self.port = free_port()
        self.progress(f"starting dagster dev on 127.0.0.1:{self.port}")
        self._dagster_log = open(self.scratch / "dagster_dev.log", "w")
        # dagster dev starts its webserver and daemon at once; on a fresh DAGSTER_HOME both create the
        # SQLite storage and one can lose the race ("table ... already exists"). Create it first.
        subprocess.run([str(self.bin / "dagster"), "instance", "migrate"], cwd=self.scratch, env=self.env,
                       stdout=self._dagster_log, stderr=subprocess.STDOUT, check=True, timeout=120)
        self.dagster = subprocess.Popen(
            [str(self.bin / "dagster"), "dev", "-w", str(self.workspace), "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=self.scratch, env=self.env, stdout=self._dagster_log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_for_dagster(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_dagster()
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/server_info", timeout=2).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise LatencyFailure(f"dagster dev did not answer within {timeout:.0f}s{self.dagster_log_tail()}") from None
                time.sleep(0.5)

    def dagster_log_tail(self, lines: int = 40) -> str:
        try:
            tail = (self.scratch / "dagster_dev.log").read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- dagster dev log (tail) ---\n" + "\n".join(tail)

    def _check_dagster(self) -> None:
        if self.dagster is not None and self.dagster.poll() is not None:
            raise LatencyFailure(f"dagster dev exited with status {self.dagster.returncode}{self.dagster_log_tail()}")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = httpx.post(f"http://127.0.0.1:{self.port}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise LatencyFailure(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def _sensor_selector(self) -> dict:
        data = self.graphql("""{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError {
            __typename ... on RepositoryLocation { repositories { name sensors { name } } } ... on PythonError { message } } } } } }""")
        found = []
        entries = data["workspaceOrError"]["locationEntries"]
        if not entries or any(entry["loadStatus"] != "LOADED" for entry in entries):
            raise _StillLoading()
        for entry in entries:
            location = entry["locationOrLoadError"] or {}
            if location.get("__typename") == "PythonError":
                raise LatencyFailure(f"the code location {entry['name']} failed to load: {location['message']}")
            for repository in location.get("repositories", []):
                names = [sensor["name"] for sensor in repository["sensors"]]
                found += names
                if self.sensor_name in names:
                    return {"repositoryLocationName": entry["name"], "repositoryName": repository["name"], "sensorName": self.sensor_name}
        raise LatencyFailure(f"the code location has no sensor {self.sensor_name!r} (poll_interval_seconds={self.poll}); sensors: {found}")

    def wait_for_sensor_tick(self, timeout: float = 120.0) -> dict:
        """Until the change sensor is RUNNING and has ticked once: the daemon's start is not part of a latency."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_dagster()
            try:
                selector = self._sensor_selector()
                break
            except (_StillLoading, httpx.HTTPError):
                if time.monotonic() > deadline:
                    raise LatencyFailure(f"the code location did not load within {timeout:.0f}s{self.dagster_log_tail()}") from None
                time.sleep(1)
        query = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
            ... on Sensor { minIntervalSeconds sensorState { status ticks(limit: 1) { status timestamp skipReason error { message } } } } } }"""
        while True:
            self._check_dagster()
            sensor = self.graphql(query, {"selector": selector})["sensorOrError"]
            state = sensor.get("sensorState") or {}
            if state.get("status") == "RUNNING" and state.get("ticks") and state["ticks"][0]["status"] != "STARTED":
                return {"min_interval_seconds": sensor["minIntervalSeconds"], "first_tick": state["ticks"][0]}
            if time.monotonic() > deadline:
                raise LatencyFailure(f"the sensor {self.sensor_name} did not tick within {timeout:.0f}s: {sensor}{self.dagster_log_tail()}")
            time.sleep(1)

    def runs_in_flight(self) -> int:
        data = self.graphql("""query($statuses: [RunStatus!]) { runsOrError(filter: {statuses: $statuses}) {
            ... on Runs { results { runId } } } }""", {"statuses": _IN_FLIGHT})
        return len(data["runsOrError"]["results"])

    def dagster_run_tags(self, run_id: str) -> dict[str, str]:
        data = self.graphql("""query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { tags { key value } } } }""", {"id": run_id})
        return {tag["key"]: tag["value"] for tag in data["runOrError"].get("tags", [])}

    def wait_until_idle(self, timeout: float) -> None:
        """No Dagster run queued or in progress, none `running` in the warehouse."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_dagster()
            with self.warehouse.connect() as conn:
                running = conn.execute(text("SELECT count(*) FROM sync_runs WHERE status = 'running'")).scalar_one()
            if not running and not self.runs_in_flight():
                return
            if time.monotonic() > deadline:
                raise LatencyFailure(f"runs still in flight after {timeout:.0f}s{self.dagster_log_tail()}")
            time.sleep(0.5)

    def student_ids(self) -> list[str]:
        with self.warehouse.connect() as conn:
            return sorted(conn.execute(text("SELECT source_id FROM students WHERE integration = :n AND archived_at IS NULL"),
                                       {"n": self.name}).scalars())

    def first_name(self, source_id: str) -> str | None:
        with self.warehouse.connect() as conn:
            return conn.execute(text("SELECT first_name FROM students WHERE integration = :n AND source_id = :s"),
                                {"n": self.name, "s": source_id}).scalar_one_or_none()

    def runs_since(self, moment: datetime) -> list[dict]:
        with self.warehouse.connect() as conn:
            rows = conn.execute(text(
                "SELECT run_id, mode, status, started_at, ended_at, error FROM sync_runs WHERE integration = :n AND started_at >= :t "
                "ORDER BY started_at"), {"n": self.name, "t": moment}).mappings().all()
        return [dict(row) for row in rows]

    def time_one_change(self, index: int, source_id: str, timeout: float) -> dict:
        """Rename one student at the SIS; seconds until the warehouse row shows the new name, and the run that wrote it."""
        new_name = f"Latency{index}{secrets.token_hex(3)}"
        changed_at = datetime.now(UTC)
        started = time.monotonic()
        self.simulator.apply_changes([{"op": "update", "collection": "students", "sourcedId": source_id, "fields": {"givenName": new_name}}])
        while True:
            if self.first_name(source_id) == new_name:
                latency = time.monotonic() - started
                break
            failed = [run for run in self.runs_since(changed_at) if run["status"] == "failed"]
            if failed:
                raise LatencyFailure(f"change {index}: run {failed[0]['run_id']} failed: {failed[0]['error']}")
            self._check_dagster()
            if time.monotonic() - started > timeout:
                runs = self.runs_since(changed_at)
                raise LatencyFailure(
                    f"change {index} ({source_id} -> {new_name}) not in the warehouse after {timeout:.0f}s; "
                    f"runs since the change: {[(r['run_id'], r['mode'], r['status']) for r in runs] or 'none (the sensor requested no run)'}"
                    f"{self.dagster_log_tail()}")
            time.sleep(0.25)
        runs = self.runs_since(changed_at)
        if not runs:
            raise LatencyFailure(f"change {index} reached the warehouse, but no run started after it")
        run = runs[0]
        tags = self.dagster_run_tags(run["run_id"])
        return {
            "index": index, "source_id": source_id, "changed_at": changed_at.isoformat(timespec="milliseconds"),
            "latency_seconds": round(latency, 2), "run_id": run["run_id"], "mode": run["mode"],
            "sensor": tags.get("dagster/sensor_name"), "partition": tags.get("dagster/partition"),
        }


def measure_change_latency(
    deployment: DaemonDeployment, changes: int, *, seed: int = 20, jitter_seconds: float = 0.0,
    change_timeout: float = 300.0, progress=lambda message: None,
) -> list[dict]:
    """`changes` students renamed one at a time, each once the previous run is done and after a random pause of
    up to `jitter_seconds` (so changes land at random points of the sensor's interval); one sample each.

    Fails unless every change arrives within `change_timeout`, written by an incremental run the change
    sensor requested for this integration's partition.
    """
    rng = random.Random(seed)
    chosen = rng.sample(deployment.student_ids(), changes)
    samples = []
    for index, source_id in enumerate(chosen):
        deployment.wait_until_idle(timeout=change_timeout)
        time.sleep(rng.uniform(0, jitter_seconds))
        sample = deployment.time_one_change(index, source_id, change_timeout)
        if sample["mode"] != "incremental":
            raise LatencyFailure(f"change {index} was written by a {sample['mode']} run {sample['run_id']}, not an incremental one")
        if sample["sensor"] != deployment.sensor_name or sample["partition"] != deployment.name:
            raise LatencyFailure(f"change {index}: run {sample['run_id']} was not requested by {deployment.sensor_name} "
                                 f"for partition {deployment.name} (sensor {sample['sensor']!r}, partition {sample['partition']!r})")
        progress(f"change {index + 1}/{changes}: {sample['latency_seconds']:.1f}s (run {sample['run_id'][:8]}, {sample['mode']})")
        samples.append(sample)
    return samples


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def served(sim, collection: str, sourced_id: str, version: str = "1.1") -> dict:
    """One record as the OneRoster simulator serves it now, through its own API (with a token)."""
    token = httpx.post(sim.token_url, auth=(sim.client_id, sim.client_secret), data={"grant_type": "client_credentials"}).json()
    response = httpx.get(
        f"{sim.oneroster_root(version)}/{collection}/{sourced_id}", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    response.raise_for_status()
    return next(value for value in response.json().values() if isinstance(value, dict))


def copy_checkout(tmp_path) -> Path:
    """The repository's files as a fresh clone has them (tracked, and untracked but not ignored), in `tmp_path/clone`."""
    repo = Path(__file__).resolve().parents[1]
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo, capture_output=True, check=True
    ).stdout.decode().split("\0")
    clone = tmp_path / "clone"
    clone.mkdir()
    archive = tmp_path / "clone.tar"
    with tarfile.open(archive, "w") as tar:
        for name in filter(None, listed):
            if (repo / name).exists():
                tar.add(repo / name, arcname=name, recursive=False)
    with tarfile.open(archive) as tar:
        tar.extractall(clone, filter="data")
    archive.unlink()
    return clone


def query_rows(url: str, query) -> list[dict]:
    """Every row a SQLAlchemy query returns from the warehouse at `url`, as dicts."""
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        found = [row._asdict() for row in conn.execute(query)]
    engine.dispose()
    return found
