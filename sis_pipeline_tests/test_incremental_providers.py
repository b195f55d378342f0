"""Incremental runs and change probes of the providers other than OneRoster, against their simulators over
HTTP and the warehouse on both backends: a probe right after a full sync sees nothing, one after changes
sees them; an incremental run applies exactly those changes and keeps the SIS's own stamp (made UTC) as
the watermark."""

import os
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo
from urllib.parse import parse_qs

import httpx
import pytest
import yaml
from sqlalchemy import select
from starlette.responses import JSONResponse

from sis_pipeline.config import load_config
from sis_pipeline.providers.common.registry import provider_class
from sis_pipeline.warehouse.cursors import read_watermarks
from sis_pipeline.warehouse.engine import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES
from sis_pipeline_tests.helpers import FILES, csv_config, write_package
from sis_simulators import SimulatorServer, SimulatorSettings
from sis_simulators.powerschool import PowerSchoolSettings
from sis_simulators.powerschool.generated import MODIFIED
from sis_simulators.qmlativ import QmlativSettings
from sis_simulators.qmlativ.objects import FIRST_ID

NAME = "springfield"
CHICAGO = ZoneInfo("America/Chicago")
STUDENT = "Student/Student"


def watermarks(url: str) -> dict[str, datetime]:
    engine = create_warehouse_engine(url)
    try:
        return read_watermarks(engine, NAME)
    finally:
        engine.dispose()


def probe(config, url: str | None):
    """The provider's change probe against the watermarks the warehouse holds (none without one), as the sensor asks it."""
    integration = load_config(config).integration(NAME)
    provider = provider_class(integration.provider)(integration)
    try:
        return provider.probe_changes(watermarks(url) if url else {})
    finally:
        provider.close()


def changed_only(counts: dict, entity: str, inserted: int = 0, updated: int = 0, archived: int = 0) -> None:
    """`entity` was written exactly so; every other entity not at all."""
    assert (counts[entity]["inserted"], counts[entity]["updated"], counts[entity]["archived"]) == (inserted, updated, archived)
    for other, written in counts.items():
        if other != entity:
            assert written["inserted"] == written["updated"] == written["archived"] == 0, (other, written)


def write_integration(tmp_path, monkeypatch, sim, **entry) -> str:
    monkeypatch.setenv("SIS_ID", sim.client_id)
    monkeypatch.setenv("SIS_SECRET", sim.client_secret)
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump({"integrations": [{
        "name": NAME, "base_url": sim.base_url, "client_id_env": "SIS_ID", "client_secret_env": "SIS_SECRET",
        "timezone": "America/Chicago", "requests_per_minute": 60_000, **entry,
    }]}))
    return path


# --- Skyward Qmlativ -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qmlativ_server():
    settings = QmlativSettings(client_id="skyward-inc", client_secret=f"secret-{uuid.uuid4().hex}")
    with SimulatorServer(300, kind="qmlativ", settings=settings) as running:
        yield running


@pytest.fixture
def qmlativ(qmlativ_server):
    qmlativ_server.reset()
    yield qmlativ_server
    qmlativ_server.reset()


def qmlativ_config(tmp_path, monkeypatch, sim):
    return write_integration(tmp_path, monkeypatch, sim, provider="skyward", page_size=200, options={"api": "qmlativ"})


def test_qmlativ_probe_sees_nothing_after_a_full_sync_and_the_changes_after_it(qmlativ, tmp_path, monkeypatch, sync, sqlite_url):
    config = qmlativ_config(tmp_path, monkeypatch, qmlativ)
    assert sync(config, sqlite_url)["status"] == "success"

    quiet = probe(config, sqlite_url)  # the newest record sits exactly at its watermark: not "after" it
    assert quiet.changed is False and quiet.token is None, quiet

    qmlativ.apply_changes([{"op": "update", "object": STUDENT, "id": FIRST_ID[STUDENT] + 5, "fields": {"LastName": "Moved"}}])
    seen = probe(config, sqlite_url)
    assert seen.changed is True and seen.detail == "changed: students", seen
    assert seen.token and "Moved" not in seen.token + seen.detail  # what changed, never the record's content


def test_qmlativ_incremental_run_applies_exactly_the_changes(qmlativ, tmp_path, monkeypatch, sync, warehouse_url):
    config = qmlativ_config(tmp_path, monkeypatch, qmlativ)
    assert sync(config, warehouse_url)["status"] == "success"
    after_full = watermarks(warehouse_url)
    assert set(after_full) >= {"students", "classes", "enrollments", "demographics", "entryWithdrawals"}

    # Wall-clock stamps of the district (America/Chicago, CST in late November: UTC-6)
    stamps = {FIRST_ID[STUDENT] + 3: "2026-11-20T09:30:00", FIRST_ID[STUDENT] + 40: "2026-11-20T09:45:10", FIRST_ID[STUDENT] + 41: "2026-11-20T08:00:00"}
    qmlativ.apply_changes([
        {"op": "update", "object": STUDENT, "id": i, "fields": {"LastName": f"Renamed{n}", "ModifiedTime": t}}
        for n, (i, t) in enumerate(stamps.items())
    ])
    run = sync(config, warehouse_url, mode="incremental")
    assert run["status"] == "success", run
    changed_only(run["entities"], "students", updated=3)

    moved = watermarks(warehouse_url)
    assert moved["students"] == datetime(2026, 11, 20, 15, 45, 10, tzinfo=UTC)  # the SIS's wall clock, made UTC
    assert {c: w for c, w in moved.items() if c != "students"} == {c: w for c, w in after_full.items() if c != "students"}
    assert probe(config, warehouse_url).changed is False  # the run took every change there was


def test_qmlativ_incremental_run_reads_only_the_changes(qmlativ, tmp_path, monkeypatch, sync, sqlite_url):
    config = qmlativ_config(tmp_path, monkeypatch, qmlativ)
    assert sync(config, sqlite_url)["status"] == "success"
    qmlativ.apply_changes([{"op": "update", "object": STUDENT, "id": FIRST_ID[STUDENT] + 9, "fields": {"LastName": "Only"}}])
    run = sync(config, sqlite_url, mode="incremental")
    assert run["status"] == "success", run
    # a delta, not the district: only the change and the few records stamped in the look-back before the watermark
    totals = qmlativ.totals()
    assert run["entities"]["students"]["updated"] == 1
    assert 1 <= run["entities"]["students"]["fetched"] < totals[STUDENT] / 20
    assert run["entities"]["enrollments"]["fetched"] < totals["Scheduling/StudentSection"] / 20
    # a removal is not a change Qmlativ can report: only the next full sync archives the record
    qmlativ.apply_changes([{"op": "remove", "object": STUDENT, "id": FIRST_ID[STUDENT] + 10}])
    quiet = sync(config, sqlite_url, mode="incremental")
    assert quiet["entities"]["students"]["archived"] == 0


# --- PowerSchool ---------------------------------------------------------------------------------


class RefusesTransactionDateFilter:
    """The PowerSchool simulator, except that while `refusing`, a students table query filtered on
    transaction_date is answered as PowerSchool answers a table or plugin that cannot filter on it."""

    def __init__(self, app):
        self.app, self.state, self.refusing = app, app.state, False

    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode()) if scope["type"] == "http" else {}
        if self.refusing and scope["path"].startswith("/ws/schema/table/students") and "transaction_date" in "".join(query.get("q", [])):
            body = {"message": "Invalid field transaction_date", "resource": "students", "field": "transaction_date"}
            await JSONResponse(body, 400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def powerschool_server():
    server = SimulatorServer(260, kind="powerschool", settings=PowerSchoolSettings(client_id="ps-inc", client_secret=f"ps-{uuid.uuid4().hex}"))
    server.app = RefusesTransactionDateFilter(server.app)
    with server:
        yield server


@pytest.fixture
def powerschool(powerschool_server):
    powerschool_server.reset()
    yield powerschool_server
    powerschool_server.reset()
    powerschool_server.app.refusing = False
    powerschool_server.update_settings(schema_table_access=True)


def ps_config(tmp_path, monkeypatch, sim):
    # pages of 25: the whole student list costs 12 requests, more than reading the few changed students one by one
    return write_integration(tmp_path, monkeypatch, sim, provider="powerschool", max_concurrency=4, page_size=25)


def student_dcid(sim, index: int) -> int:
    return int(sim.state.roster.record_at("students", index)["id"])


def changed_at(sim, dcid: int) -> datetime:
    """When the simulator stamped a student's last change (UTC), to the second PowerSchool shows."""
    return datetime.fromisoformat(sim.state.roster.find("students", str(dcid))[MODIFIED]).astimezone(UTC).replace(microsecond=0)


def requests_to(sim, path: str) -> int:
    return sim.stats()["requests"].get(path, 0)


def ps_count(sim, table: str, query: str) -> int:
    """Rows of a schema table matching `q`, asked over HTTP as a plugin would."""
    token = httpx.post(sim.token_url, auth=(sim.client_id, sim.client_secret), data={"grant_type": "client_credentials"}).json()
    answer = httpx.get(f"{sim.base_url}/ws/schema/table/{table}/count", params={"q": query}, headers={"Authorization": f"Bearer {token['access_token']}"})
    answer.raise_for_status()
    return answer.json()["count"]


def test_powerschool_probe_counts_students_changed_after_the_watermark(powerschool, tmp_path, monkeypatch, sync, sqlite_url):
    config = ps_config(tmp_path, monkeypatch, powerschool)
    assert sync(config, sqlite_url)["status"] == "success"
    quiet = probe(config, sqlite_url)  # the newest student sits exactly at the watermark: not "after" it
    assert quiet.changed is False and quiet.token is None, quiet

    dcids = [student_dcid(powerschool, i) for i in (4, 90)]
    powerschool.apply_changes([{"op": "update", "table": "students", "id": d, "fields": {"name": {"last_name": "Moved"}}} for d in dcids])
    seen = probe(config, sqlite_url)
    assert (seen.changed, seen.detail) == (True, "changed: students (2 changed)"), seen
    assert seen.token and "Moved" not in seen.token + seen.detail

    powerschool.apply_changes([{"op": "withdraw", "id": student_dcid(powerschool, 7), "exit_date": "2026-12-01"}])
    later = probe(config, sqlite_url)
    assert later.changed is True and later.token != seen.token  # a later change is a new run key


def test_powerschool_incremental_run_applies_exactly_the_changes(powerschool, tmp_path, monkeypatch, sync, warehouse_url):
    config = ps_config(tmp_path, monkeypatch, powerschool)
    assert sync(config, warehouse_url)["status"] == "success"
    after_full = watermarks(warehouse_url)
    assert set(after_full) == {"student_changes", "students"}  # no other PowerSchool list carries a time

    renamed = [student_dcid(powerschool, i) for i in (3, 40, 41)]
    withdrawn = student_dcid(powerschool, 100)
    powerschool.apply_changes(
        [{"op": "update", "table": "students", "id": d, "fields": {"name": {"last_name": f"Renamed{n}"}}} for n, d in enumerate(renamed)]
        + [{"op": "withdraw", "id": withdrawn, "exit_date": "2026-12-01"}]
    )
    # the withdrawal stamps the classes it ends as it stamps the student
    dropped = ps_count(powerschool, "cc", f"transaction_date=ge={changed_at(powerschool, withdrawn).astimezone(CHICAGO):%Y-%m-%d %H:%M:%S}")
    lookback = after_full["students"] - timedelta(seconds=300)  # the integration's default lookback_seconds
    read_again = ps_count(powerschool, "students", f"transaction_date=ge={lookback.astimezone(CHICAGO):%Y-%m-%d %H:%M:%S}")
    list_requests, one_requests = requests_to(powerschool, "/ws/v1/district/student"), requests_to(powerschool, "/ws/v1/student/{id}")

    run = sync(config, warehouse_url, mode="incremental")
    assert run["status"] == "success", run
    counts = run["entities"]
    assert (counts["students"]["inserted"], counts["students"]["updated"], counts["students"]["archived"]) == (0, 4, 0)
    # the withdrawal ends the student's classes; rosters are read whole (no filter) and only those rows written
    assert dropped > 0 and (counts["enrollments"]["inserted"], counts["enrollments"]["updated"], counts["enrollments"]["archived"]) == (0, dropped, 0)
    for entity in ("schools", "terms", "courses", "sections", "teachers"):
        assert counts[entity]["inserted"] == counts[entity]["updated"] == counts[entity]["archived"] == 0, entity
    # the changed students alone, each from /ws/v1/student/{dcid}; the district list not at all
    assert requests_to(powerschool, "/ws/v1/district/student") == list_requests
    assert read_again - 4 < 5 and requests_to(powerschool, "/ws/v1/student/{id}") - one_requests == read_again
    assert student_status(warehouse_url, withdrawn) == "transferred"

    newest = max(changed_at(powerschool, d) for d in [*renamed, withdrawn])
    assert watermarks(warehouse_url) == {"student_changes": newest, "students": newest}  # transaction_date, made UTC
    assert probe(config, warehouse_url).changed is False


def student_status(url: str, dcid: int) -> str:
    table = ENTITY_TABLES["students"]
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        status = conn.execute(select(table.c.enrollment_status).where(table.c.source_id == str(dcid))).scalar_one()
    engine.dispose()
    return status


def test_powerschool_without_table_access_gives_no_signal_and_an_incremental_run_reads_students_whole(
    powerschool, tmp_path, monkeypatch, sync, warehouse_url
):
    config = ps_config(tmp_path, monkeypatch, powerschool)
    assert sync(config, warehouse_url)["status"] == "success"
    stored = watermarks(warehouse_url)
    powerschool.update_settings(schema_table_access=False)  # the access request was dropped from plugin.xml

    blind = probe(config, warehouse_url)
    assert blind.changed is None and "no signal" in blind.detail and "403" in blind.detail, blind

    changed = student_dcid(powerschool, 12)
    powerschool.apply_changes([{"op": "update", "table": "students", "id": changed, "fields": {"name": {"first_name": "Seen"}}}])
    list_requests = requests_to(powerschool, "/ws/v1/district/student")
    run = sync(config, warehouse_url, mode="incremental")
    assert run["status"] == "success", run
    assert requests_to(powerschool, "/ws/v1/district/student") > list_requests  # read whole
    changed_only(run["entities"], "students", updated=1)
    assert watermarks(warehouse_url) == stored  # nothing listed, nothing to vouch for a newer one


def test_powerschool_first_sync_without_table_access_keeps_no_watermark_and_the_probe_says_so(
    powerschool, tmp_path, monkeypatch, sync, sqlite_url
):
    powerschool.update_settings(schema_table_access=False)
    config = ps_config(tmp_path, monkeypatch, powerschool)
    assert sync(config, sqlite_url)["status"] == "success"
    assert watermarks(sqlite_url) == {}
    assert probe(config, sqlite_url).changed is None  # nothing to ask from: the schedule's full syncs carry the changes
    powerschool.apply_changes([{"op": "update", "table": "students", "id": student_dcid(powerschool, 2), "fields": {"name": {"first_name": "Again"}}}])
    run = sync(config, sqlite_url, mode="incremental")
    assert run["status"] == "success", run
    changed_only(run["entities"], "students", updated=1)


def test_powerschool_invalid_transaction_date_field_reads_students_whole(powerschool, tmp_path, monkeypatch, sync, sqlite_url, caplog):
    config = ps_config(tmp_path, monkeypatch, powerschool)
    assert sync(config, sqlite_url)["status"] == "success"
    powerschool.app.refusing = True
    assert probe(config, sqlite_url).changed is None

    changed = student_dcid(powerschool, 20)
    powerschool.apply_changes([{"op": "update", "table": "students", "id": changed, "fields": {"name": {"first_name": "Whole"}}}])
    list_requests = requests_to(powerschool, "/ws/v1/district/student")
    with caplog.at_level("WARNING"):
        run = sync(config, sqlite_url, mode="incremental")
    assert run["status"] == "success", run
    assert requests_to(powerschool, "/ws/v1/district/student") > list_requests
    changed_only(run["entities"], "students", updated=1)
    fallbacks = [r.getMessage() for r in caplog.records if "no change filter" in r.getMessage()]
    assert len(fallbacks) == 2 and all("Invalid field transaction_date" in line for line in fallbacks)  # student_changes, students


def test_powerschool_reads_the_student_list_whole_when_that_takes_fewer_requests(powerschool, tmp_path, monkeypatch, sync, sqlite_url, caplog):
    config = ps_config(tmp_path, monkeypatch, powerschool)  # the whole list: 1 count + 11 pages of 25
    assert sync(config, sqlite_url)["status"] == "success"
    powerschool.apply_changes([
        {"op": "update", "table": "students", "id": student_dcid(powerschool, i), "fields": {"name": {"first_name": "Many"}}} for i in range(15)
    ])
    one_requests = requests_to(powerschool, "/ws/v1/student/{id}")
    with caplog.at_level("WARNING"):
        run = sync(config, sqlite_url, mode="incremental")
    assert run["status"] == "success", run
    changed_only(run["entities"], "students", updated=15)
    assert requests_to(powerschool, "/ws/v1/student/{id}") == one_requests
    assert any("fewer than one per student" in r.getMessage() for r in caplog.records)


# --- OneRoster CSV drops -------------------------------------------------------------------------

DELTA_USERS = """sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password
stu-1,active,2026-11-20T09:45:10-06:00,true,sch-1,student,zoe,{stateId:CA100},Zoey,O'Brien,,1001,,,,,05,
stu-2,tobedeleted,2026-11-20T15:00:00.000Z,true,sch-1,student,ana,{stateId:CA101},Ana,Smith-Jones,,1002,,,,,KG,
"""


def test_csv_probe_reports_the_package_now_in_place_by_fingerprint(tmp_path):
    folder = tmp_path / "sftp"
    folder.mkdir()
    config = csv_config(tmp_path, folder)
    empty = probe(config, None)  # the folder waits for tonight's drop
    assert (empty.changed, empty.token) == (False, None) and str(folder) in empty.detail

    folder.rmdir()  # write_package makes the folder
    write_package(folder, FILES, dict.fromkeys(FILES, "bulk"), as_zip=False)
    first = probe(config, None)
    assert first.changed is True and first.token and first.token in first.detail and "sftp" in first.detail
    assert probe(config, None).token == first.token  # the same package: the same run key
    (folder / "users.csv").write_text(DELTA_USERS)
    assert probe(config, None).token not in (None, first.token)  # a file replaced: a new run key

    drop = tmp_path / "drop.zip"
    write_package(drop, FILES, dict.fromkeys(FILES, "bulk"), as_zip=True)
    zipped = probe(csv_config(tmp_path, drop), None)
    assert zipped.changed is True and "drop.zip" in zipped.detail
    content = drop.stat()
    drop.unlink()
    write_package(drop, {**FILES, "users": DELTA_USERS}, {"users": "delta"}, as_zip=True)
    os.utime(drop, ns=(content.st_atime_ns, content.st_mtime_ns))  # re-sent with the old time: the entries tell
    assert probe(csv_config(tmp_path, drop), None).token != zipped.token


def test_csv_incremental_run_applies_a_delta_drop(tmp_path, sync, warehouse_url):
    folder = tmp_path / "drop"
    write_package(folder, FILES, dict.fromkeys(FILES, "bulk"), as_zip=False)
    # a delta that archives one of two students would be held by the default safety limits
    config = csv_config(tmp_path, folder, fields={"safety": {"max_archive_fraction": 1, "max_change_fraction": 1}})
    assert sync(config, warehouse_url)["status"] == "success"
    before = probe(config, warehouse_url).token

    for name in folder.iterdir():
        name.unlink()
    folder.rmdir()
    write_package(folder, {"users": DELTA_USERS}, {"users": "delta"}, as_zip=False)
    assert probe(config, warehouse_url).token != before

    run = sync(config, warehouse_url, mode="incremental")
    assert run["status"] == "success", run
    changed_only(run["entities"], "students", updated=2, archived=1)  # stu-1 renamed, stu-2 tobedeleted (archived)
    # the newest dateLastModified, its offset applied: 09:45:10 at UTC-6
    assert watermarks(warehouse_url)["students"] == datetime(2026, 11, 20, 15, 45, 10, tzinfo=UTC)


# --- Infinite Campus (OneRoster's client, Campus's URLs and tokens) ------------------------------


@pytest.fixture(scope="module")
def campus_server():
    settings = SimulatorSettings.infinite_campus(app_name="springfield", client_id="campus-inc", client_secret=f"secret-{uuid.uuid4().hex}")
    with SimulatorServer(students=300, settings=settings) as sim:
        yield sim


@pytest.fixture
def campus(campus_server):
    campus_server.reset()
    yield campus_server
    campus_server.reset()


def served_stamp(config, collection: str, sourced_id: str) -> datetime:
    """A record's dateLastModified as Campus serves it now, asked over HTTP with the integration's own client."""
    integration = load_config(config).integration(NAME)
    provider = provider_class(integration.provider)(integration)
    try:
        body = provider.client.get_json(f"{collection}/{sourced_id}")
    finally:
        provider.close()
    record = next(value for value in body.values() if isinstance(value, dict))
    return datetime.fromisoformat(record["dateLastModified"].replace("Z", "+00:00"))


def test_campus_inherits_oneroster_probe_and_incremental_run(campus, tmp_path, monkeypatch, sync, warehouse_url):
    config = write_integration(
        tmp_path, monkeypatch, campus, provider="infinite_campus", page_size=100, options={"app_name": "springfield", "version": "1.2"}
    )
    assert sync(config, warehouse_url)["status"] == "success"
    after_full = watermarks(warehouse_url)
    assert probe(config, warehouse_url).changed is False

    students = [campus.district.students.sourced_id(i) for i in (3, 40, 200)]
    campus.apply_changes(
        [{"op": "update", "collection": "students", "sourcedId": s, "fields": {"givenName": f"Renamed{i}"}} for i, s in enumerate(students[:2])]
        + [{"op": "tobedeleted", "collection": "students", "sourcedId": students[2]}]
    )
    seen = probe(config, warehouse_url)
    assert seen.changed is True and seen.detail.startswith("changed: students") and seen.token, seen

    run = sync(config, warehouse_url, mode="incremental")
    assert run["status"] == "success", run
    changed_only(run["entities"], "students", updated=3, archived=1)
    moved = watermarks(warehouse_url)
    assert moved["students"] == max(served_stamp(config, "students", s) for s in students)
    assert {c: w for c, w in moved.items() if c != "students"} == {c: w for c, w in after_full.items() if c != "students"}


# --- Wall-clock stamps around DST -----------------------------------------------------------------


def test_wall_clock_stamps_are_made_utc_and_the_repeated_hour_is_asked_again():
    from sis_pipeline.providers.common.changes import newest_wall_clock
    from sis_pipeline.providers.powerschool.changes import after_query, since_query

    stamps = [{"t": "2026-11-01 01:30:00"}, {"t": "2026-03-07T08:15:00"}, {"t": "garbled"}, {}]
    assert newest_wall_clock(stamps, "t", CHICAGO) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # the first 01:30 (CDT)
    # an ordinary night: from the watermark itself (each changed student costs a request)
    assert since_query(datetime(2026, 11, 20, 15, 45, 10, 500, tzinfo=UTC), CHICAGO) == "transaction_date=ge=2026-11-20 09:45:10"
    # within the hour the wall clock repeats (DST ended at 07:00 UTC on 1 November 2026): from an hour earlier
    assert since_query(datetime(2026, 11, 1, 7, 20, tzinfo=UTC), CHICAGO) == "transaction_date=ge=2026-11-01 01:20:00"
    assert since_query(datetime(2026, 11, 1, 6, 50, tzinfo=UTC), CHICAGO) == "transaction_date=ge=2026-11-01 00:50:00"
    assert after_query(datetime(2026, 11, 20, 15, 45, 10, tzinfo=UTC), CHICAGO) == "transaction_date=ge=2026-11-20 09:45:11"


def test_the_newest_stamp_of_a_page_is_read_in_utc_whatever_its_spelling_and_ignoring_the_unreadable():
    from sis_pipeline.providers.common.changes import newest_iso

    page = [
        {"dateLastModified": "2026-03-01T10:00:00Z"},
        {"dateLastModified": "2026-03-01T10:00:00Z"},
        {"dateLastModified": "2026-03-01T11:30:00+02:00"},  # 09:30 UTC: older despite the later wall clock
        {"dateLastModified": "2026-03-01T10:00:01"},  # no offset: read as UTC, the newest
        {"dateLastModified": "not a date"}, {"dateLastModified": ""}, {"dateLastModified": {"nested": 1}}, {},
    ]
    assert newest_iso(page, "dateLastModified") == datetime(2026, 3, 1, 10, 0, 1, tzinfo=UTC)
    assert newest_iso([{}, {"dateLastModified": None}], "dateLastModified") is None
