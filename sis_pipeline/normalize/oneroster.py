"""OneRoster records (REST 1.1/1.2, and any dialect mapped onto them) as canonical frames."""

from collections.abc import Mapping

import pandas as pd
import pyarrow as pa

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize import values as v
from sis_pipeline.normalize.models import columns
from sis_pipeline.normalize.records import REF, REFS, fields

STRINGS = pa.list_(pa.string())
_PERSON = {
    "givenName": pa.string(),
    "familyName": pa.string(),
    "middleName": pa.string(),
    "preferredFirstName": pa.string(),
    "identifier": pa.string(),
    "username": pa.string(),
    "email": pa.string(),
    "role": pa.string(),
    "orgs": REFS,
    "primaryOrg": REF,
    "roles": pa.list_(pa.struct([("roleType", pa.string()), ("role", pa.string()), ("org", REF)])),
    "userIds": pa.list_(pa.struct([("type", pa.string()), ("identifier", pa.string())])),
    "grades": STRINGS,
}
# What each collection's records must look like; undeclared fields are read too, with inferred types.
SCHEMAS = {
    "schools": fields(name=pa.string(), identifier=pa.string(), type=pa.string(), parent=REF),
    "academicSessions": fields(
        title=pa.string(), type=pa.string(), startDate=pa.string(), endDate=pa.string(), schoolYear=pa.string(), parent=REF
    ),
    "courses": fields(title=pa.string(), courseCode=pa.string(), org=REF, grades=STRINGS),
    "classes": fields(
        title=pa.string(), classCode=pa.string(), classType=pa.string(), course=REF, school=REF, terms=REFS, periods=STRINGS
    ),
    "students": fields(**_PERSON),
    "teachers": fields(**_PERSON),
    "enrollments": fields(role=pa.string(), user=REF, school=REF, beginDate=pa.string(), endDate=pa.string(), **{"class": REF}),
    "demographics": fields(birthDate=pa.string(), sex=pa.string()),
}


def ref_ids(series: pd.Series) -> pd.Series:
    """A list of refs (`[{sourcedId: ...}, ...]`) as a comma-separated string of their ids."""
    return v.text(series.map(lambda refs: ",".join(str(r.get("sourcedId", "")) for r in v.items(refs) if isinstance(r, dict)) or None))


def first_ref_id(series: pd.Series) -> pd.Series:
    return v.text(series.map(lambda refs: next((r.get("sourcedId") for r in v.items(refs) if isinstance(r, dict)), None)))


def primary_role(series: pd.Series, field: str) -> pd.Series:
    """From 1.2 `roles[]`, the primary role's `field` (`role` or the org's sourcedId)."""

    def pick(roles):
        roles = [r for r in v.items(roles) if isinstance(r, dict)]
        chosen = next((r for r in roles if r.get("roleType") == "primary"), roles[0] if roles else None)
        if chosen is None:
            return None
        value = chosen.get(field)
        return value.get("sourcedId") if isinstance(value, dict) else value

    return v.text(series.map(pick))


def user_id_of_type(series: pd.Series, wanted: str) -> pd.Series:
    """The `identifier` of the first `userIds[]` entry whose type matches (case-insensitive)."""
    exploded = series.explode().dropna()
    exploded = exploded[exploded.map(lambda item: isinstance(item, dict))]
    if exploded.empty:
        return pd.Series(None, index=series.index, dtype=object)
    ids = pd.json_normalize(exploded.tolist()).set_index(exploded.index)
    if "type" not in ids or "identifier" not in ids:
        return pd.Series(None, index=series.index, dtype=object)
    matching = ids[ids["type"].astype(str).str.lower() == wanted.lower()]
    first = matching[~matching.index.duplicated()]["identifier"]
    return v.text(first.reindex(series.index))


def _base(raw: pd.DataFrame, integration: IntegrationConfig) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "integration": integration.name,
            "source_id": v.text(v.column(raw, "sourcedId")),
            "status": v.status(v.column(raw, "status")),
            "source_updated_at": v.utc_timestamp(v.column(raw, "dateLastModified")),
        },
        index=raw.index,
    )


def _person(raw: pd.DataFrame, integration: IntegrationConfig) -> pd.DataFrame:
    frame = _base(raw, integration)
    frame["first_name"] = v.text(v.column(raw, "givenName"))
    frame["middle_name"] = v.text(v.column(raw, "middleName"))
    frame["last_name"] = v.text(v.column(raw, "familyName"))
    frame["email"] = v.text(v.column(raw, "email"))
    frame["username"] = v.text(v.column(raw, "username"))
    school = v.text(v.column(raw, "primaryOrg.sourcedId"))
    school = school.fillna(primary_role(v.column(raw, "roles"), "org")).fillna(first_ref_id(v.column(raw, "orgs")))
    frame["school_source_id"] = school
    frame["enabled"] = v.boolean(v.column(raw, "enabledUser"))
    return frame


class OneRosterNormalizer:
    schemas = SCHEMAS
    sources = {
        "schools": ("schools",),
        "terms": ("academicSessions",),
        "courses": ("courses",),
        "sections": ("classes",),
        "students": ("students", "demographics"),
        "teachers": ("teachers",),
        "enrollments": ("enrollments",),
    }

    def normalize(self, entity: str, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> pd.DataFrame:
        own = records[self.sources[entity][0]]
        frame = getattr(self, f"_{entity}")(own, records, integration)
        return frame[columns(entity)]

    def _schools(self, raw, records, integration):
        frame = _base(raw, integration)
        frame["name"] = v.text(v.column(raw, "name"))
        frame["school_number"] = v.text(v.column(raw, "identifier"))
        frame["school_type"] = v.text(v.column(raw, "type"))
        frame["parent_source_id"] = v.text(v.column(raw, "parent.sourcedId"))
        return frame

    def _terms(self, raw, records, integration):
        frame = _base(raw, integration)
        frame["title"] = v.text(v.column(raw, "title"))
        frame["term_type"] = v.text(v.column(raw, "type"))
        frame["start_date"] = v.iso_date(v.column(raw, "startDate"))
        frame["end_date"] = v.iso_date(v.column(raw, "endDate"))
        frame["school_year"] = v.text(v.column(raw, "schoolYear"))
        frame["parent_source_id"] = v.text(v.column(raw, "parent.sourcedId"))
        return frame

    def _courses(self, raw, records, integration):
        frame = _base(raw, integration)
        frame["title"] = v.text(v.column(raw, "title"))
        frame["course_code"] = v.text(v.column(raw, "courseCode"))
        frame["school_source_id"] = v.text(v.column(raw, "org.sourcedId"))
        frame["grades"] = v.joined(v.column(raw, "grades"))
        return frame

    def _sections(self, raw, records, integration):
        frame = _base(raw, integration)
        frame["title"] = v.text(v.column(raw, "title"))
        frame["section_code"] = v.text(v.column(raw, "classCode"))
        frame["class_type"] = v.text(v.column(raw, "classType"))
        frame["course_source_id"] = v.text(v.column(raw, "course.sourcedId"))
        frame["school_source_id"] = v.text(v.column(raw, "school.sourcedId"))
        frame["term_source_ids"] = ref_ids(v.column(raw, "terms"))
        frame["periods"] = v.joined(v.column(raw, "periods"))
        return frame

    def _students(self, raw, records, integration):
        frame = _person(raw, integration)
        frame["student_number"] = v.text(v.column(raw, "identifier"))
        frame["state_id"] = user_id_of_type(v.column(raw, "userIds"), "stateId")
        frame["preferred_first_name"] = v.text(v.column(raw, "preferredFirstName"))
        frame["grade_level"] = v.grade(v.column(raw, "grades").map(lambda grades: next(iter(v.items(grades)), None)))
        demographics = records["demographics"]
        by_id = pd.DataFrame(
            {
                "birth_date": v.iso_date(v.column(demographics, "birthDate")).values,
                "sex": v.text(v.column(demographics, "sex")).str.lower().values,
            },
            index=v.text(v.column(demographics, "sourcedId")).values,
        )
        by_id = by_id[~by_id.index.duplicated(keep="last")]
        for name in ("birth_date", "sex"):
            frame[name] = v.text(pd.Series(by_id[name].reindex(frame["source_id"]).values, index=frame.index))
        return frame

    def _teachers(self, raw, records, integration):
        frame = _person(raw, integration)
        frame["staff_number"] = v.text(v.column(raw, "identifier"))
        frame["role"] = v.text(v.column(raw, "role")).fillna(primary_role(v.column(raw, "roles"), "role")).fillna("teacher")
        return frame

    def _enrollments(self, raw, records, integration):
        frame = _base(raw, integration)
        frame["section_source_id"] = v.text(v.column(raw, "class.sourcedId"))
        frame["user_source_id"] = v.text(v.column(raw, "user.sourcedId"))
        frame["school_source_id"] = v.text(v.column(raw, "school.sourcedId"))
        frame["role"] = v.text(v.column(raw, "role")).str.lower()
        frame["is_primary"] = v.boolean(v.column(raw, "primary"))
        frame["begin_date"] = v.iso_date(v.column(raw, "beginDate"))
        frame["end_date"] = v.iso_date(v.column(raw, "endDate"))
        return frame
