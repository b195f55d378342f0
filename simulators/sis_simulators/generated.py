"""The contract every generated collection keeps: a count, and the i-th record from i alone.

A sourcedId encodes its index (`stu-0000123`), so looking a record up never needs an index table
and a million-student district costs no memory until a page is asked for.
"""

import numpy as np

from sis_simulators.hashing import mix64, mix64_array, stream_key
from sis_simulators.timestamps import BASE_END_MS, BASE_START_MS, format_ms

ROOTS = {"1.1": "/ims/oneroster/v1p1", "1.2": "/ims/oneroster/rostering/v1p2"}
ID_DIGITS = 7
_WINDOW_MS = BASE_END_MS - BASE_START_MS


class GeneratedCollection:
    """Base for one kind of generated record. Subclasses set the class attributes and `_fields`."""

    name: str  # the collection's own name, e.g. "students"
    prefix: str  # sourcedId prefix, e.g. "stu"
    path: str  # REST collection that serves it, used in hrefs
    ref_type: str  # GUIDRef type used when other records point at it

    def __init__(self, district):
        self.district = district
        self._key = stream_key(district.seed, self.name)
        self._modified_key = stream_key(district.seed, f"{self.name}:modified")
        # Fixed by the layout, and read on every record: compute once.
        self._count = self.count()
        self._href_prefixes = {version: f"{root}/{self.path}/" for version, root in ROOTS.items()}

    def count(self) -> int:
        raise NotImplementedError

    def _fields(self, index: int, version: str) -> dict:
        raise NotImplementedError

    def entropy(self, index: int) -> int:
        """64 random bits owned by this record, for every choice made about it."""
        return mix64(self._key, index)

    def sourced_id(self, index: int) -> str:
        return f"{self.prefix}-{index:0{ID_DIGITS}d}"

    def index_of(self, sourced_id: str) -> int | None:
        """The index encoded in a generated sourcedId, or None when it names no generated record."""
        prefix, _, digits = sourced_id.partition("-")
        if prefix != self.prefix or not (digits.isascii() and digits.isdigit()):
            return None
        index = int(digits)
        if index >= self._count or self.sourced_id(index) != sourced_id:
            return None
        return index

    def modified_ms(self, index: int) -> int:
        return BASE_START_MS + mix64(self._modified_key, index) % _WINDOW_MS

    def modified_ms_array(self, start: int, stop: int) -> np.ndarray:
        """`modified_ms` for a range of indexes at once, for filters that must scan everything."""
        return (mix64_array(self._modified_key, start, stop) % np.uint64(_WINDOW_MS)).astype(np.int64) + BASE_START_MS

    def record(self, index: int, version: str = "1.2") -> dict:
        if not 0 <= index < self._count:
            raise IndexError(f"{self.name} has no record {index}")
        record = {
            "sourcedId": self.sourced_id(index),
            "status": "active",
            "dateLastModified": format_ms(self.modified_ms(index)),
        }
        record.update(self._fields(index, version))
        return record

    def ref(self, index: int, version: str) -> dict:
        sourced_id = self.sourced_id(index)
        return {"href": self._href_prefixes[version] + sourced_id, "sourcedId": sourced_id, "type": self.ref_type}
