"""The Qmlativ district as currently served: generated objects plus the changes made between syncs.

Each object is a LiveCollection, the overlay the OneRoster simulator uses, so a change costs
O(changes) and a page O(page) even for a million students. Changes are stamped like the OneRoster
overlay's: after the generated window and after the previous change. The overlay keeps each
record's modification as a UTC instant; `ModifiedTime` is that instant on the district's wall clock.
"""

import time
from collections.abc import Callable
from datetime import datetime

from sis_simulators.filters import RecordFilter
from sis_simulators.live_collection import LiveCollection
from sis_simulators.overlay import InvalidChange, UnknownRecord
from sis_simulators.qmlativ.objects import OBJECT_TYPES, OVERLAY_KEYS, QmlativObject
from sis_simulators.qmlativ.settings import QmlativSettings
from sis_simulators.timestamps import BASE_END_MS, format_ms, to_ms

MODIFIED_TIME = "ModifiedTime"
LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S"
_RECORD_VERSION = "qmlativ"  # LiveCollection passes a version through; Qmlativ objects have one shape


def local_to_utc_ms(text: str, settings: QmlativSettings) -> int:
    """A wall-clock time in the district's zone (an explicit offset wins) as epoch milliseconds."""
    moment = datetime.fromisoformat(text.strip())
    return to_ms(moment if moment.tzinfo else moment.replace(tzinfo=settings.zone))


class QmlativRoster:
    def __init__(self, district, settings: QmlativSettings, clock: Callable[[], float] = time.time):
        self.district = district
        self.settings = settings
        self.generated: dict[str, QmlativObject] = {kind.object_path: kind(district) for kind in OBJECT_TYPES}
        self._clock = clock
        self._last_stamp_ms = BASE_END_MS
        self.reset()

    def reset(self) -> None:
        """Forget every change: the district is as generated again."""
        self.objects = {path: LiveCollection(generated) for path, generated in self.generated.items()}

    # --- reading ---------------------------------------------------------------------------------

    def totals(self) -> dict[str, int]:
        return {path: live.count() for path, live in self.objects.items()}

    def page(self, object_path: str, offset: int, limit: int, record_filter: RecordFilter | None = None) -> list[dict]:
        """This page of the object's records (matching the filter), as the API sends them."""
        live = self._live(object_path)
        _, positions = live.window(offset, limit, record_filter)
        return [self.render(live.record_at(position, _RECORD_VERSION)) for position in positions]

    def render(self, record: dict) -> dict:
        modified = datetime.fromisoformat(record["dateLastModified"]).astimezone(self.settings.zone)
        shown = {key: value for key, value in record.items() if key not in OVERLAY_KEYS}
        shown[MODIFIED_TIME] = modified.strftime(LOCAL_FORMAT)
        return shown

    def field_names(self, object_path: str) -> tuple[str, ...]:
        return (*self.generated[object_path].field_names, MODIFIED_TIME)

    # --- changing --------------------------------------------------------------------------------

    def update(self, object_path: str, record_id: int, fields: dict) -> None:
        """Change fields; the record is stamped now unless the change names its ModifiedTime."""
        generated = self._generated(object_path)
        self._check_fields(object_path, fields)
        if generated.id_field in fields:
            raise InvalidChange(f"{generated.id_field} cannot be changed; remove the record and add a new one")
        position = self._position(object_path, record_id)
        self.objects[object_path].patch(position, self._stamped(fields))

    def remove(self, object_path: str, record_id: int) -> None:
        position = self._position(object_path, record_id)
        self.objects[object_path].remove(position)

    def restore(self, object_path: str, record_id: int) -> None:
        position = self._position(object_path, record_id, include_removed=True)
        self.objects[object_path].restore(position)
        self.objects[object_path].patch(position, self._stamped({}))

    def add(self, object_path: str, record: dict) -> None:
        generated = self._generated(object_path)
        self._check_fields(object_path, record)
        record_id = record.get(generated.id_field)
        if not isinstance(record_id, int) or isinstance(record_id, bool) or record_id < 1:
            raise InvalidChange(f"an added {object_path} needs a positive integer {generated.id_field}")
        live = self.objects[object_path]
        if live.position_of(str(record_id)) is not None:
            raise InvalidChange(f"{object_path} already has a record with {generated.id_field} {record_id}")
        fields = {name: record.get(name) for name in generated.field_names}
        live.add({"sourcedId": str(record_id), "status": "active", **self._stamped({**fields, **record})})

    # --- helpers ---------------------------------------------------------------------------------

    def _generated(self, object_path: str) -> QmlativObject:
        if object_path not in self.generated:
            raise UnknownRecord(f"there is no object {object_path!r}; known: {', '.join(self.generated)}")
        return self.generated[object_path]

    def _live(self, object_path: str) -> LiveCollection:
        self._generated(object_path)
        return self.objects[object_path]

    def _position(self, object_path: str, record_id: int, include_removed: bool = False) -> int:
        live = self._live(object_path)
        position = live.position_of(str(record_id))
        if position is None or (live.is_removed(position) and not include_removed):
            raise UnknownRecord(f"{object_path} has no record {record_id}")
        return position

    def _check_fields(self, object_path: str, fields: dict) -> None:
        unknown = set(fields) - set(self.field_names(object_path))
        if unknown:
            raise InvalidChange(f"{object_path} has no field(s) {sorted(unknown)}; fields: {list(self.field_names(object_path))}")

    def _stamped(self, fields: dict) -> dict:
        """Fields with the overlay's UTC stamp: the given ModifiedTime, else now (after every earlier stamp)."""
        fields = dict(fields)
        local = fields.pop(MODIFIED_TIME, None)
        if local is not None:
            try:
                stamp_ms = local_to_utc_ms(local, self.settings)
            except (TypeError, ValueError):
                raise InvalidChange(f"ModifiedTime must be an ISO date and time, got {local!r}") from None
        else:
            self._last_stamp_ms = max(int(self._clock() * 1000), self._last_stamp_ms + 1)
            stamp_ms = self._last_stamp_ms
        return {**fields, "dateLastModified": format_ms(stamp_ms)}
