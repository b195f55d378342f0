"""OneRoster records as providers really send them → canonical rows, and the reasons bad rows are kept aside."""

import orjson
import pandas as pd

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize.records import read_records
from sis_pipeline.normalize.validate import validate
from sis_pipeline.providers.oneroster.normalize import SCHEMAS, OneRosterNormalizer

INTEGRATION = IntegrationConfig(
    name="springfield", provider="oneroster", base_url="https://sis.example.org/ims/oneroster/v1p1",
    token_url="https://sis.example.org/token", client_id_env="A", client_secret_env="B",
)


def ndjson(tmp_path, name, records):
    path = tmp_path / f"{name}.ndjson"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return str(path)


def frames(tmp_path, **collections):
    return {name: read_records(ndjson(tmp_path, name, records), SCHEMAS[name]) for name, records in collections.items()}


STUDENT_11 = {
    "sourcedId": "s1", "status": "active", "dateLastModified": "2026-09-01T12:00:00.000Z", "enabledUser": True,
    "givenName": "Zoë", "familyName": "O'Brien-Nguyễn", "identifier": "100234", "role": "student",
    "userIds": [{"type": "district", "identifier": "D1"}, {"type": "stateId", "identifier": "CA123"}],
    "orgs": [{"href": "x", "sourcedId": "sch-1", "type": "org"}], "grades": ["K"],
}
STUDENT_12 = {
    "sourcedId": "s2", "status": "inactive", "dateLastModified": "2026-09-01T12:00:00Z", "enabledUser": "false",
    "givenName": "Ana", "familyName": "Lopez", "preferredFirstName": "Annie",
    "roles": [{"roleType": "secondary", "role": "student", "org": {"sourcedId": "sch-9"}},
              {"roleType": "primary", "role": "student", "org": {"sourcedId": "sch-2"}}],
    "grades": ["09"],
}


def test_students_from_both_versions_with_demographics(tmp_path):
    # 1.1 sends JSON booleans, 1.2 strings; a provider may mix them across records
    raw = frames(
        tmp_path,
        students=[STUDENT_11, STUDENT_12],
        demographics=[{"sourcedId": "s1", "status": "active", "birthDate": "2020-03-04", "sex": "Female"}],
    )
    frame = OneRosterNormalizer().normalize("students", raw, INTEGRATION)
    rows = frame.set_index("source_id").to_dict("index")
    assert rows["s1"]["state_id"] == "CA123" and rows["s1"]["school_source_id"] == "sch-1"
    assert rows["s1"]["grade_level"] == "KG" and rows["s1"]["enabled"] is True
    assert (rows["s1"]["birth_date"], rows["s1"]["sex"]) == ("2020-03-04", "female")
    assert rows["s1"]["last_name"] == "O'Brien-Nguyễn"
    assert rows["s2"]["school_source_id"] == "sch-2" and rows["s2"]["status"] == "tobedeleted"
    assert rows["s2"]["enabled"] is False and rows["s2"]["preferred_first_name"] == "Annie"
    assert rows["s2"]["birth_date"] is None
    valid, reasons = validate("students", frame)
    assert len(valid) == 2 and reasons.empty


def test_a_provider_with_numeric_ids_falls_back_to_the_python_reader(tmp_path):
    raw = frames(tmp_path, schools=[{"sourcedId": 17, "status": "active", "name": "Lincoln"}, {"sourcedId": "18", "status": "active", "name": "Adams"}])
    frame = OneRosterNormalizer().normalize("schools", raw, INTEGRATION)
    assert frame["source_id"].tolist() == ["17", "18"]


def test_bad_rows_are_rejected_with_reasons_naming_column_and_value(tmp_path):
    base = {"status": "active", "dateLastModified": "2026-09-01T12:00:00.000Z", "role": "student",
            "user": {"sourcedId": "u"}, "class": {"sourcedId": "c"}}
    raw = frames(tmp_path, enrollments=[
        {**base, "sourcedId": "e1", "beginDate": "2026-08-15"},
        {**base, "sourcedId": "e2", "beginDate": "2026-02-30"},
        {**base, "sourcedId": "e3", "role": "guardian"},
        {**base, "sourcedId": "e4", "status": None},
        {**base, "sourcedId": "e5", "user": {}},
    ])
    frame = OneRosterNormalizer().normalize("enrollments", raw, INTEGRATION)
    valid, reasons = validate("enrollments", frame)
    assert valid["source_id"].tolist() == ["e1"]
    by_id = dict(zip(frame.loc[reasons.index, "source_id"], reasons))
    assert "begin_date" in by_id["e2"] and "2026-02-30" in by_id["e2"]
    assert "role" in by_id["e3"] and "guardian" in by_id["e3"]
    assert "status" in by_id["e4"]
    assert "user_source_id" in by_id["e5"]


def test_sections_join_their_terms_and_periods(tmp_path):
    raw = frames(tmp_path, classes=[{
        "sourcedId": "c1", "status": "active", "title": "Algebra I", "course": {"sourcedId": "crs"},
        "school": {"sourcedId": "sch"}, "terms": [{"sourcedId": "t1"}, {"sourcedId": "t2"}], "periods": ["1", "2"],
    }])
    row = OneRosterNormalizer().normalize("sections", raw, INTEGRATION).iloc[0]
    assert (row["term_source_ids"], row["periods"], row["course_source_id"]) == ("t1,t2", "1,2", "crs")
    assert pd.isna(row["section_code"])
