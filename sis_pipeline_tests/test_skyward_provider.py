"""Skyward through both of its APIs, against the simulators over HTTP and through the whole asset graph.

`api: oneroster` (SMS 2.0) runs against the unchanged OneRoster simulator mounted under `/api`,
where Skyward serves it; `api: qmlativ` against the Qmlativ Generic API simulator.
"""

import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import orjson
import pandas as pd
import pytest
import yaml
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.routing import Mount

from sis_pipeline.config import ConfigError, IntegrationConfig, load_config
from sis_pipeline.normalize.models import ENTITIES, columns
from sis_pipeline.normalize.records import read_records
from sis_pipeline.providers.oneroster.client import Endpoint
from sis_pipeline.providers.oneroster.normalize import OneRosterNormalizer
from sis_pipeline.providers.skyward import SkywardProvider
from sis_pipeline.providers.skyward.client import SmsOneRosterApi, token_expired
from sis_pipeline.providers.skyward.normalize import QmlativNormalizer, id_text, sex
from sis_simulators import SimulatorServer, SimulatorSettings
from sis_simulators.qmlativ import QmlativSettings
from sis_simulators.qmlativ.objects import FIRST_ID
from sis_simulators.qmlativ.settings import runtime_setting_names
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES
from sis_pipeline_tests.helpers import expected_totals, extras, qmlativ_totals, warehouse_counts

STUDENTS = 650
CHICAGO = ZoneInfo("America/Chicago")
DEFAULT_QMLATIV_SETTINGS = {name: getattr(QmlativSettings(), name) for name in runtime_setting_names()}
STUDENT = "Student/Student"
def credentials() -> dict:
    return {"client_id": "skyward-test-client", "client_secret": f"secret-{uuid.uuid4().hex}"}


@pytest.fixture(scope="module")
def qmlativ_server():
    with SimulatorServer(STUDENTS, kind="qmlativ", settings=QmlativSettings(**credentials())) as running:
        yield running


@pytest.fixture
def qmlativ(qmlativ_server):
    qmlativ_server.reset()
    yield qmlativ_server
    qmlativ_server.reset()
    qmlativ_server.update_settings(**DEFAULT_QMLATIV_SETTINGS)


@pytest.fixture(scope="module")
def sms_server():
    """The OneRoster simulator where Skyward SMS 2.0 serves it: under /api (and at the root for /admin)."""
    server = SimulatorServer(STUDENTS, settings=SimulatorSettings(**credentials()))
    oneroster = server.app
    server.app = Starlette(routes=[Mount("/api", app=oneroster), *oneroster.routes])
    server.app.state.simulator = oneroster.state.simulator
    with server:
        yield server


@pytest.fixture
def skyward_config(tmp_path, monkeypatch):
    """Write an integrations.yaml with one Skyward integration and put its credentials in the environment."""

    def write(sim, api: str, **fields) -> str:
        monkeypatch.setenv("SKYWARD_CLIENT_ID", sim.client_id)
        monkeypatch.setenv("SKYWARD_CLIENT_SECRET", sim.client_secret)
        entry = {
            "name": "springfield",
            "provider": "skyward",
            "base_url": sim.base_url,
            "client_id_env": "SKYWARD_CLIENT_ID",
            "client_secret_env": "SKYWARD_CLIENT_SECRET",
            "page_size": 200,
            "requests_per_minute": 60_000,  # the default 80 would make every test crawl
            "timezone": "America/Chicago",
            **fields,
            "options": {"api": api, **fields.get("options", {})},
        }
        path = tmp_path / "integrations.yaml"
        path.write_text(yaml.safe_dump({"integrations": [entry]}))
        return path

    return write


def open_provider(config_path) -> SkywardProvider:
    return SkywardProvider(load_config(config_path).integration("springfield"))


def source_updated_at(url: str, entity: str, source_id: str) -> datetime:
    engine = create_warehouse_engine(url)
    table = ENTITY_TABLES[entity]
    with engine.connect() as conn:
        value = conn.execute(select(table.c.source_updated_at).where(table.c.source_id == source_id)).scalar_one()
    engine.dispose()
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite hands UTC back without its zone


# --- Configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, field, words",
    [
        ({}, "options.api", "'oneroster' (SMS 2.0) or 'qmlativ'"),
        ({"api": "lms"}, "options.api", "'oneroster' (SMS 2.0) or 'qmlativ'"),
        ({"api": "oneroster", "entity_id": 1}, "options", "unknown option(s) entity_id"),
        ({"api": "oneroster", "version": "1.2"}, "options", "unknown option(s) version"),
        ({"api": "qmlativ", "scope": "roster"}, "options", "unknown option(s) scope"),
        ({"api": "qmlativ", "entity_id": 0}, "options.entity_id", "positive integer"),
        ({"api": "qmlativ", "credentials_in": "header"}, "options.credentials_in", "'basic'"),
        ({"api": "oneroster", "credentials_in": "header"}, "options.credentials_in", "'basic'"),
    ],
)
def test_config_refuses_what_skyward_cannot_use_naming_the_field(tmp_path, monkeypatch, options, field, words):
    monkeypatch.setenv("SKY_ID", "id")
    monkeypatch.setenv("SKY_SECRET", "secret")
    entry = {
        "name": "skyward", "provider": "skyward", "base_url": "https://sis.example.org",
        "client_id_env": "SKY_ID", "client_secret_env": "SKY_SECRET", "options": options,
    }
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump({"integrations": [entry]}))
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert f"field {field!r}" in str(refused.value) and words in str(refused.value)


@pytest.mark.parametrize("base_url", ["https://sis.example.org", "https://sis.example.org/api"])
def test_sms_reads_oneroster_1_1_under_api_with_its_token_beside_it(base_url):
    skyward = IntegrationConfig(
        name="skyward", provider="skyward", base_url=base_url, client_id_env="A", client_secret_env="B",
        options={"api": "oneroster", "credentials_in": "form"},
    )
    assert SmsOneRosterApi.endpoint(skyward) == Endpoint(
        version="1.1",
        service_root="https://sis.example.org/api/ims/oneroster/v1p1",
        token_url="https://sis.example.org/api/oauth/token",
        credentials_in="form",
    )
    elsewhere = skyward.model_copy(update={"token_url": "https://login.example.org/token"})
    assert SmsOneRosterApi.endpoint(elsewhere).token_url == "https://login.example.org/token"


@pytest.mark.parametrize("api, server, path", [("qmlativ", "qmlativ", "Generic/1/District/SchoolYear/1/1"), ("oneroster", "sms_server", "terms")])
def test_skyward_makes_at_most_80_requests_a_minute_unless_told_otherwise(request, skyward_config, api, server, path):
    sim = request.getfixturevalue(server)
    provider = open_provider(skyward_config(sim, api, requests_per_minute=None, page_size=1))
    started = time.monotonic()
    try:
        pages = provider.iter_pages("schools")  # a token request, then pages of one school
        next(pages), next(pages)
        provider.api.client.get(path)
    finally:
        provider.close()
    assert time.monotonic() - started > 1.4  # three API requests, 0.75 s apart (unthrottled they take milliseconds)


# --- api: qmlativ over HTTP --------------------------------------------------------------------


@pytest.mark.parametrize("expired_status", [403, 401])
def test_an_expired_token_is_refreshed_once_and_the_request_replayed(qmlativ, skyward_config, expired_status):
    qmlativ.update_settings(expired_token_status=expired_status)
    provider = open_provider(skyward_config(qmlativ, "qmlativ", page_size=500))
    pages = provider.iter_pages("enrollments")
    try:
        ids = [record["StudentSectionID"] for record in next(pages)]
        qmlativ.expire_tokens()  # the server stops honouring the token between two pages
        ids += [record.get("StudentSectionID") for page in pages for record in page]
    finally:
        provider.close()
    assert len(ids) == qmlativ_totals(qmlativ)["enrollments"]
    assert provider.api.client.auth.refreshes == 2
    assert provider.api.client.stats.retries == 0


def test_only_an_expired_token_is_worth_a_new_one():
    assert token_expired(httpx.Response(403, json={"Message": "Token has expired"}))
    assert token_expired(httpx.Response(401, text=""))
    assert not token_expired(httpx.Response(403, json={"Message": "This user may not read Student/Student"}))


def test_pages_are_asked_for_with_the_fields_the_normaliser_reads_and_the_districts_extra_fields(qmlativ, skyward_config):
    extra_fields = {"students": {"name": "NameID"}, "sections": {"lunch": "LunchPeriod.Code"}}
    provider = open_provider(skyward_config(qmlativ, "qmlativ", options={"extra_fields": extra_fields}))
    try:
        students = next(provider.iter_pages("students"))
        sections = provider.api.fields_to_ask("classes", "Scheduling/Section")
        teachers_of_record = provider.api.fields_to_ask("enrollments", "Scheduling/Section")
    finally:
        provider.close()
    assert set(students[0]) == set(QmlativNormalizer.schemas["students"].names)
    assert sections == [*QmlativNormalizer.schemas["classes"].names, "LunchPeriod"]
    assert "LunchPeriod" not in teachers_of_record


def test_delta_asks_for_records_modified_since_the_watermark_on_the_districts_wall_clock(qmlativ, skyward_config):
    changed = FIRST_ID[STUDENT] + 9
    qmlativ.apply_changes([{"op": "update", "object": STUDENT, "id": changed, "fields": {"LastName": "Changed"}}])
    watermark = datetime.now(UTC) - timedelta(minutes=5)
    provider = open_provider(skyward_config(qmlativ, "qmlativ"))
    try:
        delta = [record for page in provider.iter_pages("students", since=watermark) for record in page]
        body = provider.api.modified_since(datetime(2026, 11, 1, 7, 30, tzinfo=UTC))  # 01:30 CST, the hour after DST ends
    finally:
        provider.close()
    assert [(r["StudentID"], r["LastName"]) for r in delta] == [(changed, "Changed")]
    condition = body["SearchCondition"]["SearchConditionGroup"]["Conditions"][0]["DateSearchCondition"]
    # 01:30 happened twice that night: ask from the first 01:30 so nothing in the repeated hour is missed
    assert (condition["ConditionType"], condition["Value"]) == ("GreaterThanOrEqual", "2026-11-01T01:30:00")


# --- Through the asset graph ------------------------------------------------------------------


def test_qmlativ_sync_loads_the_simulators_totals_and_a_resync_writes_nothing(qmlativ, skyward_config, sync, warehouse_url):
    config = skyward_config(qmlativ, "qmlativ")
    totals = qmlativ_totals(qmlativ)

    first = sync(config, warehouse_url)
    assert first["status"] == "success", first
    assert list(first["entities"]) == ENTITIES
    assert {e: (c["fetched"], c["inserted"], c["rejected"]) for e, c in first["entities"].items()} == {
        e: (n, n, 0) for e, n in totals.items()
    }
    assert warehouse_counts(warehouse_url) == totals

    second = sync(config, warehouse_url)
    assert second["status"] == "success", second
    assert {e: (c["inserted"], c["updated"], c["archived"]) for e, c in second["entities"].items()} == dict.fromkeys(totals, (0, 0, 0))


def test_sms_oneroster_sync_loads_the_simulators_totals_and_a_resync_writes_nothing(sms_server, skyward_config, sync, warehouse_url):
    sms_server.reset()
    config = skyward_config(sms_server, "oneroster", page_size=100)
    totals = expected_totals(sms_server)

    first = sync(config, warehouse_url)
    assert first["status"] == "success", first
    assert {e: (c["fetched"], c["inserted"], c["rejected"]) for e, c in first["entities"].items()} == {
        e: (n, n, 0) for e, n in totals.items()
    }
    assert warehouse_counts(warehouse_url) == totals

    second = sync(config, warehouse_url)
    assert {e: (c["inserted"], c["updated"], c["archived"]) for e, c in second["entities"].items()} == dict.fromkeys(totals, (0, 0, 0))


def test_modified_time_round_trips_to_the_same_wall_clock_across_a_dst_change(qmlativ, skyward_config, sync, warehouse_url):
    before, after = FIRST_ID[STUDENT] + 1, FIRST_ID[STUDENT] + 2
    stamps = {before: "2026-03-07T08:15:00", after: "2026-03-09T08:15:00"}  # DST starts on 8 March 2026
    qmlativ.apply_changes([{"op": "update", "object": STUDENT, "id": i, "fields": {"ModifiedTime": t}} for i, t in stamps.items()])
    assert sync(skyward_config(qmlativ, "qmlativ"), warehouse_url)["status"] == "success"

    stored = {i: source_updated_at(warehouse_url, "students", str(i)) for i in stamps}
    assert stored[before] == datetime(2026, 3, 7, 14, 15, tzinfo=UTC)  # CST, UTC-6
    assert stored[after] == datetime(2026, 3, 9, 13, 15, tzinfo=UTC)  # CDT, UTC-5
    assert {i: s.astimezone(CHICAGO).strftime("%Y-%m-%dT%H:%M:%S") for i, s in stored.items()} == stamps


def test_extra_fields_land_in_the_extra_column(qmlativ, skyward_config, sync, sqlite_url):
    extra_fields = {"students": {"name_id": "NameID"}, "sections": {"course": "CourseID"}}
    assert sync(skyward_config(qmlativ, "qmlativ", options={"extra_fields": extra_fields}), sqlite_url)["status"] == "success"
    first_student = qmlativ.district.teacher_count + FIRST_ID["Demographics/Name"]  # names list staff first
    assert extras(sqlite_url, "students")[str(FIRST_ID[STUDENT])] == {"name_id": first_student}
    assert extras(sqlite_url, "sections")[str(FIRST_ID["Scheduling/Section"])] == {"course": FIRST_ID["Scheduling/Course"]}


def test_a_removed_student_is_archived_with_their_classes(qmlativ, skyward_config, sync, sqlite_url):
    config = skyward_config(qmlativ, "qmlativ")
    assert sync(config, sqlite_url)["status"] == "success"
    gone = 7
    qmlativ.apply_changes(
        [{"op": "remove", "object": STUDENT, "id": FIRST_ID[STUDENT] + gone}]
        + [{"op": "remove", "object": "Scheduling/StudentSection", "id": FIRST_ID["Scheduling/StudentSection"] + gone * 6 + k} for k in range(6)]
    )
    withdrawn = sync(config, sqlite_url)
    assert (withdrawn["entities"]["students"]["archived"], withdrawn["entities"]["enrollments"]["archived"]) == (1, 6)
    assert warehouse_counts(sqlite_url, active_only=True) == qmlativ_totals(qmlativ)


# --- The Qmlativ normaliser --------------------------------------------------------------------


def test_the_configured_api_picks_the_normaliser():
    def integration(api):
        return IntegrationConfig(name="s", provider="skyward", base_url="https://sis.example.org", options={"api": api})

    assert isinstance(SkywardProvider.normalizer_for(integration("qmlativ")), QmlativNormalizer)
    assert isinstance(SkywardProvider.normalizer_for(integration("oneroster")), OneRosterNormalizer)


def test_integer_ids_become_canonical_strings_even_with_gaps():
    assert id_text(pd.Series([12, None, 3_000_001], dtype="float64")).tolist() == ["12", None, "3000001"]
    assert id_text(pd.Series(["12", 7, None], dtype=object)).tolist() == ["12", "7", None]


def test_gender_codes_read_as_oneroster_sex():
    assert sex(pd.Series(["F", "m", "X", "U", "Female", "N", None])).tolist() == [
        "female", "male", "other", "unspecified", "female", "n", None
    ]


def test_qmlativ_records_normalise_to_canonical_rows(tmp_path):
    integration = IntegrationConfig(
        name="springfield", provider="skyward", base_url="https://sis.example.org", client_id_env="A",
        client_secret_env="B", timezone="America/Chicago", options={"api": "qmlativ"},
    )
    raw = {
        "students": [
            {"StudentID": 31, "NameID": 7, "StudentNumber": "1001", "FirstName": "Zoë", "LastName": "O'Brien",
             "CalculatedGrade": "K", "CalculatedStudentStateID": "TX123", "ModifiedTime": "2026-07-12T08:15:00"},
        ],
        "demographics": [{"NameID": 7, "BirthDate": "2020-09-02T00:00:00", "Gender": "F"}],
        "entryWithdrawals": [
            {"EntryWithdrawalID": 1, "StudentID": 31, "EntityID": 2, "StartDate": "2025-08-15T00:00:00", "IsNoShow": False},
            {"EntryWithdrawalID": 2, "StudentID": 31, "EntityID": 3, "StartDate": "2026-08-15T00:00:00", "IsNoShow": False},
            {"EntryWithdrawalID": 3, "StudentID": 31, "EntityID": 4, "StartDate": "2026-09-01T00:00:00", "IsNoShow": True},
        ],
        "enrollments": [
            {"StudentSectionID": 900, "StudentID": 31, "SectionID": 55, "StartDate": "2026-08-15T00:00:00", "EndDate": None},
            {"SectionID": 55, "EntityID": 3, "StaffIDCurrentStoredPrimary": 12, "ModifiedTime": "2026-07-01T00:00:00"},
        ],
        "classes": [{"SectionID": 55, "EntityID": 3, "CourseID": 8, "Code": "ALG1-001", "SchoolYearID": 1}],
    }
    records = {}
    for name, rows in raw.items():
        path = tmp_path / f"{name}.ndjson"
        path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
        records[name] = read_records(str(path), QmlativNormalizer.schemas[name])
    normalizer = QmlativNormalizer()

    students = normalizer.normalize("students", records, integration)
    assert list(students.columns) == columns("students")
    expected = {
        "source_id": "31", "status": "active", "source_updated_at": pd.Timestamp("2026-07-12T13:15:00Z"),
        "first_name": "Zoë", "middle_name": None, "last_name": "O'Brien", "student_number": "1001", "state_id": "TX123",
        "school_source_id": "3", "birth_date": "2020-09-02", "sex": "female", "grade_level": "KG",
    }
    assert {name: students.iloc[0][name] for name in expected} == expected

    enrollments = normalizer.normalize("enrollments", records, integration)
    assert enrollments[["source_id", "user_source_id", "section_source_id", "school_source_id", "role", "begin_date"]].values.tolist() == [
        ["900", "31", "55", "3", "student", "2026-08-15"],
        ["teacher-55", "12", "55", "3", "teacher", None],
    ]
    assert enrollments["is_primary"].tolist() == [pd.NA, True]


def test_an_empty_delivery_normalises_to_an_empty_canonical_frame():
    integration = IntegrationConfig(name="springfield", provider="skyward", options={"api": "qmlativ"})
    empty = pd.DataFrame(index=pd.RangeIndex(0))
    for entity in ENTITIES:
        frame = QmlativNormalizer().normalize(entity, dict.fromkeys(QmlativNormalizer.sources[entity], empty), integration)
        assert list(frame.columns) == columns(entity) and frame.empty
