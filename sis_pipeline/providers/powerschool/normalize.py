"""PowerSchool records (already in one shape, see quirks.py) as canonical frames."""

from collections.abc import Mapping

import pandas as pd
import pyarrow as pa

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize import values as v
from sis_pipeline.normalize.normalizer import Normalizer
from sis_pipeline.normalize.records import fields
from sis_pipeline.normalize.related import Related, by_id, by_id_of, joined, once_per

S = pa.string()
NAME = pa.struct([("first_name", S), ("middle_name", S), ("last_name", S)])
SCHEMAS = {
    "schools": fields(id=S, name=S, school_number=S),
    "terms": fields(id=S, school_id=S, name=S, start_date=S, end_date=S),
    "courses": fields(id=S, school_id=S, course_number=S, course_name=S),
    "sections": fields(id=S, school_id=S, course_id=S, term_id=S, section_number=S, expression=S, staff_id=S),
    "students": fields(
        id=S, local_id=S, state_province_id=S, student_username=S, name=NAME,
        demographics=pa.struct([("gender", S), ("birth_date", S)]),
        school_enrollment=pa.struct([("enroll_status", S), ("school_id", S), ("entry_date", S), ("exit_date", S)]),
    ),
    "student_changes": fields(id=S, transaction_date=S),
    "staff": fields(id=S, local_id=S, name=NAME, emails=pa.struct([("work_email", S)])),
    "section_enrollments": fields(
        id=S, section_id=S, student_id=S, staff_id=S, role=S, entry_date=S, exit_date=S
    ),
}
ENROLL_STATUS = {"A": "active", "P": "pre-registered", "T": "transferred", "G": "graduated", "H": "inactive", "I": "inactive"}
TERM_TYPES = {"1": "schoolYear", "2": "semester", "3": "trimester", "4": "quarter"}
SEX = {"m": "male", "f": "female"}


def school_scoped(school: pd.Series, local: pd.Series) -> pd.Series:
    """Term ids repeat in every school (3600 is each school's year): prefix the school to make them keys."""
    return v.text(school) + "-" + v.text(local)


def term_type(series: pd.Series) -> pd.Series:
    return v.text(series).map(TERM_TYPES)


def sex(series: pd.Series) -> pd.Series:
    return v.text(series).str.lower().map(SEX)


def enrollment_status(series: pd.Series) -> pd.Series:
    return v.text(series).str.upper().map(ENROLL_STATUS)


def enrollment_role(series: pd.Series) -> pd.Series:
    """Section enrollments are students' unless marked (teachers of record, see client.py)."""
    return v.text(series).fillna("student")


_RECORD = {"source_id": (v.text, "id"), "status": "active"}
_NAME = {
    "first_name": (v.text, "name.first_name"),
    "middle_name": (v.text, "name.middle_name"),
    "last_name": (v.text, "name.last_name"),
}
COLUMNS = {
    "schools": {"name": (v.text, "name"), "school_number": (v.text, "school_number")},
    "terms": {
        "title": (v.text, "name"),
        "term_type": (term_type, "portion"),
        "start_date": (v.iso_date, "start_date"),
        "end_date": (v.iso_date, "end_date"),
        "school_year": (v.text, "end_year"),
    },
    "courses": {
        "title": (v.text, "course_name"),
        "course_code": (v.text, "course_number"),
        "school_source_id": (v.text, "school_id"),
    },
    "sections": {
        "section_code": (v.text, "section_number"),
        "class_type": "scheduled",
        "course_source_id": (v.text, "course_id"),
        "school_source_id": (v.text, "school_id"),
        "periods": (v.text, "expression"),
    },
    "students": {
        **_NAME,
        "student_number": (v.text, "local_id"),
        "state_id": (v.text, "state_province_id"),
        "username": (v.text, "student_username"),
        "birth_date": (v.iso_date, "demographics.birth_date"),
        "sex": (sex, "demographics.gender"),
        "grade_level": (v.grade, "school_enrollment.grade_level"),
        "school_source_id": (v.text, "school_enrollment.school_id"),
        "enrollment_status": (enrollment_status, "school_enrollment.enroll_status"),
    },
    "teachers": {
        **_NAME,
        "staff_number": (v.text, "local_id"),
        "email": (v.text, "emails.work_email"),
        "role": "teacher",
    },
    "enrollments": {
        "section_source_id": (v.text, "section_id"),
        "role": (enrollment_role, "role"),
        "begin_date": (v.iso_date, "entry_date"),
        "end_date": (v.iso_date, "exit_date"),
    },
}


def _terms(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> dict:
    return {"source_id": school_scoped(v.column(raw, "school_id"), v.column(raw, "id"))}


def _sections(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> dict:
    """A section is titled `<course name> - <section number>`; its term is keyed like the terms."""
    courses = records["courses"]
    names = once_per(courses, "names", lambda: by_id(v.text(v.column(courses, "id")), {"name": v.text(v.column(courses, "course_name"))}, keep="first"))
    title = joined(v.text(v.column(raw, "course_id")), names)["name"]
    number = v.text(v.column(raw, "section_number"))
    return {
        "title": v.text(title.where(title.isna(), title + " - " + number.fillna(""))),
        "term_source_ids": school_scoped(v.column(raw, "school_id"), v.column(raw, "term_id")),
    }


def _students(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> dict:
    """A student's last change is the students table's `transaction_date`, in the district's time zone."""
    changes = records["student_changes"]
    changed = once_per(changes, f"changes in {integration.timezone}", lambda: by_id_of(changes, lambda part: (
        v.text(v.column(part, "id")),
        {"at": v.local_timestamp(v.column(part, "transaction_date"), integration.timezone)},
    )))
    return {"source_updated_at": joined(v.text(v.column(raw, "id")), changed)["at"]}


def _teachers(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> dict:
    return {"school_source_id": v.first_field(v.column(raw, "school_affiliations.school_affiliation"), "school_id")}


def _enrollments(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> dict:
    """Teachers of record are enrolled by staff id, as each section's primary teacher."""
    return {
        "user_source_id": v.text(v.column(raw, "student_id")).fillna(v.text(v.column(raw, "staff_id"))),
        "is_primary": (enrollment_role(v.column(raw, "role")) == "teacher").astype("boolean"),
    }


class PowerSchoolNormalizer(Normalizer):
    schemas = SCHEMAS
    sources = {
        "schools": ("schools",),
        "terms": ("terms",),
        "courses": ("courses",),
        "sections": ("sections", "courses"),
        "students": ("students", "student_changes"),
        "teachers": ("staff",),
        "enrollments": ("section_enrollments",),
    }
    columns = {entity: {**_RECORD, **entity_columns} for entity, entity_columns in COLUMNS.items()}
    derived = {"terms": _terms, "sections": _sections, "students": _students, "teachers": _teachers, "enrollments": _enrollments}
    # A section's title needs its course and cannot be kept (it is required): without courses, sections are rejected.
    related = {"students": (Related("student_changes", ("source_updated_at",), (v.text, "id"), (v.text, "id")),)}

    def derive(
        self, entity: str, raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig
    ) -> dict:
        """PowerSchool's lists carry no modification time; only students get one (from `student_changes`)."""
        never = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
        return {"source_updated_at": never} | dict(super().derive(entity, raw, records, integration))
