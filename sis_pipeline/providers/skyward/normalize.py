"""Skyward Qmlativ Generic API objects as canonical frames.

Qmlativ sends integer ids (canonical ids are their strings), keeps a person's names, birth date
and gender on a shared `Demographics/Name` object, and stamps every object with `ModifiedTime`,
the district's wall clock without an offset (read with the integration's `timezone`).
"""

from collections.abc import Mapping

import pandas as pd
import pyarrow as pa

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize import values as v
from sis_pipeline.normalize.normalizer import Normalizer
from sis_pipeline.normalize.related import Lookup, Related, by_id, by_id_of, joined, once_per
from sis_pipeline.providers.skyward.objects import COLLECTIONS

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


def unknown_flag(series: pd.Series) -> pd.Series:
    """Qmlativ does not say whether an account is enabled."""
    return pd.Series(pd.NA, index=series.index, dtype="boolean")


def names(raw: pd.DataFrame) -> Lookup:
    """Names, birth dates and sexes of `Demographics/Name` records, by NameID."""
    return by_id_of(raw, lambda part: (
        id_text(v.column(part, "NameID")),
        {
            "first_name": v.text(v.column(part, "FirstName")),
            "middle_name": v.text(v.column(part, "MiddleName")),
            "last_name": v.text(v.column(part, "LastName")),
            "birth_date": v.iso_date(v.column(part, "BirthDate")),
            "sex": sex(v.column(part, "Gender")),
        },
    ))


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


COLUMNS = {
    "schools": {
        "source_id": (id_text, "EntityID"),
        "name": (v.text, "Name"),
        "school_number": (v.text, "Code"),
        "school_type": "school",
    },
    "terms": {
        "source_id": (id_text, "SchoolYearID"),
        "title": (v.text, "Description"),
        "term_type": "schoolYear",
        "school_year": (id_text, "NumericYear"),
    },
    "courses": {
        "source_id": (id_text, "CourseID"),
        "title": (v.text, "Description"),
        "course_code": (v.text, "CourseCode"),
        "school_source_id": (id_text, "EntityID"),
    },
    "sections": {
        "source_id": (id_text, "SectionID"),
        "section_code": (v.text, "Code"),
        "class_type": "scheduled",
        "course_source_id": (id_text, "CourseID"),
        "school_source_id": (id_text, "EntityID"),
        "term_source_ids": (id_text, "SchoolYearID"),  # a section's term is its school year
    },
    "students": {
        "source_id": (id_text, "StudentID"),
        "middle_name": (v.text, "MiddleName"),
        "enabled": (unknown_flag, "StudentID"),
        "student_number": (v.text, "StudentNumber"),
        "state_id": (v.text, "CalculatedStudentStateID"),
        "grade_level": (v.grade, "CalculatedGrade"),
    },
    "teachers": {
        "source_id": (id_text, "StaffID"),
        "enabled": (unknown_flag, "StaffID"),
        "staff_number": (v.text, "StaffNumber"),
        "role": "teacher",
    },
    "enrollments": {
        "begin_date": (v.iso_date, "StartDate"),
        "end_date": (v.iso_date, "EndDate"),
    },
}


def _sections(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> dict:
    """A section is titled by its course (Qmlativ sections carry only a code)."""
    courses = records["courses"]
    titles = once_per(courses, "titles", lambda: by_id(id_text(v.column(courses, "CourseID")), {"title": v.text(v.column(courses, "Description"))}))
    return {"title": joined(id_text(v.column(raw, "CourseID")), titles)["title"].fillna(v.text(v.column(raw, "Code")))}


def _person(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Each record's name, birth date and sex from its `Demographics/Name` record (the table built once per entity)."""
    demographics = records["demographics"]
    return joined(id_text(v.column(raw, "NameID")), once_per(demographics, "names", lambda: names(demographics)))


def _students(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> dict:
    person = _person(raw, records)
    return {
        "first_name": v.text(v.column(raw, "FirstName")).fillna(person["first_name"]),
        "last_name": v.text(v.column(raw, "LastName")).fillna(person["last_name"]),
        "school_source_id": joined(
            id_text(v.column(raw, "StudentID")),
            once_per(records["entryWithdrawals"], "current schools", lambda: current_schools(records["entryWithdrawals"])),
        )["school"],
        "birth_date": person["birth_date"],
        "sex": person["sex"],
    }


def _teachers(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> dict:
    person = _person(raw, records)
    return {"first_name": person["first_name"], "middle_name": person["middle_name"], "last_name": person["last_name"]}


def _enrollments(raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> dict:
    """StudentSections are student enrollments; the sections that follow are their teachers of record."""
    is_student = v.column(raw, "StudentSectionID").notna()
    section = id_text(v.column(raw, "SectionID"))
    classes = records["classes"]
    section_schools = once_per(
        classes, "section schools", lambda: by_id(id_text(v.column(classes, "SectionID")), {"school": id_text(v.column(classes, "EntityID"))})
    )
    teacher_primary = pd.Series(True, index=raw.index, dtype="boolean").where(~is_student, pd.NA)
    return {
        "source_id": id_text(v.column(raw, "StudentSectionID")).where(is_student, TEACHER_ENROLLMENT_PREFIX + section),
        "section_source_id": section,
        "user_source_id": id_text(v.column(raw, "StudentID")).where(is_student, id_text(v.column(raw, "StaffIDCurrentStoredPrimary"))),
        "school_source_id": joined(section, section_schools)["school"].where(is_student, id_text(v.column(raw, "EntityID"))),
        "role": pd.Series("teacher", index=raw.index, dtype=object).where(~is_student, "student"),
        "is_primary": teacher_primary,
    }


class QmlativNormalizer(Normalizer):
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
    columns = {entity: {"status": "active", **entity_columns} for entity, entity_columns in COLUMNS.items()}
    derived = {"sections": _sections, "students": _students, "teachers": _teachers, "enrollments": _enrollments}
    # Teachers' names come only from Demographics/Name and are required: without it, teachers are rejected.
    related = {
        "sections": (Related("courses", ("title",), (id_text, "CourseID"), (id_text, "CourseID")),),
        "students": (
            Related("demographics", ("birth_date", "sex"), (id_text, "NameID"), (id_text, "NameID")),
            Related("entryWithdrawals", ("school_source_id",), (id_text, "StudentID"), (id_text, "StudentID")),
        ),
        "enrollments": (Related("classes", ("school_source_id",), (id_text, "SectionID"), (id_text, "SectionID")),),
    }

    def derive(
        self, entity: str, raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig
    ) -> dict:
        """Every Qmlativ object's last change is its ModifiedTime, the district's wall clock."""
        modified = v.local_timestamp(v.column(raw, "ModifiedTime"), integration.timezone)
        return {"source_updated_at": modified} | dict(super().derive(entity, raw, records, integration))
