"""The drop's records as canonical frames: columns declared field by field, a student's birth date
joined from the demographics collection."""

import pandas as pd
import pyarrow as pa

from sis_pipeline.normalize import values as v
from sis_pipeline.normalize.normalizer import Normalizer
from sis_pipeline.normalize.records import REF, REFS, fields
from sis_pipeline.normalize.related import by_id, joined

TEXT = pa.string()
PERSON = fields(givenName=TEXT, familyName=TEXT, middleName=TEXT, identifier=TEXT, email=TEXT, username=TEXT, orgs=REFS)
SCHEMAS = {
    "schools": fields(name=TEXT, identifier=TEXT, parent=REF),
    "academicSessions": fields(title=TEXT, type=TEXT, startDate=TEXT, endDate=TEXT, schoolYear=TEXT),
    "courses": fields(title=TEXT, courseCode=TEXT, org=REF),
    "classes": fields(title=TEXT, classCode=TEXT, course=REF, school=REF, terms=REFS),
    "students": PERSON,
    "teachers": PERSON,
    "enrollments": fields(role=TEXT, user=REF, school=REF, beginDate=TEXT, endDate=TEXT, **{"class": REF}),
    "demographics": fields(birthDate=TEXT),
}


def first_id(refs: pd.Series) -> pd.Series:
    """The first sourcedId of a list of references."""
    return v.first_field(refs, "sourcedId")


RECORD = {
    "source_id": (v.text, "sourcedId"),
    "status": (v.status, "status"),
    "source_updated_at": (v.utc_timestamp, "dateLastModified"),
}
PERSON_COLUMNS = {
    "first_name": (v.text, "givenName"),
    "middle_name": (v.text, "middleName"),
    "last_name": (v.text, "familyName"),
    "email": (v.text, "email"),
    "username": (v.text, "username"),
    "school_source_id": (first_id, "orgs"),
}
COLUMNS = {
    "schools": {
        "name": (v.text, "name"),
        "school_number": (v.text, "identifier"),
        "school_type": "school",
        "parent_source_id": (v.text, "parent.sourcedId"),
    },
    "terms": {
        "title": (v.text, "title"),
        "term_type": (v.text, "type"),
        "start_date": (v.iso_date, "startDate"),
        "end_date": (v.iso_date, "endDate"),
        "school_year": (v.text, "schoolYear"),
    },
    "courses": {
        "title": (v.text, "title"),
        "course_code": (v.text, "courseCode"),
        "school_source_id": (v.text, "org.sourcedId"),
    },
    "sections": {
        "title": (v.text, "title"),
        "section_code": (v.text, "classCode"),
        "class_type": "scheduled",
        "course_source_id": (v.text, "course.sourcedId"),
        "school_source_id": (v.text, "school.sourcedId"),
        "term_source_ids": (first_id, "terms"),
    },
    "students": {**PERSON_COLUMNS, "student_number": (v.text, "identifier")},
    "teachers": {**PERSON_COLUMNS, "staff_number": (v.text, "identifier"), "role": "teacher"},
    "enrollments": {
        "section_source_id": (v.text, "class.sourcedId"),
        "user_source_id": (v.text, "user.sourcedId"),
        "school_source_id": (v.text, "school.sourcedId"),
        "role": (v.text, "role"),
        "begin_date": (v.iso_date, "beginDate"),
        "end_date": (v.iso_date, "endDate"),
    },
}


def birth_dates(raw: pd.DataFrame, records, integration) -> dict:
    """Demographics share the student's sourcedId."""
    demographics = records["demographics"]
    born = by_id(v.text(v.column(demographics, "sourcedId")), {"birth_date": v.iso_date(v.column(demographics, "birthDate"))})
    return {"birth_date": joined(v.text(v.column(raw, "sourcedId")), born)["birth_date"]}


class JsonDropNormalizer(Normalizer):
    sources = {
        "schools": ("schools",),
        "terms": ("academicSessions",),
        "courses": ("courses",),
        "sections": ("classes",),
        "students": ("students", "demographics"),
        "teachers": ("teachers",),
        "enrollments": ("enrollments",),
    }
    schemas = SCHEMAS
    columns = {entity: {**RECORD, **entity_columns} for entity, entity_columns in COLUMNS.items()}
    derived = {"students": birth_dates}
