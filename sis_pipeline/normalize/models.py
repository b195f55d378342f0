"""Canonical roster frames: the shape every provider's records take before they reach the warehouse.

Dates are ISO `YYYY-MM-DD` strings and timestamps are UTC, so a frame round-trips through Parquet
and COPY unchanged. Every frame carries `integration` and `source_id`, unique together.
"""

import pandas as pd
import pandera.extensions as pa_extensions
import pandera.pandas as pa
from pandera.typing import Series

from sis_pipeline.normalize.values import per_distinct

GRADE_LEVELS = ["PK", "KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "other"]
RECORD_STATUSES = ["active", "tobedeleted"]
ENROLLMENT_ROLES = ["student", "teacher"]
ENROLLMENT_STATUSES = ["active", "pre-registered", "transferred", "graduated", "inactive"]
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_DATE_PARTS = r"^(\d{4})-(\d{2})-(\d{2})$"
_MONTH_DAYS = {1: 31, 2: 28, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


@pa_extensions.register_check_method()
def real_date(series: pd.Series) -> pd.Series:
    """ISO-shaped is not enough: 2026-02-30 must fail too.

    Checked by arithmetic, not pandas' datetime64[ns] (which ends in 2262): open-ended end dates like
    9999-12-31 are real dates. Year 0000 exists in neither Python nor PostgreSQL.
    """
    return per_distinct(series, is_calendar_date, missing=True)


def is_calendar_date(series: pd.Series) -> pd.Series:
    """Whether each `YYYY-MM-DD` string names a day of the Gregorian calendar, years 0001 to 9999.

    Most dates parse in C (pandas' datetime64 covers 1678-2262); only the rest (9999-12-31, 2026-02-30,
    malformed) take the arithmetic below. Profiled at 100k students this check was half of validation.
    """
    text = series.astype("string")
    shaped = text.str.match(_ISO_DATE_PARTS).fillna(False).astype(bool)
    parsed = pd.to_datetime(text.where(shaped), format="%Y-%m-%d", errors="coerce")
    result = parsed.notna().to_numpy(dtype=bool) & shaped.to_numpy()
    unsure = shaped.to_numpy() & ~result
    if unsure.any():
        result[unsure] = _is_calendar_date_by_parts(text[unsure]).to_numpy(dtype=bool)
    return pd.Series(result, index=series.index)


def _is_calendar_date_by_parts(series: pd.Series) -> pd.Series:
    parts = series.astype("string").str.extract(_ISO_DATE_PARTS).astype("float64")
    year, month, day = parts[0], parts[1], parts[2]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = month.map(_MONTH_DAYS) + (leap & (month == 2))
    return ((year >= 1) & (day >= 1) & (day <= month_days)).fillna(False).astype(bool)


class _Record(pa.DataFrameModel):
    integration: Series[str] = pa.Field(str_matches=r"^[a-z0-9_]+$")
    source_id: Series[str] = pa.Field(str_length={"min_value": 1}, unique=True)
    status: Series[str] = pa.Field(isin=RECORD_STATUSES)
    source_updated_at: Series[pd.DatetimeTZDtype] = pa.Field(nullable=True, dtype_kwargs={"unit": "ns", "tz": "UTC"})

    class Config:
        coerce = True
        strict = True


def iso_date(**kwargs):
    """A nullable ISO date column that must also be a real calendar date."""
    return pa.Field(nullable=True, str_matches=ISO_DATE, real_date=(), **kwargs)


class School(_Record):
    name: Series[str] = pa.Field(str_length={"min_value": 1})
    school_number: Series[str] = pa.Field(nullable=True)
    school_type: Series[str] = pa.Field(nullable=True)
    parent_source_id: Series[str] = pa.Field(nullable=True)


class Term(_Record):
    title: Series[str] = pa.Field(str_length={"min_value": 1})
    term_type: Series[str] = pa.Field(nullable=True)
    start_date: Series[str] = iso_date()
    end_date: Series[str] = iso_date()
    school_year: Series[str] = pa.Field(nullable=True)
    parent_source_id: Series[str] = pa.Field(nullable=True)


class Course(_Record):
    title: Series[str] = pa.Field(str_length={"min_value": 1})
    course_code: Series[str] = pa.Field(nullable=True)
    school_source_id: Series[str] = pa.Field(nullable=True)
    grades: Series[str] = pa.Field(nullable=True)


class Section(_Record):
    title: Series[str] = pa.Field(str_length={"min_value": 1})
    section_code: Series[str] = pa.Field(nullable=True)
    class_type: Series[str] = pa.Field(nullable=True)
    course_source_id: Series[str] = pa.Field(nullable=True)
    school_source_id: Series[str] = pa.Field(nullable=True)
    term_source_ids: Series[str] = pa.Field(nullable=True)
    periods: Series[str] = pa.Field(nullable=True)
    extra: Series[str] = pa.Field(nullable=True)  # JSON object of options.extra_fields


class _Person(_Record):
    first_name: Series[str] = pa.Field(str_length={"min_value": 1})
    middle_name: Series[str] = pa.Field(nullable=True)
    last_name: Series[str] = pa.Field(str_length={"min_value": 1})
    email: Series[str] = pa.Field(nullable=True)
    username: Series[str] = pa.Field(nullable=True)
    school_source_id: Series[str] = pa.Field(nullable=True)
    enabled: Series[pa.BOOL] = pa.Field(nullable=True)
    # the id this person had before the SIS re-keyed its records (Infinite Campus's 1.1 -> 1.2 upgrade)
    legacy_source_id: Series[str] = pa.Field(nullable=True)
    extra: Series[str] = pa.Field(nullable=True)  # JSON object of options.extra_fields


class Student(_Person):
    student_number: Series[str] = pa.Field(nullable=True)
    state_id: Series[str] = pa.Field(nullable=True)
    preferred_first_name: Series[str] = pa.Field(nullable=True)
    birth_date: Series[str] = iso_date()
    sex: Series[str] = pa.Field(nullable=True)
    grade_level: Series[str] = pa.Field(nullable=True, isin=GRADE_LEVELS)
    # the SIS's enrollment state of the child (PowerSchool enroll_status); None where the SIS has none
    enrollment_status: Series[str] = pa.Field(nullable=True, isin=ENROLLMENT_STATUSES)


class Teacher(_Person):
    staff_number: Series[str] = pa.Field(nullable=True)
    role: Series[str] = pa.Field(str_length={"min_value": 1})


class Enrollment(_Record):
    section_source_id: Series[str] = pa.Field(str_length={"min_value": 1})
    user_source_id: Series[str] = pa.Field(str_length={"min_value": 1})
    school_source_id: Series[str] = pa.Field(nullable=True)
    role: Series[str] = pa.Field(isin=ENROLLMENT_ROLES)
    is_primary: Series[pa.BOOL] = pa.Field(nullable=True)
    begin_date: Series[str] = iso_date()
    end_date: Series[str] = iso_date()


MODELS: dict[str, type[_Record]] = {
    "schools": School,
    "terms": Term,
    "courses": Course,
    "sections": Section,
    "students": Student,
    "teachers": Teacher,
    "enrollments": Enrollment,
}
ENTITIES = list(MODELS)
EXTRA_FIELD_ENTITIES = ("students", "teachers", "sections")
DATE_COLUMNS = {"terms": ["start_date", "end_date"], "students": ["birth_date"], "enrollments": ["begin_date", "end_date"]}


def columns(entity: str) -> list[str]:
    """The canonical column order of an entity's frame."""
    return list(MODELS[entity].to_schema().columns)


def conform(frame: pd.DataFrame, entity: str) -> pd.DataFrame:
    """The entity's columns in order; a column this SIS does not have is all None."""
    missing = {name: pd.Series(None, index=frame.index, dtype=object) for name in columns(entity) if name not in frame}
    return frame.assign(**missing)[columns(entity)]
