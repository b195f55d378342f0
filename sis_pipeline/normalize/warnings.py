"""Values a record arrived with that the warehouse will not take from this run, while the record itself loads.

These are warnings, not rejections: a timestamp or boolean the normaliser could not read is dropped
(the column is left empty), and columns a related collection did not deliver keep the warehouse's values.
Per entity they are counted by reason, the counts travel to the run's `counts["warnings"]`.
"""

from collections import Counter
from collections.abc import Mapping

import pandas as pd

from sis_pipeline.normalize import values as v

# conversions that turn a value they cannot read into a missing one rather than leave it for validation
DROPPING = (v.utc_timestamp, v.boolean)


def _dropping_columns(normalizer, entity: str) -> dict[str, str]:
    """Canonical column -> the raw field a DROPPING conversion reads it from."""
    return {
        name: column[1]
        for name, column in normalizer.columns.get(entity, {}).items()
        if not isinstance(column, str) and column[0] in DROPPING
    }


def sent_flags(normalizer, entity: str, raw: pd.DataFrame) -> pd.DataFrame:
    """Per raw record and DROPPING column, whether the record sent a value for it.

    Computed from the raw records alone, so a chunked run can keep these few booleans instead of the records.
    """
    return pd.DataFrame(
        {name: v.text(v.column(raw, path)).notna() for name, path in _dropping_columns(normalizer, entity).items()},
        index=raw.index,
    )


def dropped_counts(sent: pd.DataFrame, frame: pd.DataFrame) -> Counter:
    """Per DROPPING column, how many loading records (`frame`) sent a value that was dropped."""
    return Counter({name: int((sent[name].reindex(frame.index).fillna(False) & frame[name].isna()).sum()) for name in sent})


def warnings_from_counts(normalizer, entity: str, dropped: Mapping[str, int], kept: Mapping[str, int]) -> dict[str, int]:
    """Reason -> count, in one order whether counted at once or summed over chunks: columns as declared, then kept names sorted."""
    found: dict[str, int] = {}
    for name, path in _dropping_columns(normalizer, entity).items():
        if dropped.get(name):
            found[f"{name}: unreadable {path} dropped, the record kept"] = int(dropped[name])
    for names in sorted(kept):
        if kept[names]:
            found[f"{names}: not delivered, the warehouse keeps its values"] = int(kept[names])
    return found


def value_warnings(normalizer, entity: str, raw: pd.DataFrame, frame: pd.DataFrame, kept: pd.Series) -> dict[str, int]:
    """Reason -> how many loading records it concerns; `frame` holds the loading records, `kept` their not-delivered columns."""
    dropped = dropped_counts(sent_flags(normalizer, entity, raw), frame)
    return warnings_from_counts(normalizer, entity, dropped, Counter(kept.dropna().value_counts().to_dict()))
