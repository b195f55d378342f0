"""Skyward Qmlativ Generic API objects as canonical frames.

Qmlativ sends integer ids (canonical ids are their strings), keeps a person's names, birth date
and gender on a shared `Demographics/Name` object, and stamps every object with `ModifiedTime`,
the district's wall clock without an offset (read with the integration's `timezone`).

Raw collections are named after the OneRoster collection each stands for (`classes` holds
`Scheduling/Section`), because the pipeline asks a provider class for its normaliser before it
knows which API an integration uses: a Skyward integration stages the same collection names
whether it reads OneRoster or Qmlativ (see providers/skyward.py).
"""

from collections.abc import Mapping

import pandas as pd
import pyarrow as pa

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize import values as v
from sis_pipeline.normalize.models import EXTRA_FIELD_ENTITIES, conform

INT, TEXT, FLAG = pa.int64(), pa.string(), pa.bool_()
MODIFIED = {"ModifiedTime": TEXT}
# raw collection -> the Qmlativ objects it holds, in order, each with the fields read from it
# (the provider asks for these, and any `extra_fields`, with `searchFields`).
COLLECTIONS: dict[str, dict[str, dict[str, pa.DataType]]] = {
    "schools": {"District/Entity": {"EntityID": INT, "Code": TEXT, "Name": TEXT, **MODIFIED}},
    "academicSessions": {"District/SchoolYear": {"SchoolYearID": INT, "Description": TEXT, "NumericYear": INT, **MODIFIED}},
    "courses": {"Scheduling/Course": {"CourseID": INT, "EntityID": INT, "CourseCode": TEXT, "Description": TEXT, **MODIFIED}},
    "classes": {
        "Scheduling/Section": {
            "SectionID": INT, "CourseID": INT, "EntityID": INT, "SchoolYearID": INT, "Code": TEXT,
            "StaffIDCurrentStoredPrimary": INT, **MODIFIED,
        }
    },
    "students": {
        "Student/Student": {
            "StudentID": INT, "NameID": INT, "StudentNumber": TEXT, "FirstName": TEXT, "MiddleName": TEXT,
            "LastName": TEXT, "CalculatedGrade": TEXT, "CalculatedStudentStateID": TEXT, **MODIFIED,
        }
    },
    "demographics": {
        "Demographics/Name": {
            "NameID": INT, "FirstName": TEXT, "MiddleName": TEXT, "LastName": TEXT, "BirthDate": TEXT, "Gender": TEXT, **MODIFIED,
        }
    },
    "entryWithdrawals": {
        "Enrollment/EntryWithdrawal": {
            "EntryWithdrawalID": INT, "StudentID": INT, "EntityID": INT, "StartDate": TEXT, "IsNoShow": FLAG, **MODIFIED,
        }
    },
    "teachers": {"Staff/Staff": {"StaffID": INT, "NameID": INT, "StaffNumber": TEXT, **MODIFIED}},
    # Student enrollments, then each section's teacher of record as one more enrollment.
    "enrollments": {
        "Scheduling/StudentSection": {
            "StudentSectionID": INT, "StudentID": INT, "SectionID": INT, "StartDate": TEXT, "EndDate": TEXT, **MODIFIED,
        },
        "Scheduling/Section": {"SectionID": INT, "EntityID": INT, "StaffIDCurrentStoredPrimary": INT, **MODIFIED},
    },
}
SCHEMAS = {
    collection: pa.schema(list({name: kind for fields in objects.values() for name, kind in fields.items()}.items()))
    for collection, objects in COLLECTIONS.items()
}
TEACHER_ENROLLMENT_PREFIX = "teacher-"
_SEXES = {"F": "female", "FEMALE": "female", "M": "male", "MALE": "male", "X": "other", "U": "unspecified"}


def id_text(series: pd.Series) -> pd.Series:
    """Integer ids as canonical string ids; Arrow hands a column of ids with gaps over as floats."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return v.text(series.astype("Int64").astype("string"))
    return v.text(series)


def sex(series: pd.Series) -> pd.Series:
    """Qmlativ's gender codes in OneRoster's words (female, male, other, unspecified)."""
    cleaned = v.text(series).str.upper()
    return cleaned.map(_SEXES).fillna(cleaned.str.lower()).astype(object).where(cleaned.notna(), None)


def unknown_flag(raw: pd.DataFrame) -> pd.Series:
    """Qmlativ does not say whether an account is enabled."""
    return pd.Series(pd.NA, index=raw.index, dtype="boolean")


def by_id(raw: pd.DataFrame, id_field: str, fields: Mapping[str, pd.Series]) -> pd.DataFrame:
    """Fields of related records by their id (the last record wins when an id repeats), for joins."""
    table = pd.DataFrame(dict(fields)).set_index(id_text(v.column(raw, id_field)))
    return table[table.index.notna() & ~table.index.duplicated(keep="last")]


def names(raw: pd.DataFrame) -> pd.DataFrame:
    return by_id(
        raw,
        "NameID",
        {
            "first_name": v.text(v.column(raw, "FirstName")),
            "middle_name": v.text(v.column(raw, "MiddleName")),
            "last_name": v.text(v.column(raw, "LastName")),
            "birth_date": v.iso_date(v.column(raw, "BirthDate")),
            "sex": sex(v.column(raw, "Gender")),
        },
    )


def current_schools(raw: pd.DataFrame) -> pd.Series:
    """Each student's school: the entity of their latest entry that was not a no-show."""
    entries = pd.DataFrame(
        {
            "student": id_text(v.column(raw, "StudentID")),
            "school": id_text(v.column(raw, "EntityID")),
            "start": v.iso_date(v.column(raw, "StartDate")),
            "entry": pd.to_numeric(v.column(raw, "EntryWithdrawalID"), errors="coerce"),
        }
    )
    shown = entries[~v.boolean(v.column(raw, "IsNoShow")).fillna(False).to_numpy(dtype=bool)]
    latest = shown.sort_values(["start", "entry"], kind="stable", na_position="first").drop_duplicates("student", keep="last")
    return latest.set_index("student")["school"]


def joined(keys: pd.Series, table: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """`table`'s rows for each key (all missing where the key names nothing), on the keys' index."""
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    return pd.DataFrame({"key": keys}).join(frame, on="key").drop(columns="key")


def _schools(raw: pd.DataFrame, records) -> dict:
    return {
        "source_id": id_text(v.column(raw, "EntityID")),
        "name": v.text(v.column(raw, "Name")),
        "school_number": v.text(v.column(raw, "Code")),
        "school_type": "school",
    }


def _terms(raw: pd.DataFrame, records) -> dict:
    return {
        "source_id": id_text(v.column(raw, "SchoolYearID")),
        "title": v.text(v.column(raw, "Description")),
        "term_type": "schoolYear",
        "school_year": id_text(v.column(raw, "NumericYear")),
    }


def _courses(raw: pd.DataFrame, records) -> dict:
    return {
        "source_id": id_text(v.column(raw, "CourseID")),
        "title": v.text(v.column(raw, "Description")),
        "course_code": v.text(v.column(raw, "CourseCode")),
        "school_source_id": id_text(v.column(raw, "EntityID")),
    }


def _sections(raw: pd.DataFrame, records) -> dict:
    """A section is titled by its course (Qmlativ sections carry only a code); its term is the school year."""
    course = id_text(v.column(raw, "CourseID"))
    code = v.text(v.column(raw, "Code"))
    course_titles = by_id(records["courses"], "CourseID", {"title": v.text(v.column(records["courses"], "Description"))})
    return {
        "source_id": id_text(v.column(raw, "SectionID")),
        "title": joined(course, course_titles)["title"].fillna(code),
        "section_code": code,
        "class_type": "scheduled",
        "course_source_id": course,
        "school_source_id": id_text(v.column(raw, "EntityID")),
        "term_source_ids": id_text(v.column(raw, "SchoolYearID")),
    }


def _students(raw: pd.DataFrame, records) -> dict:
    person = joined(id_text(v.column(raw, "NameID")), names(records["demographics"]))
    student = id_text(v.column(raw, "StudentID"))
    return {
        "source_id": student,
        "first_name": v.text(v.column(raw, "FirstName")).fillna(person["first_name"]),
        "middle_name": v.text(v.column(raw, "MiddleName")),
        "last_name": v.text(v.column(raw, "LastName")).fillna(person["last_name"]),
        "school_source_id": joined(student, current_schools(records["entryWithdrawals"]))["school"],
        "enabled": unknown_flag(raw),
        "student_number": v.text(v.column(raw, "StudentNumber")),
        "state_id": v.text(v.column(raw, "CalculatedStudentStateID")),
        "birth_date": person["birth_date"],
        "sex": person["sex"],
        "grade_level": v.grade(v.column(raw, "CalculatedGrade")),
    }


def _teachers(raw: pd.DataFrame, records) -> dict:
    person = joined(id_text(v.column(raw, "NameID")), names(records["demographics"]))
    return {
        "source_id": id_text(v.column(raw, "StaffID")),
        "first_name": person["first_name"],
        "middle_name": person["middle_name"],
        "last_name": person["last_name"],
        "enabled": unknown_flag(raw),
        "staff_number": v.text(v.column(raw, "StaffNumber")),
        "role": "teacher",
    }


def _enrollments(raw: pd.DataFrame, records) -> dict:
    """StudentSections are student enrollments; the sections that follow are their teachers of record."""
    is_student = v.column(raw, "StudentSectionID").notna()
    section = id_text(v.column(raw, "SectionID"))
    section_schools = by_id(records["classes"], "SectionID", {"school": id_text(v.column(records["classes"], "EntityID"))})
    teacher_primary = pd.Series(True, index=raw.index, dtype="boolean").where(~is_student, pd.NA)
    return {
        "source_id": id_text(v.column(raw, "StudentSectionID")).where(is_student, TEACHER_ENROLLMENT_PREFIX + section),
        "section_source_id": section,
        "user_source_id": id_text(v.column(raw, "StudentID")).where(is_student, id_text(v.column(raw, "StaffIDCurrentStoredPrimary"))),
        "school_source_id": joined(section, section_schools)["school"].where(is_student, id_text(v.column(raw, "EntityID"))),
        "role": pd.Series("teacher", index=raw.index, dtype=object).where(~is_student, "student"),
        "is_primary": teacher_primary,
        "begin_date": v.iso_date(v.column(raw, "StartDate")),
        "end_date": v.iso_date(v.column(raw, "EndDate")),
    }


BUILDERS = {
    "schools": _schools,
    "terms": _terms,
    "courses": _courses,
    "sections": _sections,
    "students": _students,
    "teachers": _teachers,
    "enrollments": _enrollments,
}


class QmlativNormalizer:
    schemas = SCHEMAS
    sources = {
        "schools": ("schools",),
        "terms": ("academicSessions",),
        "courses": ("courses",),
        "sections": ("classes", "courses"),
        "students": ("students", "demographics", "entryWithdrawals"),
        "teachers": ("teachers", "demographics"),
        "enrollments": ("enrollments", "classes"),
    }

    def normalize(self, entity: str, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> pd.DataFrame:
        raw = records[self.sources[entity][0]]
        frame = pd.DataFrame({"integration": integration.name, "status": "active"}, index=raw.index)
        # ModifiedTime is the district's wall clock
        frame["source_updated_at"] = v.local_timestamp(v.column(raw, "ModifiedTime"), integration.timezone)
        for name, values in BUILDERS[entity](raw, records).items():
            frame[name] = values
        if entity in EXTRA_FIELD_ENTITIES:
            frame["extra"] = v.extra_fields(raw, entity, integration.options)
        return conform(frame, entity)
