"""One generated collection as it is currently served: generated records plus admin changes.

Changes are few (a delta's worth), records are many (millions), so every operation costs
O(changes) plus O(page), never O(records): offsets skip removed records arithmetically, and only
filters that generated records could match scan their timestamps, vectorised in chunks.
"""

from bisect import bisect_left, insort

import numpy as np

from sis_simulators.filters import RecordFilter
from sis_simulators.generated import GeneratedCollection

SCAN_CHUNK = 1 << 20
# Fields are the same in every version; filters read only dateLastModified and status.
_FILTER_VERSION = "1.2"


class LiveCollection:
    """Positions [0, generated count) are generated records; added records follow in order."""

    def __init__(self, generated: GeneratedCollection):
        self.generated = generated
        self._generated_count = generated.count()
        self._patches: dict[int, dict] = {}
        self._removed: list[int] = []  # sorted, for offset arithmetic
        self._removed_set: set[int] = set()
        self._added: list[dict] = []
        self._added_positions: dict[str, int] = {}

    def _size(self) -> int:
        return self._generated_count + len(self._added)

    def count(self) -> int:
        return self._size() - len(self._removed)

    def position_of(self, sourced_id: str) -> int | None:
        """Where a record lives, whether or not it is currently removed."""
        position = self.generated.index_of(sourced_id)
        return self._added_positions.get(sourced_id) if position is None else position

    def is_removed(self, position: int) -> bool:
        return position in self._removed_set

    def record_at(self, position: int, version: str) -> dict:
        if position < self._generated_count:
            record = self.generated.record(position, version)
        else:
            record = dict(self._added[position - self._generated_count])
        patch = self._patches.get(position)
        if patch:
            for key, value in patch.items():
                if value is None:
                    record.pop(key, None)
                else:
                    record[key] = value
        return record

    def patch(self, position: int, fields: dict) -> None:
        """Merge `fields` into the record; a None value drops the field, as OneRoster omits empties."""
        self._patches.setdefault(position, {}).update(fields)

    def remove(self, position: int) -> None:
        if position not in self._removed_set:
            self._removed_set.add(position)
            insort(self._removed, position)

    def restore(self, position: int) -> None:
        if position in self._removed_set:
            self._removed_set.discard(position)
            self._removed.remove(position)

    def add(self, record: dict) -> None:
        self._added_positions[record["sourcedId"]] = self._size()
        self._added.append(dict(record))

    def window(self, offset: int, limit: int, record_filter: RecordFilter | None = None) -> tuple[int, list[int]]:
        """(how many records match, the positions of matches offset..offset+limit-1)."""
        if record_filter is None:
            return self.count(), self._visible(offset, limit)
        return self._matching(record_filter, offset, limit)

    def _visible(self, offset: int, limit: int) -> list[int]:
        position = offset
        for removed in self._removed:  # each removed record at or before the target shifts it on
            if removed > position:
                break
            position += 1
        positions = []
        size = self._size()
        while position < size and len(positions) < limit:
            if position not in self._removed_set:
                positions.append(position)
            position += 1
        return positions

    def _matching(self, record_filter: RecordFilter, offset: int, limit: int) -> tuple[int, list[int]]:
        changed = set(self._patches).union(range(self._generated_count, self._size())) - self._removed_set
        verdicts = {position: record_filter.matches(self.record_at(position, _FILTER_VERSION)) for position in changed}
        if not record_filter.may_match_generated():
            matches = sorted(position for position, matched in verdicts.items() if matched)
            return len(matches), matches[offset : offset + limit]

        # Generated records whose own timestamp must not be used: changed ones and removed ones.
        overridden = sorted(position for position in changed | self._removed_set if position < self._generated_count)
        total, page = 0, []
        for start in range(0, self._generated_count, SCAN_CHUNK):
            stop = min(start + SCAN_CHUNK, self._generated_count)
            mask = record_filter.generated_mask(self.generated.modified_ms_array(start, stop))
            for position in overridden[bisect_left(overridden, start) : bisect_left(overridden, stop)]:
                mask[position - start] = verdicts.get(position, False)
            hits = int(np.count_nonzero(mask))
            if len(page) < limit and total + hits > offset:
                skip = max(0, offset - total)
                page.extend((np.flatnonzero(mask)[skip : skip + limit - len(page)] + start).tolist())
            total += hits
        for position in sorted(p for p in verdicts if p >= self._generated_count and verdicts[p]):
            if total >= offset and len(page) < limit:
                page.append(position)
            total += 1
        return total, page
