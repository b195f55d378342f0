"""Checks of a canonical frame that pandera's static model cannot express, each rejecting a record, never a file.

What PostgreSQL would refuse at COPY (a NUL character, a lone surrogate, an index entry past its
size) is caught here per record, so one bad record never fails the load of the others. Repeated
source ids are settled here too: identical copies collapse, conflicting versions are rejected together.
"""

from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sis_pipeline.normalize.values import arrow_strings

# One cell may hold at most this many characters (the limit Python's csv module ships with).
MAX_TEXT_CHARS = 131_072
# Columns the warehouse indexes: a PostgreSQL btree entry holds at most 2,704 bytes, 4 per character at worst.
INDEXED_COLUMNS = ("source_id", "state_id", "legacy_source_id", "user_source_id", "section_source_id")
MAX_INDEXED_CHARS = 512
# Raw records a provider could read but not trust (a CSV row of the wrong width) carry why in this field.
INPUT_ERROR_FIELD = "_input_error"
# The one reason that depends on the run's date, not the record: the same record may pass another day.
RUN_DATE_REASON = "is after the run's date"
_SURROGATE = "[\ud800-\udfff]"
_JSON_NUL = "\\u0000"


def input_reasons(frame: pd.DataFrame, raw_errors: pd.Series | None, today: date) -> pd.Series:
    """For each record that must not load, why: unreadable input, text PostgreSQL refuses, a future birth date."""
    reasons: list[pd.Series] = []
    if raw_errors is not None:
        reasons.append(raw_errors.dropna().astype(str))
    for name in frame.columns:
        column = frame[name]
        if name == "integration" or not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        limit = MAX_INDEXED_CHARS if name in INDEXED_COLUMNS else MAX_TEXT_CHARS
        strings = arrow_strings(column)
        if strings is None:  # not all text, or text Arrow cannot hold: pandas' (slower) string methods
            reasons.extend(_text_reasons_in_pandas(name, column, limit))
            continue
        length = pc.utf8_length(strings)
        too_long = _mask(pc.greater(length, limit), column.index)
        if too_long.any():
            lengths = pd.Series(length.to_numpy(zero_copy_only=False), index=column.index)
            reasons.append(_where(too_long, f"{name}: " + lengths.astype("Int64").astype(str) + f" characters, more than {limit}"))
        nul = pc.match_substring(strings, "\x00")
        if name == "extra":  # JSON escapes the character, and PostgreSQL's jsonb refuses the escape too
            nul = pc.or_(nul, pc.match_substring(strings, _JSON_NUL))
        reasons.append(_where(_mask(nul, column.index), f"{name}: contains a NUL character, which text cannot hold"))
        # no lone surrogate: Arrow holds only valid UTF-8
    if "birth_date" in frame:
        born = frame["birth_date"].astype("string")
        # ISO dates compare as strings; malformed ones are pandera's to reject
        future = born.str.match(r"^\d{4}-\d{2}-\d{2}$") & (born > today.isoformat())
        reasons.append(_where(future, "birth_date: " + born + f" {RUN_DATE_REASON} {today.isoformat()}"))
    found = pd.concat([r for r in reasons if not r.empty]) if any(not r.empty for r in reasons) else pd.Series(dtype=object)
    return found.groupby(level=0).agg("; ".join) if not found.empty else found


def _text_reasons_in_pandas(name: str, column: pd.Series, limit: int) -> list[pd.Series]:
    text = column.astype("string")
    length = text.str.len()
    nul = text.str.contains("\x00", regex=False)
    if name == "extra":
        nul = nul | text.str.contains(_JSON_NUL, regex=False)
    return [
        _where(length > limit, f"{name}: " + length.astype(str) + f" characters, more than {limit}"),
        _where(nul, f"{name}: contains a NUL character, which text cannot hold"),
        _where(text.str.contains(_SURROGATE, regex=True), f"{name}: contains invalid Unicode (a lone surrogate)"),
    ]


def _mask(flags: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(pc.fill_null(flags, False).to_numpy(zero_copy_only=False), index=index)


def _where(mask: pd.Series, reason: pd.Series | str) -> pd.Series:
    mask = mask.fillna(False).astype(bool)
    if isinstance(reason, str):
        return pd.Series(reason, index=mask.index[mask], dtype=object)
    return reason[mask].astype(object)


def repeated_records(frame: pd.DataFrame) -> tuple[pd.DataFrame, int, pd.Series]:
    """Settle source ids that occur more than once: (frame without them, copies collapsed, conflict reasons).

    Identical copies (every canonical column equal) collapse to the first. Versions that differ are
    all rejected, whatever their modification times: a file cannot say which row is true, and a
    record that changed while a SIS was being paged is loaded by the next sync rather than guessed at.
    """
    ids = frame["source_id"]
    repeated = ids.notna() & ids.duplicated(keep=False)
    if not repeated.any():
        return frame, 0, pd.Series(dtype=object)
    rows = frame[repeated]
    versions = rows.drop_duplicates()
    version_count = versions.groupby("source_id")["source_id"].size()
    conflicting = rows["source_id"].map(version_count) > 1
    copies = rows.index.difference(versions.index)
    dropped = rows.index[conflicting].union(copies)
    counts = rows.loc[conflicting, "source_id"].map(rows["source_id"].value_counts())
    reasons = (
        "source_id: " + rows.loc[conflicting, "source_id"].astype(str) + " occurs " + counts.astype(str)
        + " times with different content; none of them is loaded"
    )
    collapsed = len(copies.difference(rows.index[conflicting]))
    return frame.drop(index=dropped), collapsed, reasons.astype(object)
