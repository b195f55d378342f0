"""Fields of related records joined by id: a student's demographics, a section's course title.

A related collection that did not come (absent, empty, or a delta without this record) says nothing
about those fields, so the columns it feeds are marked not delivered and the warehouse keeps its values.
"""

import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import pandas as pd

from sis_pipeline.normalize.checks import INPUT_ERROR_FIELD
from sis_pipeline.normalize.values import column

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


def by_id(ids: pd.Series, fields: Mapping[str, pd.Series], keep: str = "last") -> pd.DataFrame:
    """`fields` indexed by the records' `ids` for `joined`; when an id repeats, `keep` says which record wins."""
    table = pd.DataFrame(dict(fields)).set_index(ids)
    return table[table.index.notna() & ~table.index.duplicated(keep=keep)]


def joined(keys: pd.Series, table: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """`table`'s rows for each key (all missing where the key names nothing), on the keys' index."""
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    return pd.DataFrame({"key": keys}).join(frame, on="key").drop(columns="key")


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
        errors = once_per(
            rows,
            f"unreadable {source.collection}",
            lambda: by_id(source.related_key[0](column(rows, source.related_key[1])), {"why": rows[INPUT_ERROR_FIELD]}).dropna(),
        )
        why = joined(source.key[0](column(raw, source.key[1])), errors)["why"].dropna()
        found.append(f"{source.collection}: " + why.astype(str))
    return pd.concat(found) if found else pd.Series(dtype=object)
