"""PowerSchool tables over the shared synthetic district: record i of a table is generated from i alone.

Each table reuses the OneRoster generator's records (names, grades, schedules, dates) and only
renders them in PowerSchool's shape, so one seed describes one district in both dialects. A
table's `name` selects the same random streams as the OneRoster collection holding the same
people or classes, so both simulators agree on when each record last changed.
"""

from collections.abc import Iterable

from sis_simulators.generated import GeneratedCollection

# The first DCID of each table; record i has DCID first + i. Ranges are apart so a client that
# looks a student up with a section's id finds nothing instead of the wrong record.
FIRST_DCID = {
    "schools": 2,
    "courses": 5_001,
    "staff": 40_001,
    "sections": 300_001,
    "students": 1_000_001,
    "section_enrollments": 20_000_001,
}
GRADE_LEVELS = {"PK": -1, "KG": 0, **{f"{grade:02d}": grade for grade in range(1, 13)}}

# Keys every record carries for the overlay and delta queries, never sent in /ws/v1 bodies.
KEY = "sourcedId"
MODIFIED = "dateLastModified"
WHEN_MODIFIED = "whenModified"
INTERNAL_KEYS = frozenset((KEY, "status", MODIFIED, WHEN_MODIFIED))
EXTENSION_DATA = "_extension_data"


def dcid(table: str, index: int) -> int:
    return FIRST_DCID[table] + index


def school_number(district, school: int) -> int:
    """The school's PowerSchool number: the identifier the OneRoster simulator gives the same school."""
    return int(district.schools.record(school)["identifier"])


def person_name(user: dict) -> dict:
    """A OneRoster user's names as PowerSchool's `name` object; no middle name means no key."""
    name = {"first_name": user["givenName"]}
    if "middleName" in user:
        name["middle_name"] = user["middleName"]
    name["last_name"] = user["familyName"]
    return name


class PowerSchoolTable(GeneratedCollection):
    """One PowerSchool table. Subclasses set `name`, `table` and implement count and `_fields`."""

    table: str  # the table as the API and the admin API name it
    path = ""  # PowerSchool records carry no OneRoster hrefs

    def positions_at_school(self, school: int) -> Iterable[int]:
        """Generated records a per-school listing of `school` shows, before any change."""
        raise NotImplementedError(f"{self.table} are not listed per school")

    def school_ids(self, record: dict) -> set[int]:
        """DCIDs of the schools whose listings show `record` as it currently is."""
        raise NotImplementedError(f"{self.table} are not listed per school")


class DcidTable(PowerSchoolTable):
    """A table keyed by DCID: the overlay key of record i is str(first DCID + i)."""

    def sourced_id(self, index: int) -> str:
        return str(dcid(self.table, index))

    def index_of(self, key: str) -> int | None:
        if not (key.isascii() and key.isdigit()) or str(int(key)) != key:
            return None
        index = int(key) - FIRST_DCID[self.table]
        return index if 0 <= index < self._count else None
