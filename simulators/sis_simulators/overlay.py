"""Changes made to a district between syncs, layered over its generated records.

Collections are named as the REST API names them (`users`, `orgs`, `enrollments`, ...). Every
change stamps `dateLastModified` after BASE_MODIFIED_END and after the previous change, even
if the host clock says otherwise, so a delta sync always sees each change exactly once.
"""

import time
from collections.abc import Callable

from sis_simulators.district import VIEWS, District
from sis_simulators.filters import RecordFilter
from sis_simulators.live_collection import LiveCollection
from sis_simulators.timestamps import BASE_END_MS, format_ms

_TERM_TYPES = ("term", "semester")


class UnknownRecord(LookupError):
    """No record with that sourcedId is served in that collection."""


class InvalidChange(ValueError):
    """A change the simulator refuses, with a message that says why."""


def _add_target(collection: str, record: dict) -> str:
    """Which generated collection an added record joins, judged from what the record says it is."""
    members = VIEWS[collection]
    if len(members) == 1:
        return members[0]
    if collection == "orgs":
        kind = {"district": "districts", "school": "schools"}.get(record.get("type"))
    elif collection == "academicSessions":
        kind = {"schoolYear": "schoolYears", **dict.fromkeys(_TERM_TYPES, "terms")}.get(record.get("type"))
    else:
        roles = [entry.get("role") for entry in record.get("roles", []) if entry.get("roleType") == "primary"]
        role = record.get("role") or (roles[0] if roles else None)
        kind = {"student": "students", "teacher": "teachers"}.get(role)
    if kind is None:
        raise InvalidChange(f"cannot tell which part of {collection} the added record {record.get('sourcedId')!r} joins")
    return kind


class RosterOverlay:
    """A district as currently served: what listings, lookups and totals see."""

    def __init__(self, district: District, clock: Callable[[], float] = time.time):
        self.district = district
        self._clock = clock
        self._last_stamp_ms = BASE_END_MS
        self.reset()

    def reset(self) -> None:
        """Forget every change: the district is as generated again."""
        self.collections = {name: LiveCollection(generated) for name, generated in self.district.collections.items()}

    def view(self, collection: str) -> list[LiveCollection]:
        if collection not in VIEWS:
            raise UnknownRecord(f"there is no collection {collection!r}")
        return [self.collections[name] for name in VIEWS[collection]]

    def totals(self) -> dict[str, int]:
        return {collection: sum(member.count() for member in self.view(collection)) for collection in VIEWS}

    def find(self, collection: str, sourced_id: str, version: str) -> dict:
        member, position = self._locate(collection, sourced_id)
        return member.record_at(position, version)

    def page(
        self, collection: str, offset: int, limit: int, version: str, record_filter: RecordFilter | None = None
    ) -> tuple[int, list[dict]]:
        """(total matching records, the records of this page) across the collection's members."""
        total, records = 0, []
        for member in self.view(collection):
            matched, positions = member.window(max(0, offset - total), limit - len(records), record_filter)
            records.extend(member.record_at(position, version) for position in positions)
            total += matched
        return total, records

    def update(self, collection: str, sourced_id: str, fields: dict) -> None:
        if "sourcedId" in fields:
            raise InvalidChange("sourcedId cannot be changed; remove the record and add a new one")
        member, position = self._locate(collection, sourced_id)
        member.patch(position, {"dateLastModified": self._stamp(), **fields})

    def mark_tobedeleted(self, collection: str, sourced_id: str) -> None:
        member, position = self._locate(collection, sourced_id)
        member.patch(position, {"status": "tobedeleted", "dateLastModified": self._stamp()})

    def remove(self, collection: str, sourced_id: str) -> None:
        member, position = self._locate(collection, sourced_id)
        member.remove(position)

    def restore(self, collection: str, sourced_id: str) -> None:
        member, position = self._locate(collection, sourced_id, include_removed=True)
        member.restore(position)

    def add(self, collection: str, record: dict) -> None:
        sourced_id = record.get("sourcedId")
        if not isinstance(sourced_id, str) or not sourced_id:
            raise InvalidChange("an added record needs a sourcedId")
        target = self.collections[_add_target(collection, record)]
        # Students and teachers share /users (and schools the district's /orgs): ids must be unique there.
        siblings = [member for member in self.collections.values() if member.generated.path == target.generated.path]
        if any(member.position_of(sourced_id) is not None for member in siblings):
            raise InvalidChange(f"{target.generated.path} already has a record {sourced_id!r}")
        target.add({"status": "active", "dateLastModified": self._stamp(), **record})

    def _locate(self, collection: str, sourced_id: str, include_removed: bool = False) -> tuple[LiveCollection, int]:
        for member in self.view(collection):
            position = member.position_of(sourced_id)
            if position is not None and (include_removed or not member.is_removed(position)):
                return member, position
        raise UnknownRecord(f"{collection} has no record {sourced_id!r}")

    def _stamp(self) -> str:
        self._last_stamp_ms = max(int(self._clock() * 1000), self._last_stamp_ms + 1)
        return format_ms(self._last_stamp_ms)
