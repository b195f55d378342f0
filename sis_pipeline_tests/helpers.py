"""What several test modules share: expected totals per simulator, warehouse readers, a sample OneRoster CSV drop.

Tests import from here, never from each other.
"""

import httpx
import json
import socket
import subprocess
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
