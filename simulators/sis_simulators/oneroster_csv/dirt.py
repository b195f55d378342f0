"""Real-world dirt for OneRoster CSV packages: each kind spoils a known set of headers or rows and
reports exactly which, so a reader's tests can assert what it fixed and what it rejected.

Row dirt is spread evenly through a file (one row every `expected rows / N`), each kind at its own
phase so two kinds rarely land on the same row. N is an upper bound: a file with fewer eligible
rows gets fewer, and the report always names exactly the rows spoiled.
"""

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from itertools import count

from sis_simulators.oneroster_csv.columns import CsvFile
from sis_simulators.overlay import RosterOverlay, UnknownRecord

FIX, REJECT_ROW, REJECT_FILE = "fix", "reject_row", "reject_file"

# kind -> (what a reader should do, why), the contract DirtReport carries to tests.
READER_EXPECTATIONS = {
    "bom": (FIX, "a UTF-8 byte-order mark precedes the header: decode as utf-8-sig, silently"),
    "crlf": (FIX, "lines end in CRLF: parse line endings agnostically, silently"),
    "header_case": (FIX, "header differs from the spec only in letter case: match case-insensitively and warn"),
    "header_whitespace": (FIX, "header carries surrounding whitespace: strip it and warn"),
    "header_misspelled": (
        REJECT_FILE,
        "a required column is missing and an unknown header stands in its place: reject the file, never guess",
    ),
    "duplicate_rows": (FIX, "row repeats the previous row byte for byte: keep one and warn"),
    "us_dates": (
        REJECT_ROW, "date is M/DD/YYYY, not YYYY-MM-DD, and 1/05/2023 may be 5 January or 1 May: reject the row",
    ),
    "blank_status": (REJECT_ROW, "a delta row must say active or tobedeleted, and this one is blank: reject the row"),
    "orphan_enrollments": (
        REJECT_ROW, "userSourcedId names a user in neither users.csv nor the warehouse: reject the row",
    ),
}

# kind -> file key -> {spec header: header as written}
HEADER_DIRT = {
    "header_case": {"users": {"givenName": "givenname"}, "enrollments": {"classSourcedId": "classSourcedID"}},
    "header_whitespace": {"users": {"familyName": "familyName "}},
    "header_misspelled": {"enrollments": {"userSourcedId": "userSorucedId"}},
}

# kind -> file key -> the column it spoils (None: the row is duplicated instead); "*" is every delta file.
ROW_DIRT = {
    "duplicate_rows": {"users": None},
    "us_dates": {"demographics": "birthDate", "enrollments": "beginDate"},
    "blank_status": {"*": "status"},
    "orphan_enrollments": {"enrollments": "userSourcedId"},
}


@dataclass(frozen=True)
class Dirt:
    """Which dirt to write. Booleans switch a kind on; integers are how many rows (N) to spoil.

    Fixed by a reader (the row is kept):
      bom                every file, manifest included, opens with a UTF-8 byte-order mark (silently)
      crlf               every file ends its lines in CRLF instead of LF (silently)
      header_case        users.csv `givenname`, enrollments.csv `classSourcedID` (with a warning)
      header_whitespace  users.csv `familyName ` with a trailing space (with a warning)
      duplicate_rows     N users.csv rows each written twice in a row (keep one, with a warning)
    Rejected by a reader, with the reason in READER_EXPECTATIONS:
      header_misspelled  enrollments.csv `userSorucedId`: no userSourcedId column, so the whole file
      us_dates           N demographics.csv birthDate and N enrollments.csv beginDate cells as M/DD/YYYY
      blank_status       N rows of every delta file with a blank status (bulk files have none to blank)
      orphan_enrollments N enrollments.csv rows whose userSourcedId names a user that does not exist
    """

    bom: bool = False
    crlf: bool = False
    header_case: bool = False
    header_whitespace: bool = False
    header_misspelled: bool = False
    duplicate_rows: int = 0
    us_dates: int = 0
    blank_status: int = 0
    orphan_enrollments: int = 0

    @classmethod
    def everything(cls, rows: int = 5) -> "Dirt":
        return cls(**{spec.name: rows if spec.type is int else True for spec in fields(cls)})

    def enabled(self) -> list[str]:
        return [spec.name for spec in fields(self) if getattr(self, spec.name)]


@dataclass(frozen=True)
class DirtReport:
    """What one kind of dirt did, and what a reader is expected to do about it."""

    kind: str
    action: str  # FIX, REJECT_ROW or REJECT_FILE
    reason: str
    files: tuple[str, ...] = ()  # every file the kind touched
    rows: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> sourcedIds of spoiled rows
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> {as written: spec header}


def us_date(iso: str) -> str | None:
    """`2023-01-05` -> `1/05/2023`; None when the cell holds no ISO date to spoil."""
    year, _, rest = iso.partition("-")
    month, _, day = rest.partition("-")
    if not (len(year) == 4 and len(month) == 2 and len(day) == 2):
        return None
    return f"{int(month)}/{day}/{year}"


@dataclass
class _RowPlan:
    kind: str
    column: int | None  # index of the spoiled cell; None duplicates the row
    spoil: Callable[[str], str | None] | None
    wanted: int
    stride: int
    due: int  # the first row ordinal this plan may take next


class DirtInjector:
    """Applies one Dirt to the files of one export, and remembers what it spoiled."""

    def __init__(self, dirt: Dirt, roster: RosterOverlay):
        self.dirt = dirt
        self._missing_users = self._missing_user_ids(roster)
        self._files: dict[str, list[str]] = defaultdict(list)
        self._rows: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self._headers: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)

    def preamble_and_line_end(self, file_name: str) -> tuple[str, str]:
        for kind in ("bom", "crlf"):
            if getattr(self.dirt, kind):
                self._files[kind].append(file_name)
        return ("\ufeff" if self.dirt.bom else ""), ("\r\n" if self.dirt.crlf else "\n")

    def headers(self, csv_file: CsvFile) -> list[str]:
        headers = list(csv_file.headers)
        for kind, by_file in HEADER_DIRT.items():
            renames = by_file.get(csv_file.key) if getattr(self.dirt, kind) else None
            if renames:
                headers = [renames.get(header, header) for header in headers]
                self._files[kind].append(csv_file.name)
                self._headers[kind][csv_file.name] = {written: spec for spec, written in renames.items()}
        return headers

    def rows(self, csv_file: CsvFile, delta: bool, expected: int, rows: Iterator[list[str]]) -> Iterator[list[str]]:
        plans = self._plans(csv_file, delta, expected)
        return self._spoiled(csv_file.name, plans, rows) if plans else rows

    def reports(self) -> dict[str, DirtReport]:
        reports = {}
        for kind in self.dirt.enabled():
            action, reason = READER_EXPECTATIONS[kind]
            rows = {name: tuple(ids) for name, ids in self._rows[kind].items()}
            files = tuple(self._files[kind]) or tuple(rows)
            reports[kind] = DirtReport(kind, action, reason, files, rows, dict(self._headers[kind]))
        return reports

    def _plans(self, csv_file: CsvFile, delta: bool, expected: int) -> list[_RowPlan]:
        plans = []
        for phase, (kind, by_file) in enumerate(ROW_DIRT.items()):
            wanted = getattr(self.dirt, kind)
            key = "*" if "*" in by_file and delta else csv_file.key
            if not wanted or key not in by_file:
                continue
            column = by_file[key]
            stride = max(1, expected // wanted)
            plans.append(_RowPlan(
                kind=kind,
                column=None if column is None else csv_file.headers.index(column),
                spoil=self._spoiler(kind),
                wanted=wanted,
                stride=stride,
                due=stride * phase // len(ROW_DIRT),
            ))
        return plans

    def _spoiler(self, kind: str) -> Callable[[str], str | None] | None:
        if kind == "us_dates":
            return us_date
        if kind == "blank_status":
            return lambda cell: "" if cell else None
        if kind == "orphan_enrollments":
            return lambda cell: next(self._missing_users) if cell else None
        return None

    def _spoiled(self, file_name: str, plans: list[_RowPlan], rows: Iterator[list[str]]) -> Iterator[list[str]]:
        for ordinal, row in enumerate(rows):
            duplicate = False
            for plan in plans:
                if not plan.wanted or ordinal < plan.due:
                    continue
                if plan.column is None:
                    duplicate = True
                else:
                    spoiled = plan.spoil(row[plan.column])
                    if spoiled is None:
                        continue
                    row[plan.column] = spoiled
                plan.wanted -= 1
                plan.due += plan.stride
                self._rows[plan.kind][file_name].append(row[0])
            yield row
            if duplicate:
                yield row

    @staticmethod
    def _missing_user_ids(roster: RosterOverlay) -> Iterator[str]:
        """Student-shaped sourcedIds past the generated ones that no added record has taken."""
        students = roster.district.students
        for index in count(students.count()):
            candidate = students.sourced_id(index)
            try:
                roster.find("users", candidate, "1.2")
            except UnknownRecord:
                yield candidate
