"""OneRoster records (REST 1.1/1.2, and any dialect mapped onto them) as canonical frames."""

from collections.abc import Mapping

import pandas as pd
import pyarrow as pa

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize import values as v
from sis_pipeline.normalize.normalizer import Normalizer
from sis_pipeline.normalize.records import REF, REFS, fields
from sis_pipeline.normalize.related import Related, by_id_of, joined, once_per

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


def school_of_person(raw: pd.DataFrame) -> pd.Series:
    """1.2 `primaryOrg`, else the primary role's org (1.2), else the first of `orgs` (1.1)."""
    school = v.text(v.column(raw, "primaryOrg.sourcedId"))
    return school.fillna(primary_role(v.column(raw, "roles"), "org")).fillna(v.first_field(v.column(raw, "orgs"), "sourcedId"))


def first_grade(series: pd.Series) -> pd.Series:
    return v.grade(series.map(lambda grades: next(iter(v.items(grades)), None)))


def lowered(series: pd.Series) -> pd.Series:
    return v.text(series).str.lower()


_RECORD = {
    "source_id": (v.text, "sourcedId"),
    "status": (v.status, "status"),
    "source_updated_at": (v.utc_timestamp, "dateLastModified"),
}
_PERSON_COLUMNS = {
    "first_name": (v.text, "givenName"),
    "middle_name": (v.text, "middleName"),
    "last_name": (v.text, "familyName"),
    "email": (v.text, "email"),
    "username": (v.text, "username"),
    "enabled": (v.boolean, "enabledUser"),
    "legacy_source_id": (v.text, "metadata.ic.legacysourceId"),
}
# canonical column -> (conversion, field path in the OneRoster record); columns needing more than one
# field (a person's school, a teacher's role, a student's demographics) are `derived` below.
COLUMNS = {
    "schools": {
        "name": (v.text, "name"),
        "school_number": (v.text, "identifier"),
        "school_type": (v.text, "type"),
        "parent_source_id": (v.text, "parent.sourcedId"),
    },
    "terms": {
        "title": (v.text, "title"),
        "term_type": (v.text, "type"),
        "start_date": (v.iso_date, "startDate"),
        "end_date": (v.iso_date, "endDate"),
        "school_year": (v.text, "schoolYear"),
        "parent_source_id": (v.text, "parent.sourcedId"),
    },
    "courses": {
        "title": (v.text, "title"),
        "course_code": (v.text, "courseCode"),
        "school_source_id": (v.text, "org.sourcedId"),
        "grades": (v.joined, "grades"),
    },
    "sections": {
        "title": (v.text, "title"),
        "section_code": (v.text, "classCode"),
        "class_type": (v.text, "classType"),
        "course_source_id": (v.text, "course.sourcedId"),
        "school_source_id": (v.text, "school.sourcedId"),
        "term_source_ids": (ref_ids, "terms"),
        "periods": (v.joined, "periods"),
    },
    "students": {
        **_PERSON_COLUMNS,
        "student_number": (v.text, "identifier"),
        "state_id": (lambda ids: user_id_of_type(ids, "stateId"), "userIds"),
        "preferred_first_name": (v.text, "preferredFirstName"),
        "grade_level": (first_grade, "grades"),
    },
    "teachers": {**_PERSON_COLUMNS, "staff_number": (v.text, "identifier")},
    "enrollments": {
        "section_source_id": (v.text, "class.sourcedId"),
        "user_source_id": (v.text, "user.sourcedId"),
        "school_source_id": (v.text, "school.sourcedId"),
        "role": (lowered, "role"),
        "is_primary": (v.boolean, "primary"),
        "begin_date": (v.iso_date, "beginDate"),
        "end_date": (v.iso_date, "endDate"),
    },
}


def _people(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> dict:
    return {"school_source_id": school_of_person(raw)}


def _teachers(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> dict:
    role = v.text(v.column(raw, "role")).fillna(primary_role(v.column(raw, "roles"), "role")).fillna("teacher")
    return _people(raw, records, integration) | {"role": role}


def _students(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> dict:
    """A student's birth date and sex are on the demographics record that shares the student's sourcedId."""
    demographics = records["demographics"]
    born = once_per(demographics, "born", lambda: by_id_of(demographics, lambda part: (
        v.text(v.column(part, "sourcedId")),
        {"birth_date": v.iso_date(v.column(part, "birthDate")), "sex": lowered(v.column(part, "sex"))},
    )))
    student = joined(v.text(v.column(raw, "sourcedId")), born)
    return _people(raw, records, integration) | {"birth_date": v.text(student["birth_date"]), "sex": v.text(student["sex"])}


class OneRosterNormalizer(Normalizer):
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
    columns = {entity: {**_RECORD, **entity_columns} for entity, entity_columns in COLUMNS.items()}
    derived = {"students": _students, "teachers": _teachers}
    related = {"students": (Related("demographics", ("birth_date", "sex"), (v.text, "sourcedId"), (v.text, "sourcedId")),)}
