"""Vectorised conversions shared by every provider's normaliser: statuses, booleans, dates, grades."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_STATUS = {"active": "active", "tobedeleted": "tobedeleted", "inactive": "tobedeleted", "deleted": "tobedeleted"}
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_GRADES = {
    **{alias: "PK" for alias in ("PK", "PREK", "PRE-K", "P3", "P4", "PS", "PR", "IT", "K4", "TK", "-1", "-2")},
    **{alias: "KG" for alias in ("KG", "K", "K5", "0", "00")},
    **{str(n): f"{n:02d}" for n in range(1, 13)},
    **{f"{n:02d}": f"{n:02d}" for n in range(1, 13)},
}


# What Python's str.strip() removes (every character whose isspace() is true), for Arrow's trim to remove
# alike; written out, since finding them scans every code point (half a second at every import).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def arrow_strings(series: pd.Series) -> pa.Array | None:
    """The series as an Arrow string array (C loops instead of Python ones), or None when it holds anything
    but text and missing values, or text Arrow cannot hold (a lone surrogate): the caller's pandas path then."""
    try:
        return pa.array(series, type=pa.string(), from_pandas=True)
    except (pa.ArrowException, UnicodeEncodeError, TypeError, ValueError):
        return None


def text(series: pd.Series) -> pd.Series:
    """Strings with surrounding space removed; empty and missing both become None."""
    strings = arrow_strings(series)
    if strings is not None:
        trimmed = pc.utf8_trim(strings, characters=WHITESPACE)
        blank = pc.fill_null(pc.equal(trimmed, ""), False)
        cleaned = pc.if_else(blank, pa.scalar(None, pa.string()), trimmed)
        return pd.Series(cleaned.to_numpy(zero_copy_only=False), index=series.index, dtype=object, name=series.name)
    cleaned = series.astype("string").str.strip()
    return cleaned.astype(object).where(cleaned.notna() & (cleaned != ""), None)


def items(value) -> list:
    """The elements of a list cell (a list, or an array when read through Arrow); [] for anything else."""
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else []


def first_field(series: pd.Series, key: str) -> pd.Series:
    """From a list of objects per cell, the first object's `key` (None when there is none)."""
    return text(series.map(lambda objects: next((o.get(key) for o in items(objects) if isinstance(o, dict)), None)))


def column(frame: pd.DataFrame, path: str) -> pd.Series:
    """A field by dotted path (`class.sourcedId`), all-missing when no record has it (empty fields are omitted)."""
    if path in frame.columns:
        return _python_objects(frame[path])
    top, *nested = path.split(".")
    if top not in frame.columns:
        return pd.Series(None, index=frame.index, dtype=object)
    series = frame[top]
    for key in nested:
        series = series.map(lambda value, key=key: value.get(key) if isinstance(value, dict) else None)
    return series


def _python_objects(series: pd.Series) -> pd.Series:
    """Arrow-held text (a related collection, chunks.read_related) as the Python strings every conversion expects."""
    if not isinstance(series.dtype, pd.ArrowDtype):
        return series
    return pd.Series(pa.array(series).to_pandas().to_numpy(dtype=object), index=series.index, name=series.name, dtype=object)


def status(series: pd.Series) -> pd.Series:
    """OneRoster record status; 1.0/1.1 `inactive` means `tobedeleted`. Unknown values stay for validation."""
    cleaned = text(series).str.lower()
    return cleaned.map(_STATUS).fillna(cleaned).astype(object).where(cleaned.notna(), None)


def boolean(series: pd.Series) -> pd.Series:
    """JSON booleans or "true"/"false" strings, as nullable booleans."""
    lowered = series.astype("string").str.strip().str.lower()
    result = pd.Series(pd.NA, index=series.index, dtype="boolean")
    result[lowered.isin(_TRUE)] = True
    result[lowered.isin(_FALSE)] = False
    return result


def utc_timestamp(series: pd.Series) -> pd.Series:
    return pd.to_datetime(text(series), utc=True, format="ISO8601", errors="coerce")


def local_timestamp(series: pd.Series, timezone: str) -> pd.Series:
    """Naive wall-clock times of the district's zone as UTC, DST-correct.

    A real pipeline shifted every row by a fixed offset and was 4 h off; here the zone's rules
    decide. In the repeated hour of a DST fall-back the earlier reading wins (a modification time
    only needs to order changes); a time that does not exist (spring-forward) moves forward.
    """
    naive = pd.to_datetime(text(series), format="ISO8601", errors="coerce")
    if naive.dt.tz is not None:  # the SIS sent an offset after all: trust it
        return naive.dt.tz_convert("UTC")
    local = naive.dt.tz_localize(timezone, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward")
    return local.dt.tz_convert("UTC")


def iso_date(series: pd.Series) -> pd.Series:
    """`YYYY-MM-DD`; a full timestamp keeps its date part; anything else is left for validation to reject."""
    cleaned = text(series)
    dated = per_distinct(cleaned, lambda values: values.str.match(r"^\d{4}-\d{2}-\d{2}T", na=False), missing=False)
    return cleaned.where(~dated, cleaned.str.slice(0, 10))


def per_distinct(series: pd.Series, judge, *, missing: bool) -> pd.Series:
    """`judge` (a vectorised test of a Series of values) applied once per distinct value, as booleans by row.

    Dates and codes repeat across a district's records: judging 624,000 enrollments' begin dates is
    judging a handful of strings. Missing values are `missing`.
    """
    codes, distinct = pd.factorize(series)  # code -1: missing
    if not len(distinct):
        return pd.Series(missing, index=series.index, dtype=bool)
    verdicts = np.asarray(judge(pd.Series(np.asarray(distinct, dtype=object), dtype=object)), dtype=bool)
    return pd.Series(np.where(codes >= 0, verdicts[codes], missing), index=series.index, dtype=bool)


def grade(series: pd.Series) -> pd.Series:
    """One vocabulary: PK, KG, 01..12, other (ungraded, post-secondary, anything unknown)."""
    cleaned = text(series).str.upper()
    return cleaned.map(_GRADES).fillna("other").astype(object).where(cleaned.notna(), None)


def joined(series: pd.Series) -> pd.Series:
    """A list cell as one comma-separated string (order kept), None when empty."""
    return text(series.map(lambda value: ",".join(str(item) for item in items(value)) or None))


def json_objects(columns: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    """One JSON object per row from named columns (keys sorted, nulls kept); None where every value is missing."""
    if not columns:
        return pd.Series(None, index=index, dtype=object)
    frame = pd.DataFrame({key: columns[key].values for key in sorted(columns)}, index=index)
    lines = frame.to_json(orient="records", lines=True, force_ascii=False).splitlines()
    return pd.Series(lines, index=index, dtype=object).where(frame.notna().any(axis=1), None)


def extra_fields(raw: pd.DataFrame, entity: str, options: dict) -> pd.Series:
    """The `extra` JSON column: the fields `options.extra_fields[entity]` names, read by dotted path."""
    wanted = options.get("extra_fields", {}).get(entity, {})
    return json_objects({key: column(raw, path) for key, path in wanted.items()}, raw.index)
