"""Fields of related records joined by id: a student's demographics, a section's course title.

A related collection that did not come (absent, empty, or a delta without this record) says nothing
about those fields, so the columns it feeds are marked not delivered and the warehouse keeps its values.
"""

import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sis_pipeline.normalize.checks import INPUT_ERROR_FIELD
from sis_pipeline.normalize.values import arrow_strings, column

# the column of each row naming the canonical columns this delivery did not carry ("birth_date,sex")
NOT_DELIVERED = "not_delivered"


T = TypeVar("T")
_BUILT: dict[tuple[int, str], object] = {}


def once_per(frame: pd.DataFrame, name: str, build: Callable[[], T]) -> T:
    """`build()`, a table derived from a related collection's `frame`, computed once per frame.

    Chunked normalising joins every chunk of an entity against the same related frame (a million
    demographics records): deriving its lookup table per chunk cost O(chunks x collection). The table
    lives as long as the frame does.
    """
    key = (id(frame), name)
    if key not in _BUILT:
        _BUILT[key] = build()
        weakref.finalize(frame, _BUILT.pop, key, None)
    return _BUILT[key]  # type: ignore[return-value]


@dataclass(frozen=True)
class Related:
    """Canonical `columns` an entity takes from `collection`, whose `related_key` field matches the entity's `key`."""

    collection: str
    columns: tuple[str, ...]
    key: tuple[Callable[[pd.Series], pd.Series], str]  # (conversion, field path) in the entity's own records
    related_key: tuple[Callable[[pd.Series], pd.Series], str]  # the same in the related collection's records


def by_id(ids: pd.Series, fields: Mapping[str, pd.Series], keep: str = "last") -> "Lookup":
    """`fields` indexed by the records' `ids` for `joined`; when an id repeats, `keep` says which record wins."""
    table = _unique_ids(ids, fields, keep)
    try:
        return Lookup.in_arrow([table], keep)
    except NotInArrow:
        return Lookup(table)


def by_id_of(records: pd.DataFrame, derive: Callable[[pd.DataFrame], tuple], keep: str = "last") -> "Lookup":
    """`by_id(*derive(records), keep)`, derived a slice of records at a time.

    Deriving a million demographics records' fields at once made a few hundred MB of Python strings that
    the allocator kept after they were freed; a slice at a time, only one slice's exist at once.
    """
    slices = (records.iloc[at : at + LOOKUP_SLICE_ROWS] for at in range(0, len(records), LOOKUP_SLICE_ROWS))
    try:
        return Lookup.in_arrow((_unique_ids(*derive(part), keep) for part in slices), keep)
    except NotInArrow:
        return Lookup(_unique_ids(*derive(records), keep))


LOOKUP_SLICE_ROWS = 50_000


def _unique_ids(ids: pd.Series, fields: Mapping[str, pd.Series], keep: str = "last") -> pd.DataFrame:
    table = pd.DataFrame(dict(fields)).set_index(ids)
    return table[table.index.notna() & ~table.index.duplicated(keep=keep)]


def joined(keys: pd.Series, table: "Lookup | pd.DataFrame | pd.Series") -> pd.DataFrame:
    """`table`'s rows for each key (all missing where the key names nothing), on the keys' index."""
    if isinstance(table, Lookup):
        return table.rows(keys)
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    return pd.DataFrame({"key": keys}).join(frame, on="key").drop(columns="key")


def _hashes(values: np.ndarray) -> np.ndarray:
    return pd.util.hash_array(values)


_NOT_ARROW = (pa.ArrowException, TypeError, ValueError, UnicodeEncodeError)


class NotInArrow(Exception):
    """The table cannot be held in Arrow (ids that are not text, mixed values, ids sharing a hash)."""


class Lookup:
    """A related collection's fields by unique id, held in Arrow: a few bytes a value, not a Python object.

    Chunked normalising keeps such a table for a whole entity (a million students' demographics); as a
    pandas frame of object strings it was most of the worker's peak memory. A key's row is found by its
    64-bit hash among the ids' hashes (sorted once), then confirmed by comparing the ids themselves, so a
    hash collision never joins the wrong record. A table Arrow cannot hold stays a pandas frame (`frame`).
    """

    def __init__(self, frame: pd.DataFrame | None = None):
        self.frame = frame

    @classmethod
    def in_arrow(cls, parts: Iterable[pd.DataFrame], keep: str) -> "Lookup":
        """From frames of unique ids (their index) in record order; an id in several parts keeps the `keep` one."""
        ids, values, hashes = [], [], []
        for part in parts:
            keys = part.index.to_numpy(dtype=object)
            try:
                ids.append(pa.array(keys, type=pa.string()))
                if len(part.columns):  # an id set (id_set) has ids alone
                    values.append(pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False))
            except _NOT_ARROW as why:
                raise NotInArrow(str(why)) from why
            hashes.append(_hashes(keys))
        try:
            lookup = cls()
            lookup._ids = pa.concat_arrays(ids)
            lookup._values = pa.concat_tables(values, promote_options="default") if values else None
        except _NOT_ARROW as why:
            raise NotInArrow(str(why)) from why
        lookup._hashes = np.concatenate(hashes)
        if not len(lookup._hashes):
            raise NotInArrow("no records")
        lookup._keep_one_per_id(keep)
        order = np.argsort(lookup._hashes, kind="stable")
        lookup._hashes, lookup._ids, lookup._values = lookup._hashes[order], lookup._ids.take(order), _take(lookup._values, order)
        if (np.diff(lookup._hashes) == 0).any():
            raise NotInArrow("two ids share a hash")
        return lookup

    def _keep_one_per_id(self, keep: str) -> None:
        """Ids repeated across parts (found among the rows whose hash repeats, then compared exactly)."""
        repeated = np.flatnonzero(pd.Series(self._hashes).duplicated(keep=False).to_numpy())
        if not len(repeated):
            return
        exact = pd.Series(self._ids.take(repeated).to_pandas().to_numpy(dtype=object))
        kept = np.ones(len(self._hashes), dtype=bool)
        kept[repeated[exact.duplicated(keep=keep).to_numpy()]] = False
        self._hashes, self._ids, self._values = self._hashes[kept], self._ids.filter(kept), _take(self._values, np.flatnonzero(kept))

    def rows(self, keys: pd.Series) -> pd.DataFrame:
        """Each key's fields on the keys' index, all missing where the key names no record (a left join)."""
        if self.frame is not None:
            return joined(keys, self.frame)
        found, at = self._find(keys)
        taken = self._values.take(at).to_pandas()  # Arrow's pandas metadata restores the columns' dtypes
        taken.index = keys.index[found]
        return taken.reindex(keys.index)

    def contains(self, keys: pd.Series) -> np.ndarray:
        """Per key, whether it names a record."""
        if self.frame is not None:
            return keys.isin(self.frame.index).to_numpy()
        found = np.zeros(len(keys), dtype=bool)
        found[self._find(keys)[0]] = True
        return found

    def _find(self, keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """The positions of the keys that name a record, and those records' rows."""
        wanted = keys.to_numpy(dtype=object)
        hashes = _hashes(wanted)
        at = np.minimum(np.searchsorted(self._hashes, hashes), len(self._hashes) - 1)
        maybe = np.flatnonzero((self._hashes[at] == hashes) & keys.notna().to_numpy())
        same = pc.fill_null(pc.equal(self._ids.take(at[maybe]), _text(wanted[maybe])), False)
        found = maybe[same.to_numpy(zero_copy_only=False)]
        return found, at[found]


def text_ids(ids: pd.Series) -> pa.Array:
    """The ids present, as Arrow text (for id_set)."""
    return _text(ids.dropna().to_numpy(dtype=object))


def id_set(parts: list[pa.Array]) -> Lookup:
    """Ids (Arrow text, in parts) as a Lookup without fields, for `contains`: a few bytes an id, not sixty."""
    frames = (pd.DataFrame(index=pd.Index(part.to_pandas().to_numpy(dtype=object)).drop_duplicates()) for part in parts)
    try:
        return Lookup.in_arrow(frames, "first")
    except NotInArrow:  # none at all, or two ids sharing a hash
        ids = pa.chunked_array(parts, type=pa.string()).to_pandas().to_numpy(dtype=object)
        return Lookup(pd.DataFrame(index=pd.Index(ids, dtype=object).drop_duplicates()))


def _take(values: pa.Table | None, rows: np.ndarray) -> pa.Table | None:
    return None if values is None else values.take(rows)


def _text(keys: np.ndarray) -> pa.Array:
    """The keys as Arrow text; a key that is not text (or not encodable) is missing: it names no id."""
    strings = arrow_strings(pd.Series(keys, dtype=object))
    if strings is not None:
        return strings
    return pa.array([key if isinstance(key, str) and _encodable(key) else None for key in keys], type=pa.string())


def _encodable(text: str) -> bool:
    try:
        text.encode()
        return True
    except UnicodeEncodeError:
        return False


def not_delivered(
    related: Iterable[Related], raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], modes: Mapping[str, str]
) -> pd.Series:
    """Per row of `raw`, the comma-joined columns no delivered record spoke for; None where every one was.

    A related collection delivered in bulk with records is the complete truth (no record means no
    value); absent or empty, it says nothing about any row; as a delta, nothing about rows it omits.
    """
    names = pd.Series("", index=raw.index, dtype=object)
    for source in related:
        mode, rows = modes.get(source.collection, "absent"), records.get(source.collection)
        if mode == "bulk" and rows is not None and len(rows):
            continue
        missing = pd.Series(True, index=raw.index)
        if mode == "delta" and rows is not None and len(rows):
            known = once_per(rows, f"keys of {source.collection}", lambda: source.related_key[0](column(rows, source.related_key[1])).dropna())
            missing = ~source.key[0](column(raw, source.key[1])).isin(known)
        names = names.where(~missing.to_numpy(dtype=bool), names + "," + ",".join(source.columns))
    names = names.str.lstrip(",")
    return names.where(names != "", None)


def unreadable_related(related: Iterable[Related], raw: pd.DataFrame, records: Mapping[str, pd.DataFrame]) -> pd.Series:
    """Per row of `raw`, why a related record it joins could not be read (a malformed demographics row).

    Such a record neither speaks for its columns nor is absent, so the row it feeds is rejected with it.
    """
    found = []
    for source in related:
        rows = records.get(source.collection)
        if rows is None or INPUT_ERROR_FIELD not in rows:
            continue
        def unreadable(rows=rows, source=source) -> Lookup:  # the last record of an id speaks for it, read or not
            ids = source.related_key[0](column(rows, source.related_key[1]))
            return Lookup(_unique_ids(ids, {"why": column(rows, INPUT_ERROR_FIELD)}).dropna())

        errors = once_per(rows, f"unreadable {source.collection}", unreadable)
        why = joined(source.key[0](column(raw, source.key[1])), errors)["why"].dropna()
        found.append(f"{source.collection}: " + why.astype(str))
    return pd.concat(found) if found else pd.Series(dtype=object)
