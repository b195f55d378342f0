"""The records a bulk or delta file holds, streamed from the roster a page of positions at a time.

Bulk is every record currently served, less those marked `tobedeleted` (a bulk file has no
status column to say so: a record missing from bulk is a deleted record). Delta is every record
changed at or after `since`, plus every removed record as a `tobedeleted` row.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from sis_simulators.filters import RecordFilter, parse_filter
from sis_simulators.live_collection import LiveCollection
from sis_simulators.overlay import RosterOverlay
from sis_simulators.timestamps import format_ms, parse_ms

PAGE = 4096
# A delta page re-scans generated timestamps when `since` falls inside their window, so take big pages.
DELTA_PAGE = 1 << 16


def _removed_positions(member: LiveCollection) -> list[int]:
    # The overlay keeps removals only in this sorted list; scanning is_removed() over millions of
    # positions would make every delta cost a full pass. Sorted, so delta rows keep a stable order.
    return list(member._removed)


@dataclass(frozen=True)
class Selection:
    """Which records of one collection a file holds, and roughly how many (for spreading dirt)."""

    roster: RosterOverlay
    collection: str
    version: str
    since: str | None  # None for bulk; the normalised delta watermark otherwise

    def _changed_filter(self) -> RecordFilter:
        return parse_filter(f"dateLastModified>='{self.since}'")

    def expected_count(self) -> int:
        members = self.roster.view(self.collection)
        if self.since is None:
            return sum(member.count() for member in members)
        changed = self._changed_filter()
        return sum(member.window(0, 0, changed)[0] + len(_removed_positions(member)) for member in members)

    def records(self) -> Iterator[dict]:
        for member in self.roster.view(self.collection):
            if self.since is None:
                yield from self._current(member)
            else:
                yield from self._changed(member)
                yield from self._removed(member)

    def _current(self, member: LiveCollection) -> Iterator[dict]:
        for offset in range(0, member.count(), PAGE):
            for position in member.window(offset, PAGE)[1]:
                record = member.record_at(position, self.version)
                if record.get("status") != "tobedeleted":
                    yield record

    def _changed(self, member: LiveCollection) -> Iterator[dict]:
        changed = self._changed_filter()
        total = member.window(0, 0, changed)[0]
        for offset in range(0, total, DELTA_PAGE):
            for position in member.window(offset, DELTA_PAGE, changed)[1]:
                yield member.record_at(position, self.version)

    def _removed(self, member: LiveCollection) -> Iterator[dict]:
        # Removals carry no time of their own, so every delta lists every removal since the last
        # reset, stamped no earlier than the watermark: deleting twice is harmless to a reader.
        for position in _removed_positions(member):
            record = member.record_at(position, self.version)
            record["status"] = "tobedeleted"
            record["dateLastModified"] = max(record.get("dateLastModified") or self.since, self.since)
            yield record


def normalised_since(since: str) -> str:
    """`since` as a OneRoster timestamp, so it compares as text with dateLastModified values."""
    return format_ms(parse_ms(since))
