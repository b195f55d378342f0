"""Fields of related records joined by id: a student's demographics, a section's course title."""

from collections.abc import Mapping

import pandas as pd


def by_id(ids: pd.Series, fields: Mapping[str, pd.Series], keep: str = "last") -> pd.DataFrame:
    """`fields` indexed by the records' `ids` for `joined`; when an id repeats, `keep` says which record wins."""
    table = pd.DataFrame(dict(fields)).set_index(ids)
    return table[table.index.notna() & ~table.index.duplicated(keep=keep)]


def joined(keys: pd.Series, table: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """`table`'s rows for each key (all missing where the key names nothing), on the keys' index."""
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    return pd.DataFrame({"key": keys}).join(frame, on="key").drop(columns="key")
