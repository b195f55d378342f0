"""PowerSchool records (already in one shape, see providers/powerschool.py) as canonical frames."""

from collections.abc import Mapping

import pandas as pd
import pyarrow as pa

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize import values as v
from sis_pipeline.normalize.models import EXTRA_FIELD_ENTITIES, conform
from sis_pipeline.normalize.records import fields

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


class PowerSchoolNormalizer:
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

    def normalize(self, entity: str, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> pd.DataFrame:
        raw = records[self.sources[entity][0]]
        frame = pd.DataFrame(
            {"integration": integration.name, "source_id": v.text(v.column(raw, "id")), "status": "active",
             "source_updated_at": pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")},
            index=raw.index,
        )
        getattr(self, f"_{entity}")(frame, raw, records, integration)
        if entity in EXTRA_FIELD_ENTITIES:
            frame["extra"] = v.extra_fields(raw, entity, integration.options)
        return conform(frame, entity)

    def _schools(self, frame, raw, records, integration):
        frame["name"] = v.text(v.column(raw, "name"))
        frame["school_number"] = v.text(v.column(raw, "school_number"))

    def _terms(self, frame, raw, records, integration):
        frame["source_id"] = school_scoped(v.column(raw, "school_id"), v.column(raw, "id"))
        frame["title"] = v.text(v.column(raw, "name"))
        frame["term_type"] = v.text(v.column(raw, "portion")).map(TERM_TYPES)
        frame["start_date"] = v.iso_date(v.column(raw, "start_date"))
        frame["end_date"] = v.iso_date(v.column(raw, "end_date"))
        frame["school_year"] = v.text(v.column(raw, "end_year"))

    def _courses(self, frame, raw, records, integration):
        frame["title"] = v.text(v.column(raw, "course_name"))
        frame["course_code"] = v.text(v.column(raw, "course_number"))
        frame["school_source_id"] = v.text(v.column(raw, "school_id"))

    def _sections(self, frame, raw, records, integration):
        courses = records["courses"]
        names = pd.Series(v.text(v.column(courses, "course_name")).values, index=v.text(v.column(courses, "id")).values)
        names = names[~names.index.duplicated()]
        number = v.text(v.column(raw, "section_number"))
        course = v.text(v.column(raw, "course_id"))
        title = pd.Series(course.map(names).values, index=raw.index)
        frame["title"] = v.text(title.where(title.isna(), title + " - " + number.fillna("")))
        frame["section_code"] = number
        frame["class_type"] = "scheduled"
        frame["course_source_id"] = course
        frame["school_source_id"] = v.text(v.column(raw, "school_id"))
        frame["term_source_ids"] = school_scoped(v.column(raw, "school_id"), v.column(raw, "term_id"))
        frame["periods"] = v.text(v.column(raw, "expression"))

    def _person(self, frame, raw):
        frame["first_name"] = v.text(v.column(raw, "name.first_name"))
        frame["middle_name"] = v.text(v.column(raw, "name.middle_name"))
        frame["last_name"] = v.text(v.column(raw, "name.last_name"))

    def _students(self, frame, raw, records, integration):
        self._person(frame, raw)
        frame["student_number"] = v.text(v.column(raw, "local_id"))
        frame["state_id"] = v.text(v.column(raw, "state_province_id"))
        frame["username"] = v.text(v.column(raw, "student_username"))
        frame["birth_date"] = v.iso_date(v.column(raw, "demographics.birth_date"))
        frame["sex"] = v.text(v.column(raw, "demographics.gender")).str.lower().map(SEX)
        frame["grade_level"] = v.grade(v.column(raw, "school_enrollment.grade_level"))
        frame["school_source_id"] = v.text(v.column(raw, "school_enrollment.school_id"))
        frame["enrollment_status"] = v.text(v.column(raw, "school_enrollment.enroll_status")).str.upper().map(ENROLL_STATUS)
        changes = records["student_changes"]
        changed = pd.Series(
            v.local_timestamp(v.column(changes, "transaction_date"), integration.timezone).values,
            index=v.text(v.column(changes, "id")).values,
        )
        changed = changed[~changed.index.duplicated(keep="last")]
        frame["source_updated_at"] = pd.Series(changed.reindex(frame["source_id"]).values, index=frame.index)

    def _teachers(self, frame, raw, records, integration):
        self._person(frame, raw)
        frame["staff_number"] = v.text(v.column(raw, "local_id"))
        frame["email"] = v.text(v.column(raw, "emails.work_email"))
        affiliations = v.column(raw, "school_affiliations.school_affiliation")
        frame["school_source_id"] = v.text(
            affiliations.map(lambda items: next((i.get("school_id") for i in v.items(items) if isinstance(i, dict)), None))
        )
        frame["role"] = "teacher"

    def _enrollments(self, frame, raw, records, integration):
        role = v.text(v.column(raw, "role")).fillna("student")
        frame["section_source_id"] = v.text(v.column(raw, "section_id"))
        frame["user_source_id"] = v.text(v.column(raw, "student_id")).fillna(v.text(v.column(raw, "staff_id")))
        frame["role"] = role
        frame["is_primary"] = (role == "teacher").astype("boolean")
        frame["begin_date"] = v.iso_date(v.column(raw, "entry_date"))
        frame["end_date"] = v.iso_date(v.column(raw, "exit_date"))
