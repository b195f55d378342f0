"""The OneRoster simulator behaves like a provider a district sync must cope with.

Almost everything runs against a real server on a free loopback port with a 1,300-student
district (three schools), over real HTTP.
"""

import json
import re
import socket
import threading
import time
import tracemalloc
from collections import Counter, defaultdict
from datetime import date

import httpx
import pytest

from sis_simulators import (
    BASE_MODIFIED_END,
    VIEWS,
    District,
    RosterOverlay,
    SimulatorProcess,
    SimulatorServer,
    SimulatorSettings,
    parse_filter,
)

STUDENTS = 1300
AFTER_BASE = "2026-11-01T00:00:00.000Z"
LINK_NEXT = re.compile(r'<([^>]+)>; rel="next"')
CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(STUDENTS) as running:
        yield running


@pytest.fixture
def sim(server):
    """The shared server, put back as generated with default settings after each test."""
    yield server
    server.reset()
    server.update_settings(paging_headers="all", default_limit=100, max_limit=10_000, token_ttl=3600)


@pytest.fixture
def client(sim):
    token = basic_token(sim.token_url, sim.client_id, sim.client_secret).json()["access_token"]
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as authorised:
        yield authorised


def basic_token(token_url: str, client_id: str, client_secret: str) -> httpx.Response:
    return httpx.post(token_url, data=CLIENT_CREDENTIALS, auth=(client_id, client_secret))


def fetch(client, sim, path, version="1.2", **params) -> httpx.Response:
    return client.get(f"{sim.oneroster_root(version)}/{path}", params=params)


def list_all(client, sim, path, version="1.2", **params) -> list[dict]:
    response = fetch(client, sim, path, version, limit=10_000, **params)
    assert response.status_code == 200, response.text
    records = next(iter(response.json().values()))
    assert len(records) == int(response.headers["X-Total-Count"])
    return records


def imsx_code_minor(response: httpx.Response) -> str:
    return response.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]


# --- OAuth 2.0 client credentials -------------------------------------------------------------


def test_token_issued_for_basic_auth_and_for_form_credentials(sim):
    issued_before = sim.stats()["tokens_issued"]
    basic = basic_token(sim.token_url, sim.client_id, sim.client_secret)
    form = httpx.post(sim.token_url, data={**CLIENT_CREDENTIALS, "client_id": sim.client_id, "client_secret": sim.client_secret})

    for response in (basic, form):
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 3600
        assert len(body["access_token"]) >= 32
    assert basic.json()["access_token"] != form.json()["access_token"]
    assert sim.stats()["tokens_issued"] == issued_before + 2


def test_token_refused_for_wrong_secret_or_grant(sim):
    wrong_basic = basic_token(sim.token_url, sim.client_id, "not-the-secret")
    wrong_form = httpx.post(sim.token_url, data={**CLIENT_CREDENTIALS, "client_id": sim.client_id, "client_secret": "nope"})
    wrong_grant = httpx.post(sim.token_url, data={"grant_type": "password"}, auth=(sim.client_id, sim.client_secret))

    assert (wrong_basic.status_code, wrong_basic.json()["error"]) == (401, "invalid_client")
    assert (wrong_form.status_code, wrong_form.json()["error"]) == (401, "invalid_client")
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "unsupported_grant_type")
    assert "not-the-secret" not in wrong_basic.text


def test_api_needs_a_valid_unexpired_bearer_token(sim, client):
    url = f"{sim.oneroster_root()}/users"
    missing = httpx.get(url)
    forged = httpx.get(url, headers={"Authorization": "Bearer forged"})
    assert (missing.status_code, imsx_code_minor(missing)) == (401, "unauthorisedrequest")
    assert (forged.status_code, imsx_code_minor(forged)) == (401, "unauthorisedrequest")
    assert client.get(url).status_code == 200

    sim.update_settings(token_ttl=1)
    short_lived = basic_token(sim.token_url, sim.client_id, sim.client_secret).json()
    assert short_lived["expires_in"] == 1
    bearer = {"Authorization": f"Bearer {short_lived['access_token']}"}
    assert httpx.get(url, headers=bearer).status_code == 200
    time.sleep(1.05)
    assert httpx.get(url, headers=bearer).status_code == 401

    assert sim.expire_tokens() >= 1
    assert client.get(url).status_code == 401


# --- Paging -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, limit", [("users", 300), ("enrollments", 1000), ("classes", 100), ("schools", 1)])
def test_following_link_next_visits_every_record_exactly_once(sim, client, path, limit):
    url, seen, pages = f"{sim.oneroster_root()}/{path}?limit={limit}", [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        total = int(response.headers["X-Total-Count"])
        assert 'rel="last"' in response.headers["Link"]
        seen.extend(record["sourcedId"] for record in next(iter(response.json().values())))
        next_link = LINK_NEXT.search(response.headers["Link"])
        url, pages = next_link and next_link.group(1), pages + 1

    assert len(seen) == len(set(seen)) == total == sim.totals()[path]
    assert pages == -(-total // limit)


def test_every_collection_lists_what_totals_count(sim, client):
    totals = sim.totals()
    for collection in VIEWS:
        assert len(list_all(client, sim, collection)) == totals[collection], collection
    assert totals["students"] == STUDENTS
    assert totals["schools"] == 3 and totals["orgs"] == 4
    assert totals["terms"] == 2 and totals["academicSessions"] == 3
    assert totals["users"] == totals["students"] + totals["teachers"]
    assert totals["enrollments"] == 6 * STUDENTS + totals["classes"]
    assert totals["demographics"] == STUDENTS


def test_paging_headers_can_be_switched_off(sim, client):
    sim.update_settings(paging_headers="none")
    bare = fetch(client, sim, "users", limit=500)
    assert "X-Total-Count" not in bare.headers and "Link" not in bare.headers

    # Without headers a client loops until a short page, and still gets every record.
    ids, offset = [], 0
    while True:
        page = fetch(client, sim, "users", limit=500, offset=offset).json()["users"]
        ids.extend(user["sourcedId"] for user in page)
        offset += 500
        if len(page) < 500:
            break
    assert len(set(ids)) == len(ids) == sim.totals()["users"]

    sim.update_settings(paging_headers="total_only")
    total_only = fetch(client, sim, "users", limit=500)
    assert total_only.headers["X-Total-Count"] == str(len(ids)) and "Link" not in total_only.headers
    sim.update_settings(paging_headers="link_only")
    assert "X-Total-Count" not in fetch(client, sim, "users", limit=500).headers


def test_fields_parameter_selects_fields(sim, client):
    users = fetch(client, sim, "users", limit=3, fields="sourcedId,givenName").json()["users"]
    assert [sorted(user) for user in users] == [["givenName", "sourcedId"]] * 3


def test_limit_defaults_to_100_and_is_capped(sim, client):
    assert len(fetch(client, sim, "enrollments").json()["enrollments"]) == 100
    sim.update_settings(max_limit=250)
    capped = fetch(client, sim, "enrollments", limit=5000)
    assert len(capped.json()["enrollments"]) == 250
    assert "limit=250" in LINK_NEXT.search(capped.headers["Link"]).group(1)
    assert fetch(client, sim, "enrollments", limit=0).status_code == 400


# --- Determinism and referential integrity ----------------------------------------------------


def _sample(district: District) -> dict[str, list[dict]]:
    return {
        name: [collection.record(i, version) for i in range(0, collection.count(), 97) for version in ("1.1", "1.2")]
        for name, collection in district.collections.items()
    }


def _first_names(district: District) -> list[tuple[str, str]]:
    return [(user["givenName"], user["familyName"]) for user in (district.students.record(i) for i in range(50))]


def test_same_seed_gives_the_same_district_and_another_seed_differs():
    assert _sample(District(STUDENTS, seed=7)) == _sample(District(STUDENTS, seed=7))
    seven, eight = District(STUDENTS, seed=7), District(STUDENTS, seed=8)
    assert _first_names(seven) != _first_names(eight)
    assert seven.enrollments.count() == eight.enrollments.count()


def test_roster_is_referentially_whole(sim, client):
    users = {user["sourcedId"]: user for user in list_all(client, sim, "users", "1.1")}
    classes = {section["sourcedId"]: section for section in list_all(client, sim, "classes")}
    courses = {course["sourcedId"] for course in list_all(client, sim, "courses")}
    schools = {school["sourcedId"] for school in list_all(client, sim, "schools")}
    terms = {term["sourcedId"] for term in list_all(client, sim, "terms")}
    enrollments = list_all(client, sim, "enrollments")

    student_classes, teachers_per_class = defaultdict(list), Counter()
    for enrollment in enrollments:
        user, section = users[enrollment["user"]["sourcedId"]], classes[enrollment["class"]["sourcedId"]]
        assert enrollment["school"]["sourcedId"] == section["school"]["sourcedId"] == user["orgs"][0]["sourcedId"]
        assert enrollment["role"] == user["role"]
        assert enrollment["beginDate"] < enrollment["endDate"]
        if enrollment["role"] == "student":
            student_classes[user["sourcedId"]].append(section["sourcedId"])
        else:
            assert enrollment["primary"] == "true"
            teachers_per_class[section["sourcedId"]] += 1

    students = [sid for sid, user in users.items() if user["role"] == "student"]
    assert len(students) == STUDENTS
    assert all(len(student_classes[sid]) == len(set(student_classes[sid])) == 6 for sid in students)
    assert set(teachers_per_class) == set(classes) and set(teachers_per_class.values()) == {1}
    assert all(section["course"]["sourcedId"] in courses for section in classes.values())
    assert all(section["school"]["sourcedId"] in schools for section in classes.values())
    assert all(term["sourcedId"] in terms for section in classes.values() for term in section["terms"])
    assert {demographics["sourcedId"] for demographics in list_all(client, sim, "demographics")} == set(students)


def test_demographics_agree_with_the_student():
    district = District(STUDENTS)
    early = {"PK": -1, "KG": 0}
    for index in range(0, STUDENTS, 7):
        student, demographics = district.students.record(index), district.demographics.record(index)
        assert demographics["sourcedId"] == student["sourcedId"]
        assert demographics["sex"] in ("male", "female", "unspecified", "other")
        grade = student["grades"][0]
        grade_number = early[grade] if grade in early else int(grade)
        born = date.fromisoformat(demographics["birthDate"])
        age_on_1_september = 2026 - born.year - ((born.month, born.day) > (9, 1))
        assert age_on_1_september == grade_number + 5, (grade, demographics["birthDate"])


def test_names_carry_accents_apostrophes_and_hyphens():
    district = District(STUDENTS)
    students = [district.students.record(i) for i in range(STUDENTS)]
    names = [f"{student['givenName']} {student['familyName']}" for student in students]
    assert any(not name.isascii() for name in names)
    assert any("'" in name for name in names)
    assert any("-" in name for name in names)
    assert len(set(names)) > 500
    usernames = [student["username"] for student in students]
    assert len(set(usernames)) == STUDENTS and all(username.isascii() for username in usernames)


# --- Versions, single records and errors -------------------------------------------------------


def test_user_shape_follows_the_version(sim, client):
    v11 = fetch(client, sim, "users/stu-0000005", "1.1").json()["user"]
    v12 = fetch(client, sim, "users/stu-0000005", "1.2").json()["user"]

    assert v11["role"] == "student" and "roles" not in v11
    assert v11["orgs"][0]["href"] == "/ims/oneroster/v1p1/orgs/sch-0000000"
    assert "role" not in v12 and "orgs" not in v12
    assert v12["roles"] == [{"roleType": "primary", "role": "student", "org": v12["primaryOrg"]}]
    assert v12["primaryOrg"]["href"] == "/ims/oneroster/rostering/v1p2/orgs/sch-0000000"
    assert v11["userIds"] == v12["userIds"] and v11["userIds"][0]["type"] == "stateId"
    assert v11["enabledUser"] == "true" and v11["grades"][0] in ("PK", "KG", "01", "02", "03", "04", "05")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", v11["dateLastModified"])
    assert None not in v11.values() and None not in v12.values()


def test_single_records_come_in_their_envelope(sim, client):
    expected = {
        "orgs/dst-0000000": "org", "schools/sch-0000001": "org", "academicSessions/sy-0000000": "academicSession",
        "terms/trm-0000001": "academicSession", "courses/crs-0000003": "course", "classes/cls-0000010": "class",
        "teachers/tch-0000002": "user", "students/stu-0000002": "user", "enrollments/enr-0000042": "enrollment",
        "demographics/stu-0000002": "demographics",
    }
    for path, key in expected.items():
        response = fetch(client, sim, path)
        assert response.status_code == 200, path
        assert response.json()[key]["sourcedId"] == path.split("/")[1]
    assert fetch(client, sim, "schools", limit=10).json()["orgs"][0]["type"] == "school"
    assert {term["type"] for term in fetch(client, sim, "terms").json()["academicSessions"]} == {"semester"}


def test_unknown_ids_and_collections_answer_404_unknownobject(sim, client):
    for path in ("users/stu-9999999", "students/tch-0000001", "users/stu-5", "classes/nope", "nonsense"):
        response = fetch(client, sim, path)
        assert response.status_code == 404, path
        assert response.json()["imsx_codeMajor"] == "failure"
        assert imsx_code_minor(response) == "unknownobject"


# --- Changes between syncs and delta filters ---------------------------------------------------


def test_delta_filter_returns_only_changed_records(sim, client):
    sim.apply_changes([
        {"op": "update", "collection": "users", "sourcedId": "stu-0000010", "fields": {"givenName": "Zoë"}},
        {"op": "update", "collection": "users", "sourcedId": "tch-0000003", "fields": {"middleName": None}},
        {"op": "tobedeleted", "collection": "enrollments", "sourcedId": "enr-0000100"},
    ])
    changed_users = fetch(client, sim, "users", filter=f"dateLastModified>'{AFTER_BASE}'")
    assert changed_users.headers["X-Total-Count"] == "2"
    users = {user["sourcedId"]: user for user in changed_users.json()["users"]}
    assert set(users) == {"stu-0000010", "tch-0000003"}
    assert users["stu-0000010"]["givenName"] == "Zoë" and "middleName" not in users["tch-0000003"]
    assert users["stu-0000010"]["dateLastModified"] > AFTER_BASE

    both = f"dateLastModified>='{BASE_MODIFIED_END.isoformat()}' AND status='tobedeleted'"
    tobedeleted = fetch(client, sim, "enrollments", filter=both).json()["enrollments"]
    assert [enrollment["sourcedId"] for enrollment in tobedeleted] == ["enr-0000100"]
    assert fetch(client, sim, "classes", filter=f"dateLastModified>'{AFTER_BASE}'").json()["classes"] == []


def test_filter_inside_the_generated_window_matches_a_full_scan(sim, client):
    sim.apply_changes([{"op": "remove", "collection": "enrollments", "sourcedId": "enr-0000003"}])
    cutoff = "2026-07-20T00:00:00.000Z"
    everything = list_all(client, sim, "enrollments")
    expected = [e["sourcedId"] for e in everything if e["dateLastModified"] >= cutoff]

    first = fetch(client, sim, "enrollments", filter=f"dateLastModified>='{cutoff}'", limit=400)
    second = fetch(client, sim, "enrollments", filter=f"dateLastModified>='{cutoff}'", limit=400, offset=400)
    assert int(first.headers["X-Total-Count"]) == len(expected) > 800
    got = [e["sourcedId"] for e in first.json()["enrollments"] + second.json()["enrollments"]]
    assert got == expected[:800]
    assert "filter=" in LINK_NEXT.search(first.headers["Link"]).group(1)


def test_unsupported_filter_field_answers_400_invalid_filter_field(sim, client):
    response = fetch(client, sim, "users", filter="givenName='Zoë'")
    assert response.status_code == 400
    assert imsx_code_minor(response) == "invalid_filter_field"
    assert fetch(client, sim, "users", filter="dateLastModified>'yesterday'").status_code == 400


def test_remove_restore_tobedeleted_and_add_show_in_listings_and_totals(sim, client):
    before = sim.totals()
    sim.apply_changes([
        {"op": "remove", "collection": "users", "sourcedId": "stu-0000001"},
        {"op": "tobedeleted", "collection": "classes", "sourcedId": "cls-0000004"},
        {"op": "add", "collection": "users", "record": {"sourcedId": "stu-new-1", "role": "student", "familyName": "O'Neill"}},
        {"op": "add", "collection": "users", "record": {"sourcedId": "tch-new-1", "roles": [{"roleType": "primary", "role": "teacher"}]}},
    ])
    after = sim.totals()
    assert after["students"] == before["students"] and after["teachers"] == before["teachers"] + 1
    assert after["users"] == before["users"] + 1 and after["classes"] == before["classes"]

    students = [user["sourcedId"] for user in list_all(client, sim, "students")]
    assert "stu-0000001" not in students and students[-1] == "stu-new-1"
    assert fetch(client, sim, "users/stu-0000001").status_code == 404
    assert list_all(client, sim, "teachers")[-1]["sourcedId"] == "tch-new-1"
    section = fetch(client, sim, "classes/cls-0000004").json()["class"]
    assert section["status"] == "tobedeleted" and section["dateLastModified"] > AFTER_BASE
    assert fetch(client, sim, "users/stu-new-1").json()["user"]["status"] == "active"

    sim.apply_changes([{"op": "restore", "collection": "users", "sourcedId": "stu-0000001"}])
    assert sim.totals()["students"] == before["students"] + 1
    first_three = fetch(client, sim, "students", limit=3).json()["users"]
    assert [user["sourcedId"] for user in first_three] == ["stu-0000000", "stu-0000001", "stu-0000002"]


def test_bad_changes_are_refused_with_a_reason(sim):
    changes_url = f"{sim.base_url}/admin/changes"
    unknown = {"op": "update", "collection": "users", "sourcedId": "stu-9999999", "fields": {}}
    refused = httpx.post(changes_url, json=[unknown])
    assert refused.status_code == 404 and "stu-9999999" in refused.json()["error"]
    duplicate = {"op": "add", "collection": "users", "record": {"sourcedId": "stu-0000000", "role": "student"}}
    assert httpx.post(changes_url, json=[duplicate]).status_code == 400
    assert httpx.post(changes_url, json=[{"op": "rename", "collection": "users", "sourcedId": "stu-0000000"}]).status_code == 400
    assert httpx.post(f"{sim.base_url}/admin/settings", json={"paging_headers": "sometimes"}).status_code == 400


def test_stats_count_requests_per_path(sim, client):
    before = sim.stats()["requests"]
    fetch(client, sim, "users", limit=1)
    fetch(client, sim, "users/stu-0000000", "1.1")
    after = sim.stats()["requests"]
    list_path, record_path = "/ims/oneroster/rostering/v1p2/users", "/ims/oneroster/v1p1/users/{sourcedId}"
    assert after[list_path] == before.get(list_path, 0) + 1
    assert after[record_path] == before.get(record_path, 0) + 1


# --- Scale and lifecycle -----------------------------------------------------------------------


def test_a_million_students_costs_almost_no_memory():
    tracemalloc.start()
    roster = RosterOverlay(District(1_000_000))
    total, page = roster.page("enrollments", 5_999_000, 1000, "1.2")
    body = json.dumps({"enrollments": page})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert total == 6_000_000 + roster.district.section_count
    assert [page[0]["sourcedId"], page[-1]["sourcedId"]] == ["enr-5999000", "enr-5999999"]
    assert len(body) > 400_000
    assert peak < 20 * 1024 * 1024


def test_delta_filter_after_the_base_window_never_scans_generated_records(monkeypatch):
    roster = RosterOverlay(District(1_000_000))
    roster.update("enrollments", "enr-4000000", {"endDate": "2027-03-01"})

    def refuse_scan(*args):
        raise AssertionError("scanned generated timestamps")

    for collection in roster.district.collections.values():
        monkeypatch.setattr(collection, "modified_ms_array", refuse_scan)
    total, page = roster.page("enrollments", 0, 100, "1.2", parse_filter(f"dateLastModified>'{AFTER_BASE}'"))
    assert total == 1 and page[0]["endDate"] == "2027-03-01"


def test_server_frees_its_port_and_thread_on_exit():
    threads_before = threading.active_count()
    with SimulatorServer(50, settings=SimulatorSettings(client_id="lead", client_secret="s3cret")) as small:
        port = int(small.base_url.rsplit(":", 1)[1])
        assert small.totals()["students"] == 50
        assert basic_token(small.token_url, "lead", "s3cret").status_code == 200
        assert small.state.tokens.issued == 1
    assert threading.active_count() == threads_before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_simulator_process_serves_from_a_child_process():
    settings = SimulatorSettings(client_id="proc-client", client_secret="proc-secret", paging_headers="total_only")
    with SimulatorProcess(700, seed=3, settings=settings) as child:
        token = basic_token(child.token_url, "proc-client", "proc-secret").json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        response = httpx.get(f"{child.oneroster_root('1.1')}/students", params={"limit": 5}, headers=bearer)
        assert response.status_code == 200
        assert response.headers["X-Total-Count"] == "700" and "Link" not in response.headers
        assert response.json()["users"] == [District(700, seed=3).students.record(i, "1.1") for i in range(5)]
        process = child._process
    assert process.poll() is not None
