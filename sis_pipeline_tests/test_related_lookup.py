"""The related-records lookup (normalize/related.py): held in Arrow, it must join exactly as pandas does.

A student's birth date comes from the demographics record with the student's id. The lookup finds it by
hash and then confirms the id itself, so a hash shared by two different ids never joins the wrong record.
"""

import numpy as np
import pandas as pd
import pytest

from sis_pipeline.normalize import related
from sis_pipeline.normalize.related import Lookup, by_id, joined


def pandas_join(keys: pd.Series, table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"key": keys}).join(table, on="key").drop(columns="key")


def by_its_index(table: pd.DataFrame) -> Lookup:
    return by_id(pd.Series(table.index), {name: table[name].reset_index(drop=True) for name in table})


def demographics() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "birth_date": ["2012-03-04", None, "2011-01-02", "2010-05-06"],
            "sex": ["female", "male", None, "other"],
            "active": pd.array([True, None, False, True], dtype="boolean"),
            "changed": pd.to_datetime(["2026-01-01T00:00:00Z", None, "2026-02-01T12:00:00Z", "2026-03-01T00:00:00Z"], utc=True),
        },
        index=pd.Index(["s1", "s2", "s3", "s4"], dtype=object),
    )


def test_it_joins_as_a_pandas_join_does():
    table = demographics()
    lookup = by_its_index(table)
    assert lookup.frame is None, "string ids should be held in Arrow"
    keys = pd.Series(["s3", "nobody", None, "s1", "s3", "s2", 7], index=[10, 11, 12, 13, 14, 15, 16], dtype=object)
    got, expected = joined(keys, lookup), pandas_join(keys, table)
    pd.testing.assert_frame_equal(got, expected)
    assert got.loc[10, "birth_date"] == "2011-01-02" and got.loc[13, "sex"] == "female"
    assert pd.isna(got.loc[11, "birth_date"]) and pd.isna(got.loc[12, "sex"]) and pd.isna(got.loc[16, "sex"])


def test_by_id_keeps_the_record_it_is_told_to():
    ids = pd.Series(["a", "b", "a", None])
    fields = {"name": pd.Series(["first", "only", "second", "no id"])}
    keys = pd.Series(["a", "b"])
    assert joined(keys, by_id(ids, fields))["name"].tolist() == ["second", "only"]
    assert joined(keys, by_id(ids, fields, keep="first"))["name"].tolist() == ["first", "only"]


def test_a_shared_hash_never_joins_another_id(monkeypatch):
    # every id's "hash" is its length: "x" and "a" share one, as two real ids might
    monkeypatch.setattr(related, "_hashes", lambda values: np.array([len(str(v)) for v in values], dtype=np.uint64))
    table = pd.DataFrame({"sex": ["female", "male", "other"]}, index=pd.Index(["a", "bb", "ccc"], dtype=object))
    lookup = by_its_index(table)
    assert lookup.frame is None
    got = joined(pd.Series(["x", "bb", "zzz", "ccc", 7], dtype=object), lookup)  # 7 shares "a"'s hash but is no text
    assert got["sex"].tolist()[1::2] == ["male", "other"]
    assert got["sex"].iloc[0::2].isna().all(), got


def test_ids_whose_hashes_collide_are_joined_by_pandas(monkeypatch):
    monkeypatch.setattr(related, "_hashes", lambda values: np.zeros(len(values), dtype=np.uint64))
    table = demographics()
    lookup = by_its_index(table)
    assert lookup.frame is not None
    keys = pd.Series(["s4", "s1", "none"])
    pd.testing.assert_frame_equal(joined(keys, lookup), pandas_join(keys, table))


@pytest.mark.parametrize("index", [pd.Index([1, 2], dtype=object), pd.Index([], dtype=object)])
def test_ids_arrow_cannot_hold_as_text_stay_pandas(index):
    table = pd.DataFrame({"sex": ["female", "male"][: len(index)]}, index=index)
    lookup = by_its_index(table)
    assert lookup.frame is not None
    keys = pd.Series([2, 3, 1], dtype=object)
    pd.testing.assert_frame_equal(joined(keys, lookup), pandas_join(keys, table))


def test_derived_a_slice_at_a_time_it_equals_the_whole(monkeypatch):
    """by_id_of derives a related collection's fields a slice at a time; an id repeated across slices
    keeps the record `keep` names, exactly as the whole collection's by_id would."""
    monkeypatch.setattr(related, "LOOKUP_SLICE_ROWS", 3)
    records = pd.DataFrame({"id": ["a", "b", "a", "c", None, "b", "d", "a"], "sex": ["f", "m", "x", "o", "u", "f", "m", "o"]})

    def derive(part: pd.DataFrame):
        return part["id"], {"sex": part["sex"].str.upper()}

    keys = pd.Series(["a", "b", "c", "d", "e", None])
    for keep in ("first", "last"):
        whole = related._unique_ids(*derive(records), keep)
        sliced = related.by_id_of(records, derive, keep)
        assert sliced.frame is None
        pd.testing.assert_frame_equal(joined(keys, sliced), pandas_join(keys, whole))
    assert joined(keys, related.by_id_of(records, derive, "first"))["sex"].tolist()[:4] == ["F", "M", "O", "M"]
    assert joined(keys, related.by_id_of(records, derive, "last"))["sex"].tolist()[:4] == ["O", "F", "O", "M"]
