"""The Qmlativ Generic API simulator serves the shared district in Qmlativ's shapes, over real HTTP.

Most tests share one server with a 1,300-student district (three schools, so every grade band)
on a free loopback port and read it the way a client would: following `Paging.Next`.
"""

import json
import tracemalloc
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from sis_simulators import District, SimulatorProcess, SimulatorServer
from sis_simulators.qmlativ import QmlativRoster, QmlativSettings
from sis_simulators.qmlativ.objects import FIRST_ID
from sis_simulators.qmlativ.search import parse_search
from sis_simulators.qmlativ.settings import runtime_setting_names
from sis_simulators.timestamps import BASE_MODIFIED_END

STUDENTS = 1300
DEFAULT_RUNTIME_SETTINGS = {name: getattr(QmlativSettings(), name) for name in runtime_setting_names()}
CHICAGO = ZoneInfo("America/Chicago")
STUDENT = "Student/Student"


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(STUDENTS, kind="qmlativ") as running:
        yield running


@pytest.fixture
def sim(server):
    """The shared server, put back as generated with default settings after each test."""
    yield server
    server.reset()
    server.update_settings(**DEFAULT_RUNTIME_SETTINGS)


@pytest.fixture
def client(sim):
    token = get_token(sim).json()["access_token"]
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as authorised:
        yield authorised


def get_token(sim, secret: str | None = None) -> httpx.Response:
    return httpx.get(sim.token_url, params={"grant_type": "client_credentials"}, auth=(sim.client_id, secret or sim.client_secret))


def search_body(condition_type: str, value: str, kind: str = "DateSearchCondition") -> dict:
    condition = {kind: {"FieldName": "ModifiedTime", "ConditionType": condition_type, "Value": value}}
    return {"SearchCondition": {"SearchConditionGroup": {"ConditionGroupType": "And", "Conditions": [condition]}}}


def fetch_all(client, object_path: str, page_size: int = 500, body: dict | None = None, **params) -> tuple[list[dict], list[dict]]:
    """(every record, every Paging block) following Next until it is null or a page is empty."""
    records, pagings = [], []
    path = f"/Generic/1/{object_path}/1/{page_size}"
    while path:
        response = client.post(path, json=body, params=params) if body else client.get(path, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pagings.append(page["Paging"])
        if not page["Objects"]:
            break
        records.extend(page["Objects"])
        path = page["Paging"]["Next"]
    return records, pagings


def wall_clock(utc_iso: str, zone: ZoneInfo = CHICAGO) -> str:
    return datetime.fromisoformat(utc_iso).astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


# --- Tokens ------------------------------------------------------------------------------------


def test_token_by_get_with_basic_auth_and_by_a_standard_post(sim):
    by_get = get_token(sim)
    by_post = httpx.post(
        sim.token_url, data={"grant_type": "client_credentials", "client_id": sim.client_id, "client_secret": sim.client_secret}
    )
    for response in (by_get, by_post):
        assert response.status_code == 200
        body = response.json()
        assert (body["token_type"], body["expires_in"]) == ("bearer", 3600) and len(body["access_token"]) > 20
    assert by_get.json()["access_token"] != by_post.json()["access_token"]


def test_token_refused_for_a_wrong_secret_or_grant(sim):
    assert get_token(sim, secret="wrong").status_code == 401
    wrong_grant = httpx.get(sim.token_url, params={"grant_type": "password"}, auth=(sim.client_id, sim.client_secret))
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "unsupported_grant_type")


def test_missing_token_is_401_and_an_expired_one_403_token_has_expired_or_401(sim, client):
    url = f"{sim.base_url}/Generic/1/District/Entity/1/10"
    assert httpx.get(url).status_code == 401
    assert client.get(url).status_code == 200
    assert sim.expire_tokens() >= 1
    expired = client.get(url)
    assert expired.status_code == 403 and "Token has expired" in expired.text
    sim.update_settings(expired_token_status=401)
    assert client.get(url).status_code == 401 and "Token has expired" in client.get(url).text


# --- Listing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [97, 260, 650, 1000])
def test_following_next_visits_every_record_exactly_once(client, page_size):
    records, pagings = fetch_all(client, STUDENT, page_size)
    assert [r["StudentID"] for r in records] == [FIRST_ID[STUDENT] + i for i in range(STUDENTS)]
    assert [p["Page"] for p in pagings] == list(range(1, len(pagings) + 1))
    assert pagings[0]["Previous"] is None and all(p["PageSize"] == page_size for p in pagings)
    if STUDENTS % page_size == 0:  # a full last page still points on, to an empty page that ends the list
        assert len(pagings) == STUDENTS // page_size + 1
    else:
        assert len(pagings) == STUDENTS // page_size + 1 and pagings[-1]["Next"] is None


def test_every_object_lists_what_totals_count(sim, client):
    totals = sim.totals()
    assert set(totals) == set(FIRST_ID)
    for object_path, total in totals.items():
        assert len(fetch_all(client, object_path, 1000)[0]) == total, object_path
    assert totals["Scheduling/StudentSection"] == 6 * STUDENTS
    assert totals["Demographics/Name"] == totals["Staff/Staff"] + STUDENTS


def test_page_size_is_capped_and_next_follows_the_cap(sim, client):
    sim.update_settings(max_page_size=200)
    page = client.get(f"/Generic/1/{STUDENT}/2/5000").json()
    assert len(page["Objects"]) == 200 and page["Paging"]["PageSize"] == 200
    assert page["Objects"][0]["StudentID"] == FIRST_ID[STUDENT] + 200
    assert page["Paging"]["Next"] == f"/Generic/1/{STUDENT}/3/200"
    assert page["Paging"]["Previous"] == f"/Generic/1/{STUDENT}/1/200"


def test_search_fields_choose_the_fields_and_unknown_ones_are_refused(client):
    page = client.get(f"/Generic/1/{STUDENT}/1/3", params={"searchFields": ["StudentID", "ModifiedTime"]}).json()
    assert [list(r) for r in page["Objects"]] == [["StudentID", "ModifiedTime"]] * 3
    refused = client.get(f"/Generic/1/{STUDENT}/1/3", params={"searchFields": ["StudentID", "ShoeSize"]})
    assert refused.status_code == 400 and "ShoeSize" in refused.json()["Message"]


@pytest.mark.parametrize(
    "path, status",
    [
        (f"/Generic/2/{STUDENT}/1/10", 404),
        ("/Generic/1/Student/Locker/1/10", 404),
        (f"/Generic/1/{STUDENT}/0/10", 400),
        (f"/Generic/1/{STUDENT}/1/ten", 400),
    ],
)
def test_unknown_entities_and_objects_are_404_and_bad_paging_400(client, path, status):
    response = client.get(path)
    assert response.status_code == status and response.json()["Message"]


# --- The district in Qmlativ's shapes ----------------------------------------------------------


def test_objects_render_the_same_district_as_the_oneroster_simulator(sim, client):
    district = sim.district
    names = {r["NameID"]: r for r in fetch_all(client, "Demographics/Name", 2000)[0]}
    students = fetch_all(client, STUDENT, 2000)[0]
    for index in (0, 650, 1299):
        oneroster = district.students.record(index, "1.1")
        student, name = students[index], names[students[index]["NameID"]]
        assert (student["FirstName"], student["LastName"], student["StudentNumber"]) == (
            oneroster["givenName"], oneroster["familyName"], oneroster["identifier"]
        )
        assert student["CalculatedStudentStateID"] == oneroster["userIds"][0]["identifier"]
        assert (name["FirstName"], name["LastName"]) == (oneroster["givenName"], oneroster["familyName"])
        assert name["BirthDate"] == district.demographics.record(index)["birthDate"] + "T00:00:00"
        assert student["ModifiedTime"] == wall_clock(oneroster["dateLastModified"])
    grades = {s["CalculatedGrade"] for s in students}
    assert {"PK", "K", "05", "12"} <= grades and "KG" not in grades

    staff = {r["StaffID"]: r for r in fetch_all(client, "Staff/Staff", 1000)[0]}
    sections = fetch_all(client, "Scheduling/Section", 1000)[0]
    teacher = staff[sections[10]["StaffIDCurrentStoredPrimary"]]
    assert teacher["StaffNumber"] == district.teachers.record(district.section_teacher(10))["identifier"]
    student_sections = fetch_all(client, "Scheduling/StudentSection", 1000)[0]
    enrollment = district.enrollments.record(7)
    assert student_sections[7]["SectionID"] == FIRST_ID["Scheduling/Section"] + district.classes.index_of(enrollment["class"]["sourcedId"])
    assert student_sections[7]["EndDate"] == enrollment["endDate"] + "T00:00:00"


def test_modified_time_is_the_districts_wall_clock_in_its_time_zone(sim, client):
    utc = sim.district.schools.record(0)["dateLastModified"]
    assert client.get("/Generic/1/District/Entity/1/1").json()["Objects"][0]["ModifiedTime"] == wall_clock(utc)
    sim.update_settings(timezone="Asia/Tokyo")
    assert client.get("/Generic/1/District/Entity/1/1").json()["Objects"][0]["ModifiedTime"] == wall_clock(utc, ZoneInfo("Asia/Tokyo"))


# --- Searching on ModifiedTime -----------------------------------------------------------------


def test_search_on_modified_time_returns_only_records_changed_since(sim, client):
    since = BASE_MODIFIED_END.astimezone(CHICAGO).strftime("%Y-%m-%dT%H:%M:%S")
    changed = FIRST_ID[STUDENT] + 8
    sim.apply_changes([{"op": "update", "object": STUDENT, "id": changed, "fields": {"LastName": "Renamed"}}])
    records, _ = fetch_all(client, STUDENT, 100, body=search_body("GreaterThanOrEqual", since))
    assert [(r["StudentID"], r["LastName"]) for r in records] == [(changed, "Renamed")]
    for_string_clients, _ = fetch_all(client, STUDENT, 100, body=search_body("GreaterThanOrEqual", since, "StringSearchCondition"))
    assert for_string_clients == records


@pytest.mark.parametrize("condition_type", ["GreaterThanOrEqual", "GreaterThan", "LessThan", "LessThanOrEqual"])
def test_search_inside_the_generated_window_matches_a_scan_of_the_wall_clock(client, condition_type):
    everyone, _ = fetch_all(client, STUDENT, 2000)
    pivot = sorted(r["ModifiedTime"] for r in everyone)[STUDENTS // 3]
    compare = {
        "GreaterThanOrEqual": str.__ge__, "GreaterThan": str.__gt__, "LessThan": str.__lt__, "LessThanOrEqual": str.__le__,
    }[condition_type]
    expected = [r["StudentID"] for r in everyone if compare(r["ModifiedTime"], pivot)]
    found, _ = fetch_all(client, STUDENT, 250, body=search_body(condition_type, pivot))
    assert [r["StudentID"] for r in found] == expected and 0 < len(expected) < STUDENTS


@pytest.mark.parametrize(
    "body, message",
    [
        ({"SearchCondition": {"SearchConditionGroup": {"Conditions": [{"DateSearchCondition": {"FieldName": "LastName"}}]}}}, "LastName"),
        (search_body("Between", "2026-07-01T00:00:00"), "Between"),
        (search_body("GreaterThanOrEqual", "yesterday"), "yesterday"),
        ({"SearchCondition": []}, "SearchCondition"),
    ],
)
def test_searches_the_simulator_cannot_answer_are_400_with_a_reason(client, body, message):
    response = client.post(f"/Generic/1/{STUDENT}/1/10", json=body)
    assert response.status_code == 400 and message in response.json()["Message"]


def test_condition_type_key_is_read_in_either_case():
    body = search_body("GreaterThanOrEqual", "2026-07-01T00:00:00")
    condition = body["SearchCondition"]["SearchConditionGroup"]["Conditions"][0]["DateSearchCondition"]
    condition["Conditiontype"] = condition.pop("ConditionType")
    assert parse_search(body, QmlativSettings()) is not None


# --- Changes between syncs ---------------------------------------------------------------------


def test_changes_show_in_listings_and_totals_and_reset_forgets_them(sim, client):
    gone, added = FIRST_ID[STUDENT] + 3, FIRST_ID[STUDENT] + 100_000
    winter = "2026-01-15T08:15:00"
    sim.apply_changes(
        [
            {"op": "remove", "object": STUDENT, "id": gone},
            {"op": "add", "object": STUDENT, "record": {"StudentID": added, "FirstName": "Ada", "LastName": "Lovelace"}},
            {"op": "update", "object": STUDENT, "id": gone + 1, "fields": {"ModifiedTime": winter}},
        ]
    )
    records = {r["StudentID"]: r for r in fetch_all(client, STUDENT, 500)[0]}
    assert gone not in records and records[added]["LastName"] == "Lovelace" and records[added]["CalculatedGrade"] is None
    assert records[gone + 1]["ModifiedTime"] == winter  # a wall-clock time set in winter reads back unchanged in summer
    assert sim.totals()[STUDENT] == STUDENTS
    sim.apply_changes([{"op": "restore", "object": STUDENT, "id": gone}])
    assert sim.totals()[STUDENT] == STUDENTS + 1
    assert sim.reset()[STUDENT] == STUDENTS


@pytest.mark.parametrize(
    "change, status",
    [
        ({"op": "update", "object": STUDENT, "id": 1, "fields": {"LastName": "X"}}, 404),
        ({"op": "update", "object": STUDENT, "id": FIRST_ID[STUDENT], "fields": {"StudentID": 7}}, 400),
        ({"op": "update", "object": STUDENT, "id": FIRST_ID[STUDENT], "fields": {"ShoeSize": 7}}, 400),
        ({"op": "add", "object": STUDENT, "record": {"StudentID": FIRST_ID[STUDENT]}}, 400),
        ({"op": "add", "object": STUDENT, "record": {"FirstName": "No id"}}, 400),
        ({"op": "remove", "object": "Student/Locker", "id": 1}, 404),
        ({"op": "explode", "object": STUDENT, "id": 1}, 400),
    ],
)
def test_bad_changes_are_refused_with_a_reason(sim, change, status):
    response = httpx.post(f"{sim.base_url}/admin/changes", json=[change])
    assert response.status_code == status and response.json()["error"] and response.json()["applied"] == 0


# --- Scale and lifecycle -----------------------------------------------------------------------


def test_a_million_students_cost_almost_no_memory():
    tracemalloc.start()
    roster = QmlativRoster(District(1_000_000), QmlativSettings())
    page = roster.page("Scheduling/StudentSection", 5_999_000, 1000)
    body = json.dumps({"Objects": page})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert roster.totals()["Scheduling/StudentSection"] == 6_000_000
    assert [page[0]["StudentSectionID"], page[-1]["StudentSectionID"]] == [
        FIRST_ID["Scheduling/StudentSection"] + 5_999_000, FIRST_ID["Scheduling/StudentSection"] + 5_999_999
    ]
    assert len(body) > 100_000
    assert peak < 20 * 1024 * 1024


def test_a_delta_after_the_generated_window_never_scans_generated_records(monkeypatch):
    settings = QmlativSettings()
    roster = QmlativRoster(District(1_000_000), settings)
    changed = FIRST_ID["Scheduling/StudentSection"] + 4_000_000
    roster.update("Scheduling/StudentSection", changed, {"EndDate": "2027-03-01T00:00:00"})

    def refuse_scan(*args):
        raise AssertionError("scanned generated timestamps")

    for generated in roster.generated.values():
        monkeypatch.setattr(generated, "modified_ms_array", refuse_scan)
    since = BASE_MODIFIED_END.astimezone(settings.zone).strftime("%Y-%m-%dT%H:%M:%S")
    page = roster.page("Scheduling/StudentSection", 0, 100, parse_search(search_body("GreaterThanOrEqual", since), settings))
    assert [(r["StudentSectionID"], r["EndDate"]) for r in page] == [(changed, "2027-03-01T00:00:00")]


def test_simulator_process_serves_qmlativ_with_its_settings():
    settings = QmlativSettings(client_id="proc-client", client_secret="proc-secret", max_page_size=5, timezone="Europe/Paris")
    with SimulatorProcess(700, kind="qmlativ", seed=3, settings=settings) as child:
        token = get_token(child).json()["access_token"]
        response = httpx.get(f"{child.base_url}/Generic/1/{STUDENT}/1/100", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200 and response.json()["Paging"]["PageSize"] == 5
        first = District(700, seed=3).students.record(0, "1.1")
        assert response.json()["Objects"][0]["FirstName"] == first["givenName"]
        assert response.json()["Objects"][0]["ModifiedTime"] == wall_clock(first["dateLastModified"], ZoneInfo("Europe/Paris"))
        assert child.update_settings()["timezone"] == "Europe/Paris"
        process = child._process
    assert process.poll() is not None
