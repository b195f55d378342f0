"""The PowerSchool simulator sends what a PowerSchool client must cope with, over real HTTP.

Most tests share one server with a 1,300-student district (three schools) on a free loopback
port, and read it the way a client would: tolerating a bare object where a list was expected.
"""

import json
import re
import time
import tracemalloc
from datetime import date

import httpx
import pytest

from sis_simulators import District, PowerSchoolRoster, PowerSchoolSettings, SimulatorProcess, SimulatorServer
from sis_simulators.powerschool.generated import dcid
from sis_simulators.powerschool.schema_tables import TABLES, change_filter, internal_id
from sis_simulators.powerschool.settings import runtime_setting_names
from sis_simulators.powerschool.wire import RESOURCES, list_body, render

STUDENTS = 1300
DEFAULT_RUNTIME_SETTINGS = {name: getattr(PowerSchoolSettings(), name) for name in runtime_setting_names()}
NAIVE_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}
# (path under a school, envelope key, record key, /admin/totals key of the sum over schools)
SCHOOL_LISTINGS = [
    ("student", "students", "student", "students"),
    ("section", "sections", "section", "sections"),
    ("staff", "staffs", "staff", "school_staff"),
    ("course", "courses", "course", "courses"),
    ("term", "terms", "term", "terms"),
]


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(STUDENTS, kind="powerschool") as running:
        yield running


@pytest.fixture
def sim(server):
    """The shared server, put back as generated with default settings after each test."""
    yield server
    server.reset()
    server.update_settings(**DEFAULT_RUNTIME_SETTINGS)


@pytest.fixture
def client(sim):
    token = request_token(sim).json()["access_token"]
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as authorised:
        yield authorised


def request_token(sim, secret: str | None = None, path: str = "/oauth/access_token") -> httpx.Response:
    credentials = (sim.client_id, secret or sim.client_secret)
    return httpx.post(f"{sim.base_url}{path}", data=CLIENT_CREDENTIALS, auth=credentials)


def as_list(value) -> list:
    """What a client must do with every PowerSchool list: absent, one bare object, or a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def get_json(client, path: str, **params) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def fetch_all(client, path: str, plural: str, singular: str, pagesize: int = 100, **params) -> list[dict]:
    """Page with page/pagesize until a short page, as PowerSchool sends no totals or links."""
    records, page = [], 1
    while True:
        response = client.get(path, params={"page": page, "pagesize": pagesize, **params})
        assert response.status_code == 200, response.text
        assert "Link" not in response.headers and "X-Total-Count" not in response.headers
        batch = as_list(response.json()[plural].get(singular))
        records.extend(batch)
        if len(batch) < pagesize:
            return records
        page += 1


def count(client, path: str) -> int:
    return get_json(client, f"{path}/count")["resource"]["count"]


def school_ids(client) -> list[int]:
    return [int(school["id"]) for school in fetch_all(client, "/ws/v1/district/school", "schools", "school")]


def schema_rows(client, table: str, **params) -> list[dict]:
    rows, page = [], 1
    while True:
        body = get_json(client, f"/ws/schema/table/{table}", page=page, pagesize=100, **params)
        assert body["name"] == table
        rows.extend(record["tables"][table] for record in body["record"])
        if len(body["record"]) < 100:
            return rows
        page += 1


# --- OAuth and access ---------------------------------------------------------------------------


def test_token_answers_expires_in_as_a_string_with_or_without_trailing_slash(sim):
    for path in ("/oauth/access_token", "/oauth/access_token/"):
        response = request_token(sim, path=path)
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "Bearer" and len(body["access_token"]) >= 32
        assert body["expires_in"] == "2592000"
    sim.update_settings(token_ttl=2504956)
    assert request_token(sim).json()["expires_in"] == "2504956"


def test_bad_credentials_and_missing_or_dead_tokens_answer_401(sim, client):
    wrong = request_token(sim, secret="not-the-secret")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert "not-the-secret" not in wrong.text
    form_only = httpx.post(f"{sim.base_url}/oauth/access_token", data={**CLIENT_CREDENTIALS, "client_id": sim.client_id,
                                                                         "client_secret": sim.client_secret})
    assert form_only.status_code == 401  # PowerSchool takes HTTP Basic credentials only

    url = f"{sim.base_url}/ws/v1/district/student"
    for headers in ({}, {"Authorization": "Bearer forged"}):
        refused = httpx.get(url, headers=headers)
        assert refused.status_code == 401 and refused.json()["message"]
    assert client.get(url).status_code == 200
    assert httpx.get(f"{sim.base_url}/ws/v1/time").status_code == 200  # the only call without a token

    assert sim.expire_tokens() >= 1
    assert client.get(url).status_code == 401


# --- Paging and counts --------------------------------------------------------------------------


def test_pagesize_is_capped_by_the_metadata_maximum(sim, client):
    metadata = get_json(client, "/ws/v1/metadata")["metadata"]
    for name in ("student", "section", "staff", "course", "term", "schema_table_query"):
        assert metadata[f"{name}_max_page_size"] == 100
    assert len(get_json(client, "/ws/v1/district/student", pagesize=1000)["students"]["student"]) == 100

    sim.update_settings(student_max_page_size=40)
    assert get_json(client, "/ws/v1/metadata")["metadata"]["student_max_page_size"] == 40
    second_page = get_json(client, "/ws/v1/district/student", page=2, pagesize=1000)["students"]["student"]
    assert len(second_page) == 40 and second_page[0]["id"] in (1_000_041, "1000041")
    assert client.get("/ws/v1/district/student", params={"pagesize": 0}).status_code == 400


def test_every_listing_serves_what_count_and_totals_say(sim, client):
    totals = sim.totals()
    assert totals["students"] == STUDENTS and totals["schools"] == 3 and totals["terms"] == 9

    students = fetch_all(client, "/ws/v1/district/student", "students", "student")
    assert len({int(student["id"]) for student in students}) == len(students) == STUDENTS
    assert count(client, "/ws/v1/district/student") == STUDENTS

    sums, staff_ids = dict.fromkeys([total for *_, total in SCHOOL_LISTINGS], 0), set()
    for school in school_ids(client):
        for path, plural, singular, total in SCHOOL_LISTINGS:
            records = fetch_all(client, f"/ws/v1/school/{school}/{path}", plural, singular, pagesize=50)
            assert len(records) == count(client, f"/ws/v1/school/{school}/{path}"), (school, path)
            sums[total] += len(records)
            if path == "staff":
                staff_ids.update(int(member["id"]) for member in records)
    assert sums == {total: totals[total] for total in sums}
    assert len(staff_ids) == totals["staff"] < totals["school_staff"]  # some teach at two schools

    sections = range(dcid("sections", 0), dcid("sections", totals["sections"]))
    enrolled = sum(count(client, f"/ws/v1/section/{section}/section_enrollment") for section in sections)
    assert enrolled == totals["section_enrollments"] == 6 * STUDENTS


def test_a_page_past_the_end_keeps_the_envelope_but_drops_the_list(client):
    past_the_end = get_json(client, "/ws/v1/district/student", page=99)
    assert past_the_end == {"students": {"@expansions": "demographics, addresses, phones, school_enrollment",
                                          "@extensions": "u_studentsuserfields"}}
    assert get_json(client, "/ws/v1/district/school", page=5) == {"schools": {}}


# --- Quirks -------------------------------------------------------------------------------------


def test_a_page_of_one_record_is_a_bare_object_unless_switched_off(sim, client):
    one = get_json(client, "/ws/v1/district/student", pagesize=1)["students"]["student"]
    last_school = get_json(client, "/ws/v1/district/school", page=2, pagesize=2)["schools"]["school"]
    assert isinstance(one, dict) and one["local_id"] == 10_000_000
    assert isinstance(last_school, dict) and last_school["school_number"] == 103
    assert isinstance(get_json(client, "/ws/v1/district/school", pagesize=2)["schools"]["school"], list)

    sim.update_settings(single_item_lists_as_objects=False)
    assert isinstance(get_json(client, "/ws/v1/district/student", pagesize=1)["students"]["student"], list)


def test_staff_with_one_school_carry_a_bare_affiliation_and_with_two_a_list(sim, client):
    school = school_ids(client)[1]
    params = {"expansions": "school_affiliations,emails"}
    staff = fetch_all(client, f"/ws/v1/school/{school}/staff", "staffs", "staff", **params)
    shapes = {type(member["school_affiliations"]["school_affiliation"]) for member in staff}
    assert shapes == {dict, list}
    for member in staff:
        affiliations = as_list(member["school_affiliations"]["school_affiliation"])
        assert school in {affiliation["school_id"] for affiliation in affiliations}
        assert member["emails"]["work_email"].endswith("@sim-district.example")

    sim.update_settings(single_item_lists_as_objects=False)
    staff = fetch_all(client, f"/ws/v1/school/{school}/staff", "staffs", "staff", **params)
    assert {type(member["school_affiliations"]["school_affiliation"]) for member in staff} == {list}


def test_empty_expansions_arrive_as_empty_strings_unless_switched_off(sim, client):
    params = {"expansions": "demographics,addresses,school_enrollment"}
    students = fetch_all(client, "/ws/v1/district/student", "students", "student", **params)
    assert {student["addresses"] for student in students} == {""}
    blank = [int(student["local_id"]) - 10_000_000 for student in students if student["demographics"] == ""]
    district = District(STUDENTS)
    assert blank and {district.demographics.record(index)["sex"] for index in blank} <= {"unspecified", "other"}
    recorded = [student["demographics"] for student in students if student["demographics"] != ""]
    assert {demographics["gender"] for demographics in recorded} == {"M", "F"}
    assert all(date.fromisoformat(demographics["birth_date"]) for demographics in recorded)
    assert "demographics" not in get_json(client, "/ws/v1/district/student", pagesize=5)["students"]["student"][0]

    sim.update_settings(empty_expansions_as_strings=False)
    student = get_json(client, "/ws/v1/district/student", pagesize=1, **params)["students"]["student"]
    assert student["addresses"] == {}


def test_ids_are_ints_except_every_seventh_record_unless_switched_off(sim, client):
    students = fetch_all(client, "/ws/v1/district/student", "students", "student")
    as_strings = [student for student in students if isinstance(student["id"], str)]
    assert as_strings and all(int(student["id"]) % 7 == 0 for student in as_strings)
    assert all(isinstance(student["local_id"], str) for student in as_strings)
    assert all(student["id"] % 7 for student in students if isinstance(student["id"], int))

    sim.update_settings(mixed_id_types=False)
    students = fetch_all(client, "/ws/v1/district/student", "students", "student")
    assert {type(student["id"]) for student in students} == {type(student["local_id"]) for student in students} == {int}


def test_extensions_arrive_as_table_extension_fields(client):
    students = fetch_all(client, "/ws/v1/district/student", "students", "student", extensions="u_studentsuserfields")
    languages = set()
    for student in students:
        extension = student["_extension_data"]["_table_extension"]
        assert extension["name"] == "u_studentsuserfields"
        fields = {field["name"]: field["value"] for field in as_list(extension["_field"])}
        languages.add(fields["preferred_language"])
    assert {"English", "Spanish"} <= languages
    assert "_extension_data" not in get_json(client, "/ws/v1/student/1000002")["student"]


def test_throttling_answers_429_with_retry_after(sim, client):
    sim.update_settings(min_request_interval=0.5)
    time.sleep(0.5)
    assert client.get("/ws/v1/district/school").status_code == 200
    throttled = client.get("/ws/v1/district/school")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json() == {"message": "Too many requests: wait 1 seconds"}
    assert sim.stats()["requests"]["throttled"] >= 1
    time.sleep(0.5)
    assert client.get("/ws/v1/district/school").status_code == 200

    sim.update_settings(min_request_interval=0)
    assert [client.get("/ws/v1/district/school").status_code for _ in range(3)] == [200, 200, 200]


# --- Changes and the schema-table delta ---------------------------------------------------------


def test_schema_table_delta_returns_only_changed_records_all_as_strings(sim, client):
    watermark = get_json(client, "/ws/v1/time")["time"]
    assert NAIVE_LOCAL.fullmatch(watermark)
    sim.apply_changes([
        {"op": "update", "table": "students", "id": 1_000_011, "fields": {"name": {"first_name": "Zoë"}}},
        {"op": "withdraw", "id": 1_000_022, "exit_date": "2026-11-02"},
    ])
    since = {"q": f"transaction_date=ge={watermark}", "projection": "*"}
    students = schema_rows(client, "students", **since)
    assert sorted(row["dcid"] for row in students) == ["1000011", "1000022"]
    assert get_json(client, "/ws/schema/table/students/count", q=since["q"]) == {"count": 2}
    assert all(isinstance(value, str) for row in students for value in row.values())
    by_id = {row["dcid"]: row for row in students}
    assert by_id["1000011"]["first_name"] == "Zoë" and by_id["1000011"]["last_name"]
    assert (by_id["1000022"]["enroll_status"], by_id["1000022"]["exitdate"]) == ("2", "2026-11-02")
    for changed in students:
        assert NAIVE_LOCAL.fullmatch(changed["transaction_date"]) and changed["transaction_date"] >= watermark
    # An in-place edit moves transaction_date only; a withdrawal moves both.
    assert by_id["1000011"]["whenmodified"] < watermark <= by_id["1000022"]["whenmodified"]

    dropped = schema_rows(client, "cc", **since)
    # cc refers to students and sections by their internal id, not the DCID
    assert len(dropped) == 6 and {row["studentid"] for row in dropped} == {str(internal_id(1_000_022))}
    assert all(row["sectionid"].startswith("-") and row["dateleft"] <= "2027-01-15" for row in dropped)
    assert schema_rows(client, "sections", **since) == []

    sim.update_settings(naive_local_timestamps=False, whenmodified_lags=False)
    tidy = {row["dcid"]: row for row in schema_rows(client, "students", **since)}
    assert tidy["1000011"]["transaction_date"].endswith("Z") and tidy["1000011"]["whenmodified"].endswith("Z")


def test_delta_inside_the_generated_window_matches_a_local_time_scan(client):
    everything = schema_rows(client, "students", projection="dcid,transaction_date")
    assert len(everything) == STUDENTS
    expected = sorted(row["dcid"] for row in everything if row["transaction_date"] >= "2026-07-20 00:00:00")
    changed = schema_rows(client, "students", projection="dcid", q="transaction_date=ge=2026-07-20")
    assert sorted(row["dcid"] for row in changed) == expected and 0 < len(expected) < STUDENTS


def test_tables_without_transaction_date_refuse_a_delta(client):
    for table in ("schools", "terms"):
        params = {"projection": "*", "q": "transaction_date=ge=2026-11-01"}
        refused = client.get(f"/ws/schema/table/{table}", params=params)
        assert refused.status_code == 400
        assert refused.json()["message"] == "Invalid field transaction_date"
        assert len(schema_rows(client, table, projection="*")) in (3, 9)
    unknown_column = client.get("/ws/schema/table/students", params={"projection": "dcid,shoe_size"})
    assert (unknown_column.status_code, unknown_column.json()["field"]) == (400, "shoe_size")
    assert client.get("/ws/schema/table/nonsense", params={"projection": "*"}).status_code == 404


def test_cc_holds_every_section_roster_by_internal_ids_with_drops_negated(sim, client):
    """cc is the whole district's section enrollments: each row is one /ws/v1 roster record, its student and
    section named by internal id (mapped to DCIDs through the students and sections tables)."""
    sim.apply_changes([{"op": "withdraw", "id": 1_000_022, "exit_date": "2026-11-02"}])
    student_dcid = {row["id"]: row["dcid"] for row in schema_rows(client, "students", projection="dcid,id")}
    section_dcid = {row["id"]: row["dcid"] for row in schema_rows(client, "sections", projection="dcid,id")}
    assert not set(student_dcid) & set(student_dcid.values())  # internal ids are never DCIDs
    columns = "dcid,id,studentid,sectionid,termid,dateenrolled,dateleft"
    assert get_json(client, "/ws/schema/table/cc/count") == {"count": STUDENTS * 6}
    from_cc = {}
    for row in schema_rows(client, "cc", projection=columns):
        dropped = row["sectionid"].startswith("-")
        assert row["termid"].startswith("-") == dropped  # PowerSchool negates both on a drop
        from_cc[row["dcid"]] = (section_dcid[row["sectionid"].lstrip("-")], student_dcid[row["studentid"]],
                                row["dateenrolled"], row["dateleft"], dropped)
    by_section = {}
    for section in section_dcid.values():
        roster = fetch_all(client, f"/ws/v1/section/{section}/section_enrollment", "section_enrollments", "section_enrollment")
        by_section.update((str(r["id"]), (str(r["section_id"]), str(r["student_id"]), r["entry_date"], r["exit_date"],
                                          r["dropped"])) for r in roster)
    assert from_cc == by_section
    assert sum(1 for record in from_cc.values() if record[4]) == 6


def test_a_plugin_without_schema_table_access_is_refused_403_there_and_served_elsewhere(sim, client):
    sim.update_settings(schema_table_access=False)
    for path in ("/ws/schema/table/students", "/ws/schema/table/students/count", "/ws/schema/table/cc"):
        refused = client.get(path, params={"projection": "dcid,transaction_date"})
        assert refused.status_code == 403, path
        assert refused.json() == {"message": "Request is for a resource the user is not allowed to access"}
    assert count(client, "/ws/v1/district/student") == STUDENTS  # /ws/v1 keeps working

    sim.update_settings(schema_table_access=True)
    assert get_json(client, "/ws/schema/table/students/count") == {"count": STUDENTS}


def test_withdraw_reid_remove_and_restore_show_everywhere(sim, client):
    sim.apply_changes([{"op": "withdraw", "id": 1_000_005, "exit_date": "2026-11-02", "enroll_status": "T"}])
    student = get_json(client, "/ws/v1/student/1000005", expansions="school_enrollment")["student"]
    withdrawn = student["school_enrollment"]
    assert withdrawn["enroll_status"] == "T" and withdrawn["enroll_status_code"] == 2
    assert withdrawn["exit_date"] == "2026-11-02"

    roster_path = "/ws/v1/section/300002/section_enrollment"
    roster = fetch_all(client, roster_path, "section_enrollments", "section_enrollment")
    old_id = int(roster[0]["student_id"])
    sim.apply_changes([{"op": "reid", "id": old_id, "new_id": 2_500_000}])
    assert client.get(f"/ws/v1/student/{old_id}").json() == {"message": "Record not found"}
    reborn = get_json(client, "/ws/v1/student/2500000")["student"]
    assert int(reborn["local_id"]) == 10_000_000 + old_id - 1_000_001
    roster = fetch_all(client, roster_path, "section_enrollments", "section_enrollment")
    assert int(roster[0]["student_id"]) == 2_500_000
    assert count(client, "/ws/v1/district/student") == STUDENTS

    sim.apply_changes([{"op": "remove", "table": "students", "id": 1_000_003}])
    assert client.get("/ws/v1/student/1000003").status_code == 404
    assert count(client, "/ws/v1/district/student") == sim.totals()["students"] == STUDENTS - 1
    sim.apply_changes([{"op": "restore", "table": "students", "id": 1_000_003}])
    assert count(client, f"/ws/v1/school/{school_ids(client)[0]}/student") == 434


def test_bad_changes_are_refused_with_a_reason(sim):
    changes_url = f"{sim.base_url}/admin/changes"
    refusals = {
        404: [{"op": "update", "table": "students", "id": 5, "fields": {}}],
        400: [
            {"op": "update", "table": "schools", "id": 2, "fields": {"name": "X"}},
            {"op": "rename", "table": "students", "id": 1_000_001},
            {"op": "add", "table": "students", "record": {"id": 1_000_001}},
            {"op": "reid", "id": 1_000_001, "new_id": 1_000_002},
            {"op": "withdraw", "id": 1_000_001, "exit_date": "soon"},
        ],
    }
    for status, changes in refusals.items():
        for change in changes:
            refused = httpx.post(changes_url, json=[change])
            assert refused.status_code == status, change
            assert refused.json()["error"]
    sim.apply_changes([{"op": "reid", "id": 1_000_001, "new_id": 2_600_000}])
    reuse = httpx.post(changes_url, json=[{"op": "add", "table": "students", "record": {"id": 1_000_001}}])
    assert reuse.status_code == 400 and "retired" in reuse.json()["error"]
    assert httpx.post(f"{sim.base_url}/admin/settings", json={"mixed_id_types": "sometimes"}).status_code == 400


# --- Shape of the district ----------------------------------------------------------------------


def test_one_school_one_student_district_arrives_as_bare_objects():
    with SimulatorServer(1, kind="powerschool") as tiny:
        token = request_token(tiny).json()["access_token"]
        with httpx.Client(base_url=tiny.base_url, headers={"Authorization": f"Bearer {token}"}) as client:
            school = get_json(client, "/ws/v1/district/school")["schools"]["school"]
            assert isinstance(school, dict) and school["id"] == 2
            for path in ("/ws/v1/district/student", "/ws/v1/school/2/student"):
                student = get_json(client, path, expansions="school_enrollment")["students"]["student"]
                assert isinstance(student, dict) and student["school_enrollment"]["school_id"] == 2
            staff = fetch_all(client, "/ws/v1/school/2/staff", "staffs", "staff", expansions="school_affiliations")
            assert all(isinstance(member["school_affiliations"]["school_affiliation"], dict) for member in staff)
            sections = fetch_all(client, "/ws/v1/school/2/section", "sections", "section")
            assert len(sections) == 6
            for section in sections:
                enrollment = get_json(client, f"/ws/v1/section/{section['id']}/section_enrollment")
                assert isinstance(enrollment["section_enrollments"]["section_enrollment"], dict)
            assert len(get_json(client, "/ws/schema/table/students", projection="dcid")["record"]) == 1
        assert tiny.totals() == {"schools": 1, "terms": 3, "courses": 12, "staff": 2, "sections": 6, "students": 1,
                                 "section_enrollments": 6, "school_staff": 2}


def _sample(seed: int) -> dict[str, list[dict]]:
    roster = PowerSchoolRoster(District(STUDENTS, seed=seed))
    return {table: roster.records(table, range(0, live.count(), 37)) for table, live in roster.tables.items()}


def test_same_seed_gives_the_same_district_as_the_oneroster_simulator():
    assert _sample(7) == _sample(7)
    assert _sample(7)["students"] != _sample(8)["students"]

    district = District(STUDENTS, seed=7)
    roster = PowerSchoolRoster(district)
    for index in range(0, STUDENTS, 53):
        student, user = roster.record_at("students", index), district.students.record(index)
        assert (student["local_id"], student["student_username"]) == (int(user["identifier"]), user["username"])
        assert student["name"]["last_name"] == user["familyName"]
        assert student["dateLastModified"] == user["dateLastModified"]
        enrollment = roster.record_at("section_enrollments", index * 6)
        section = district.enrollments.record(index * 6)["class"]["sourcedId"]
        assert enrollment["section_id"] - dcid("sections", 0) == int(section.removeprefix("cls-"))


def test_a_million_students_cost_almost_no_memory(monkeypatch):
    tracemalloc.start()
    roster = PowerSchoolRoster(District(1_000_000))
    _, students = roster.page("students", 999_900, 100)
    settings = PowerSchoolSettings()
    rendered = [render(RESOURCES["student"], student, settings, frozenset({"demographics"})) for student in students]
    body = json.dumps(list_body(RESOURCES["student"], rendered, settings))
    last_section = dcid("sections", roster.tables["sections"].count() - 1)
    enrollments = roster.records("section_enrollments", roster.section_members(str(last_section)))
    roster.withdraw(str(students[-1]["id"]), "2026-11-02")
    for table in roster.generated.values():
        monkeypatch.setattr(table, "modified_ms_array", lambda *args: pytest.fail("scanned generated timestamps"))
    since_november = change_filter(TABLES["students"], "transaction_date=ge=2026-11-01", settings)
    total, changed = roster.page("students", 0, 100, since_november)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert [students[0]["id"], students[-1]["id"]] == [dcid("students", 999_900), dcid("students", 999_999)]
    assert len(body) > 20_000 and 20 <= len(enrollments) <= 30
    assert total == 1 and changed[0]["school_enrollment"]["enroll_status"] == "T"
    assert peak < 20 * 1024 * 1024


def test_simulator_process_serves_powerschool_with_its_settings():
    settings = PowerSchoolSettings(client_id="ps-client", client_secret="ps-secret", student_max_page_size=7,
                                   mixed_id_types=False, timezone="America/New_York")
    with SimulatorProcess(700, kind="powerschool", seed=3, settings=settings) as child:
        token_response = httpx.post(child.token_url, data=CLIENT_CREDENTIALS, auth=("ps-client", "ps-secret"))
        token = token_response.json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        response = httpx.get(f"{child.base_url}/ws/v1/district/student", params={"pagesize": 50}, headers=bearer)
        students = response.json()["students"]["student"]
        expected = PowerSchoolRoster(District(700, seed=3)).records("students", range(7))
        assert students == [render(RESOURCES["student"], record, settings) for record in expected]
        assert httpx.get(f"{child.base_url}/ws/v1/time").json()["timezone"] == "America/New_York"
        assert child.totals()["students"] == 700
        process = child._process
    assert process.poll() is not None
