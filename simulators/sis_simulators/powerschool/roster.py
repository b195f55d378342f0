"""The PowerSchool district as currently served: generated tables plus the changes made between syncs.

Each table is a LiveCollection, the overlay the OneRoster simulator uses, so a change costs
O(changes) and a page O(page) even for a million students. On top of it this keeps what
PowerSchool needs and OneRoster does not: per-school and per-section listings that follow changed
records, withdrawals that drop a student's classes, and DCID changes (`reid`). Changes are stamped
like the OneRoster overlay's: after the generated window and after the previous change.
"""

import time
from collections.abc import Callable, Iterable
from datetime import date

from sis_simulators.district import District
from sis_simulators.filters import RecordFilter
from sis_simulators.live_collection import LiveCollection
from sis_simulators.overlay import InvalidChange, UnknownRecord
from sis_simulators.powerschool.generated import INTERNAL_KEYS, KEY, MODIFIED, WHEN_MODIFIED, dcid
from sis_simulators.powerschool.people import ENROLL_STATUSES, Staff, Students
from sis_simulators.powerschool.schedule import Courses, SectionEnrollments, Sections, Schools, Terms
from sis_simulators.timestamps import BASE_END_MS, format_ms

TABLE_TYPES = (Schools, Terms, Courses, Staff, Sections, Students, SectionEnrollments)
CHANGEABLE_TABLES = ("students", "staff", "sections", "section_enrollments")
WITHDRAWN_STATUSES = tuple(status for status in ENROLL_STATUSES if status not in ("A", "P"))


def _merged(current, change):
    """A nested object changes key by key (None drops a key); anything else is replaced."""
    if isinstance(current, dict) and isinstance(change, dict):
        return {key: value for key, value in {**current, **change}.items() if value is not None}
    return change


class PowerSchoolRoster:
    def __init__(self, district: District, clock: Callable[[], float] = time.time):
        self.district = district
        self.generated = {table_type.table: table_type(district) for table_type in TABLE_TYPES}
        self._clock = clock
        self._last_stamp_ms = BASE_END_MS
        self.reset()

    def reset(self) -> None:
        """Forget every change: the district is as generated again."""
        self.tables = {name: LiveCollection(generated) for name, generated in self.generated.items()}
        # Positions whose record may no longer sit where the generator put it (patched or added).
        self._touched: dict[str, set[int]] = {name: set() for name in self.tables}
        self._aliases: dict[str, dict[str, int]] = {name: {} for name in self.tables}
        # DCIDs taken away by `reid`; PowerSchool never hands a DCID out twice.
        self._retired: dict[str, set[str]] = {name: set() for name in self.tables}

    # --- reading ---------------------------------------------------------------------------------

    def totals(self) -> dict[str, int]:
        totals = {name: live.count() for name, live in self.tables.items()}
        # Staff with two schools appear in both schools' listings.
        schools = range(self.district.school_count)
        totals["school_staff"] = sum(len(self.school_members("staff", school)) for school in schools)
        return totals

    def position(self, table: str, key: str, include_removed: bool = False) -> int:
        live = self.tables[table]
        position = None if key in self._retired[table] else self._aliases[table].get(key, live.position_of(key))
        if position is None or (live.is_removed(position) and not include_removed):
            raise UnknownRecord(f"{table} has no record {key!r}")
        return position

    def find(self, table: str, key: str) -> dict:
        return self.record_at(table, self.position(table, key))

    def record_at(self, table: str, position: int) -> dict:
        return self.tables[table].record_at(position, "powerschool")

    def records(self, table: str, positions: Iterable[int]) -> list[dict]:
        return [self.record_at(table, position) for position in positions]

    def page(
        self, table: str, offset: int, limit: int, record_filter: RecordFilter | None = None
    ) -> tuple[int, list[dict]]:
        """(records matching, this page of them) across the whole district, in DCID order."""
        total, positions = self.tables[table].window(offset, limit, record_filter)
        return total, self.records(table, positions)

    def school_members(self, table: str, school: int) -> list[int]:
        """Positions a per-school listing shows: generated members that stayed, plus changed records that belong."""
        live, generated, touched = self.tables[table], self.generated[table], self._touched[table]
        school_dcid = dcid("schools", school)
        stayed = [p for p in generated.positions_at_school(school) if p not in touched and not live.is_removed(p)]
        arrived = [
            p for p in touched
            if not live.is_removed(p) and school_dcid in generated.school_ids(self.record_at(table, p))
        ]
        return sorted(stayed + arrived)

    def section_members(self, section_key: str) -> list[int]:
        """Positions of the section enrollments (dropped ones included) of one section."""
        section = self.position("sections", section_key)
        in_generated = section < self.generated["sections"].count()
        generated = self.generated["section_enrollments"].positions_in_section(section) if in_generated else ()
        return self._enrollments("section_id", self.record_at("sections", section)["id"], generated)

    def _student_enrollments(self, student: int, student_dcid: int) -> list[int]:
        """A student's section enrollments, removed ones included so a restore finds them consistent."""
        in_generated = student < self.generated["students"].count()
        generated = self.generated["section_enrollments"].positions_of_student(student) if in_generated else ()
        return self._enrollments("student_id", student_dcid, generated, include_removed=True)

    def _enrollments(
        self, field: str, value: int, generated: Iterable[int], include_removed: bool = False
    ) -> list[int]:
        """Section enrollments whose `field` is `value`: untouched generated candidates match by construction."""
        live, touched = self.tables["section_enrollments"], self._touched["section_enrollments"]
        return [
            p for p in sorted(set(generated) | touched)
            if (include_removed or not live.is_removed(p))
            and (p not in touched or self.record_at("section_enrollments", p).get(field) == value)
        ]

    # --- changing --------------------------------------------------------------------------------

    def update(self, table: str, key: str, fields: dict) -> None:
        self._check_changeable(table)
        if "id" in fields:
            raise InvalidChange("a DCID cannot be updated; give a student a new one with the reid change")
        self._check_no_internal_keys(fields)
        position = self.position(table, key)
        current = self.record_at(table, position)
        changed = {name: _merged(current.get(name), value) for name, value in fields.items()}
        # An in-place edit moves transaction_date only; whenmodified keeps its value (see whenmodified_lags).
        unmoved = current.get(WHEN_MODIFIED, current[MODIFIED])
        self._patch(table, position, {**changed, MODIFIED: self._stamp(), WHEN_MODIFIED: unmoved})

    def remove(self, table: str, key: str) -> None:
        self._check_changeable(table)
        self.tables[table].remove(self.position(table, key))

    def restore(self, table: str, key: str) -> None:
        self._check_changeable(table)
        position = self.position(table, key, include_removed=True)
        self.tables[table].restore(position)
        stamp = self._stamp()
        self._patch(table, position, {MODIFIED: stamp, WHEN_MODIFIED: stamp})

    def add(self, table: str, record: dict) -> None:
        self._check_changeable(table)
        self._check_no_internal_keys(record)
        record_id = record.get("id")
        if not isinstance(record_id, int) or isinstance(record_id, bool) or record_id < 1:
            raise InvalidChange("an added record needs a positive integer id (its DCID)")
        key = self._unused_key(table, record_id)
        stamp = self._stamp()
        live = self.tables[table]
        live.add({KEY: key, MODIFIED: stamp, WHEN_MODIFIED: stamp, **record})
        self._touched[table].add(live.position_of(key))

    def withdraw(self, key: str, exit_date: str, status: str = "T") -> None:
        """Leave school on `exit_date` (the day after the last day): the student and their classes end there."""
        if status not in WITHDRAWN_STATUSES:
            raise InvalidChange(f"enroll_status must be one of {list(WITHDRAWN_STATUSES)}, got {status!r}")
        try:
            date.fromisoformat(exit_date)
        except (TypeError, ValueError):
            raise InvalidChange(f"exit_date must be an ISO date (YYYY-MM-DD), got {exit_date!r}") from None
        position = self.position("students", key)
        student = self.record_at("students", position)
        code, description = ENROLL_STATUSES[status]
        enrollment = {
            **student.get("school_enrollment", {}),
            "enroll_status": status, "enroll_status_code": code, "enroll_status_description": description,
            "exit_date": exit_date,
        }
        stamp = self._stamp()
        self._patch("students", position, {"school_enrollment": enrollment, MODIFIED: stamp, WHEN_MODIFIED: stamp})
        for enrolled in self._student_enrollments(position, student["id"]):
            section_enrollment = self.record_at("section_enrollments", enrolled)
            if section_enrollment["exit_date"] > exit_date:
                left = max(section_enrollment["entry_date"], exit_date)
                dropped = {"exit_date": left, "dropped": True, MODIFIED: stamp, WHEN_MODIFIED: stamp}
                self._patch("section_enrollments", enrolled, dropped)

    def reid(self, key: str, new_id: int) -> None:
        """Give a student a new DCID, as deleting and re-entering them would; their enrollments follow."""
        if not isinstance(new_id, int) or isinstance(new_id, bool) or new_id < 1:
            raise InvalidChange(f"new_id must be a positive integer, got {new_id!r}")
        position = self.position("students", key, include_removed=True)
        old_id = self.record_at("students", position)["id"]
        new_key = self._unused_key("students", new_id)
        enrollments = self._student_enrollments(position, old_id)
        self._aliases["students"].pop(key, None)
        self._aliases["students"][new_key] = position
        self._retired["students"].add(key)
        stamp = self._stamp()
        self._patch("students", position, {"id": new_id, KEY: new_key, MODIFIED: stamp, WHEN_MODIFIED: stamp})
        for enrolled in enrollments:
            self._patch("section_enrollments", enrolled, {"student_id": new_id, MODIFIED: stamp, WHEN_MODIFIED: stamp})

    def _unused_key(self, table: str, record_id: int) -> str:
        key = str(record_id)
        if key in self._retired[table]:
            raise InvalidChange(f"{table} DCID {record_id} was retired by a reid and is never handed out again")
        try:
            self.position(table, key, include_removed=True)
        except UnknownRecord:
            return key
        raise InvalidChange(f"{table} already has a record with id {record_id}")

    def _patch(self, table: str, position: int, fields: dict) -> None:
        self.tables[table].patch(position, fields)
        self._touched[table].add(position)

    @staticmethod
    def _check_changeable(table: str) -> None:
        if table not in CHANGEABLE_TABLES:
            raise InvalidChange(f"{table!r} cannot be changed; changeable tables: {list(CHANGEABLE_TABLES)}")

    @staticmethod
    def _check_no_internal_keys(fields: dict) -> None:
        if internal := INTERNAL_KEYS.intersection(fields):
            raise InvalidChange(f"{sorted(internal)} are the simulator's bookkeeping, not PowerSchool fields")

    def _stamp(self) -> str:
        self._last_stamp_ms = max(int(self._clock() * 1000), self._last_stamp_ms + 1)
        return format_ms(self._last_stamp_ms)
