"""PowerSchool's database tables as /ws/schema/table serves them: projected columns, every value a string.

It is the only place PowerSchool offers "changed since": `q=transaction_date=ge=2026-11-01`, a
local date or time. The filter reuses the OneRoster simulator's RecordFilter on the instant each
record last changed, so generated records are only scanned when the watermark falls inside the
generated window.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from sis_simulators.filters import Predicate, RecordFilter
from sis_simulators.overlay import UnknownRecord
from sis_simulators.powerschool.errors import ApiError
from sis_simulators.powerschool.generated import MODIFIED, WHEN_MODIFIED
from sis_simulators.powerschool.local_time import local_ms, wire_timestamp
from sis_simulators.powerschool.roster import PowerSchoolRoster
from sis_simulators.powerschool.settings import PowerSchoolSettings

Column = Callable[[dict, PowerSchoolRoster], object]
CHANGE_COLUMN = "transaction_date"
TIMESTAMP_COLUMNS = (CHANGE_COLUMN, "whenmodified")
_FIQL = {"==": "=", "=gt=": ">", "=ge=": ">=", "=lt=": "<", "=le=": "<="}
_PREDICATE = re.compile(r"^\s*([A-Za-z_.]+)\s*(==|=gt=|=ge=|=lt=|=le=)(.+)$")


@dataclass(frozen=True)
class SchemaTable:
    name: str
    source: str  # the roster table holding its records
    columns: dict[str, Column]
    tracks_changes: bool  # whether it has transaction_date and whenmodified

    def column_names(self) -> tuple[str, ...]:
        return (*self.columns, *TIMESTAMP_COLUMNS) if self.tracks_changes else tuple(self.columns)


def _at(*path: str) -> Column:
    def read(record: dict, roster: PowerSchoolRoster):
        value = record
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    return read


def _related(table: str, reference: Column, field: str) -> Column:
    """A field of the record another record points at, or nothing when that record is gone."""

    def read(record: dict, roster: PowerSchoolRoster):
        target = reference(record, roster)
        try:
            return None if target is None else roster.find(table, str(target)).get(field)
        except UnknownRecord:
            return None

    return read


def _first_affiliation(field: str) -> Column:
    def read(record: dict, roster: PowerSchoolRoster):
        affiliations = _at("school_affiliations", "school_affiliation")(record, roster) or [{}]
        return affiliations[0].get(field)

    return read


# A table's `id` is PowerSchool's internal number, not the DCID /ws/v1 keys records by, and references
# between tables (cc.studentid, cc.sectionid) hold that internal number. The simulator derives it from
# the DCID by a fixed offset, beyond every DCID range, so a client that mixes the two finds nothing.
INTERNAL_ID_OFFSET = 900_000_000


def internal_id(dcid) -> int | None:
    return None if dcid is None else int(dcid) + INTERNAL_ID_OFFSET


def _internal(*path: str) -> Column:
    dcid = _at(*path)
    return lambda record, roster: internal_id(dcid(record, roster))


def _dropped_negated(column: Column) -> Column:
    """PowerSchool marks a dropped enrollment by negating its cc.sectionid and cc.termid."""

    def read(record: dict, roster: PowerSchoolRoster):
        value = column(record, roster)
        return -value if value is not None and record.get("dropped") else value

    return read


_ID = {"dcid": _at("id"), "id": _internal("id")}
TABLES = {
    table.name: table
    for table in (
        SchemaTable("students", "students", {
            **_ID, "student_number": _at("local_id"), "state_studentnumber": _at("state_province_id"),
            "student_web_id": _at("student_username"), "first_name": _at("name", "first_name"),
            "middle_name": _at("name", "middle_name"), "last_name": _at("name", "last_name"),
            "schoolid": _at("school_enrollment", "school_number"),
            "grade_level": _at("school_enrollment", "grade_level"),
            "enroll_status": _at("school_enrollment", "enroll_status_code"),
            "entrydate": _at("school_enrollment", "entry_date"), "exitdate": _at("school_enrollment", "exit_date"),
            "gender": _at("demographics", "gender"), "dob": _at("demographics", "birth_date"),
        }, tracks_changes=True),
        SchemaTable("cc", "section_enrollments", {
            **_ID, "studentid": _internal("student_id"), "sectionid": _dropped_negated(_internal("section_id")),
            "schoolid": _related("schools", _related("sections", _at("section_id"), "school_id"), "school_number"),
            "termid": _dropped_negated(_related("sections", _at("section_id"), "term_id")),
            "dateenrolled": _at("entry_date"), "dateleft": _at("exit_date"),
        }, tracks_changes=True),
        SchemaTable("sections", "sections", {
            **_ID, "schoolid": _related("schools", _at("school_id"), "school_number"),
            "course_number": _related("courses", _at("course_id"), "course_number"), "termid": _at("term_id"),
            "section_number": _at("section_number"), "expression": _at("expression"),
            "external_expression": _at("external_expression"), "teacher": _at("staff_id"),
        }, tracks_changes=True),
        SchemaTable("teachers", "staff", {
            **_ID, "users_dcid": _at("id"), "teachernumber": _at("local_id"),
            "first_name": _at("name", "first_name"), "last_name": _at("name", "last_name"),
            "email_addr": _at("emails", "work_email"),
            "schoolid": _related("schools", _first_affiliation("school_id"), "school_number"),
            "status": _first_affiliation("status"),
        }, tracks_changes=True),
        SchemaTable("schools", "schools", {
            **_ID, "school_number": _at("school_number"), "name": _at("name"),
            "low_grade": _at("low_grade"), "high_grade": _at("high_grade"),
        }, tracks_changes=False),
        SchemaTable("terms", "terms", {
            "id": _at("id"), "schoolid": _related("schools", _at("school_id"), "school_number"),
            "name": _at("name"), "abbreviation": _at("abbreviation"), "firstday": _at("start_date"),
            "lastday": _at("end_date"), "yearid": lambda record, roster: record["id"] // 100, "portion": _at("portion"),
        }, tracks_changes=False),
    )
}


def schema_table(name: str) -> SchemaTable:
    table = TABLES.get(name.lower())
    if table is None:
        raise ApiError(404, f"Invalid table name {name}", resource=name)
    return table


def projection(table: SchemaTable, text: str | None) -> tuple[str, ...]:
    if not text:
        message = "projection is required, e.g. projection=dcid,student_number or projection=*"
        raise ApiError(400, message, resource=table.name, field="projection")
    if text.strip() == "*":
        return table.column_names()
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    for name in names:
        if name not in table.column_names():
            raise ApiError(400, f"Invalid field {name}", resource=table.name, field=name)
    return names


def change_filter(table: SchemaTable, query: str | None, settings: PowerSchoolSettings) -> RecordFilter | None:
    """`q=transaction_date=ge=2026-11-01;transaction_date=lt=2026-11-08` as a filter on the change instant."""
    if not query:
        return None
    predicates = []
    for part in query.split(";"):
        match = _PREDICATE.match(part)
        if match is None:
            raise ApiError(400, f"Invalid query {part!r}", resource=table.name, field="q")
        field, operator, value = match.group(1).lower(), match.group(2), match.group(3)
        if field not in table.column_names():
            raise ApiError(400, f"Invalid field {field}", resource=table.name, field=field)
        if field != CHANGE_COLUMN:
            message = f"the simulator filters {table.name} on {CHANGE_COLUMN} only"
            raise ApiError(400, message, resource=table.name, field=field)
        try:
            instant = local_ms(value, settings.zone)
        except ValueError:
            raise ApiError(400, f"Invalid value {value!r} for {field}", resource=table.name, field=field) from None
        predicates.append(Predicate(MODIFIED, _FIQL[operator], instant))
    return RecordFilter(tuple(predicates), "AND")


def row(
    table: SchemaTable, record: dict, columns: tuple[str, ...], roster: PowerSchoolRoster, settings: PowerSchoolSettings
) -> dict:
    """`{"id": "123", "name": "students", "tables": {"students": {column: "text", ...}}}`; empty columns left out."""
    values = {}
    for column in columns:
        if column in TIMESTAMP_COLUMNS:
            lagging = column == "whenmodified" and settings.whenmodified_lags
            instant = record.get(WHEN_MODIFIED, record[MODIFIED]) if lagging else record[MODIFIED]
            value = wire_timestamp(instant, settings.zone, settings.naive_local_timestamps)
        else:
            value = table.columns[column](record, roster)
        if value is not None:
            values[column] = str(value)
    return {"id": str(record["id"]), "name": table.name, "tables": {table.name: values}}
