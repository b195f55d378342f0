"""OneRoster records (REST 1.1/1.2, and any dialect mapped onto them) as canonical frames."""

from collections.abc import Mapping

import pandas as pd

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize import values as v
from sis_pipeline.normalize.models import columns


def flatten(records: list[dict]) -> pd.DataFrame:
    """One column per top-level field; read nested values with `values.column(frame, "ref.sourcedId")`."""
    return pd.DataFrame.from_records(records) if records else pd.DataFrame(index=pd.RangeIndex(0))


def ref_ids(series: pd.Series) -> pd.Series:
    """A list of refs (`[{sourcedId: ...}, ...]`) as a comma-separated string of their ids."""
    return v.text(series.map(lambda refs: ",".join(str(r.get("sourcedId", "")) for r in refs if isinstance(r, dict)) if isinstance(refs, list) else None))


def first_ref_id(series: pd.Series) -> pd.Series:
    return v.text(series.map(lambda refs: refs[0].get("sourcedId") if isinstance(refs, list) and refs and isinstance(refs[0], dict) else None))


def primary_role(series: pd.Series, field: str) -> pd.Series:
    """From 1.2 `roles[]`, the primary role's `field` (`role` or the org's sourcedId)."""

    def pick(roles):
        if not isinstance(roles, list):
            return None
        chosen = next((r for r in roles if isinstance(r, dict) and r.get("roleType") == "primary"), None)
        chosen = chosen or next((r for r in roles if isinstance(r, dict)), None)
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
    sources = {
        "schools": ("schools",),
        "terms": ("academicSessions",),
        "courses": ("courses",),
        "sections": ("classes",),
        "students": ("students", "demographics"),
        "teachers": ("teachers",),
        "enrollments": ("enrollments",),
    }

    def normalize(self, entity: str, records: Mapping[str, list[dict]], integration: IntegrationConfig) -> pd.DataFrame:
        own = flatten(records[self.sources[entity][0]])
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
        frame["grade_level"] = v.grade(v.column(raw, "grades").str[0])
        demographics = flatten(records.get("demographics", []))
        by_id = pd.DataFrame(
            {
                "birth_date": v.iso_date(v.column(demographics, "birthDate")).values,
                "sex": v.text(v.column(demographics, "sex")).str.lower().values,
            },
            index=v.text(v.column(demographics, "sourcedId")).values,
        )
        by_id = by_id[~by_id.index.duplicated(keep="last")]
        frame["birth_date"] = by_id["birth_date"].reindex(frame["source_id"]).values
        frame["sex"] = by_id["sex"].reindex(frame["source_id"]).values
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
