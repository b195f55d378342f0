"""Values a record arrived with that the warehouse will not take from this run, while the record itself loads.

These are warnings, not rejections: a timestamp or boolean the normaliser could not read is dropped
(the column is left empty), and columns a related collection did not deliver keep the warehouse's values.
Per entity they are counted by reason, the counts travel to the run's `counts["warnings"]`.
"""

import pandas as pd

from sis_pipeline.normalize import values as v

# conversions that turn a value they cannot read into a missing one rather than leave it for validation
DROPPING = (v.utc_timestamp, v.boolean)


def value_warnings(normalizer, entity: str, raw: pd.DataFrame, frame: pd.DataFrame, kept: pd.Series) -> dict[str, int]:
    """Reason -> how many loading records it concerns; `frame` holds the loading records, `kept` their not-delivered columns."""
    found: dict[str, int] = {}
    for name, column in normalizer.columns.get(entity, {}).items():
        if isinstance(column, str) or column[0] not in DROPPING:
            continue
        sent = v.text(v.column(raw, column[1]).reindex(frame.index)).notna()
        dropped = int((sent & frame[name].isna()).sum())
        if dropped:
            found[f"{name}: unreadable {column[1]} dropped, the record kept"] = dropped
    for names, rows in kept.dropna().value_counts().sort_index().items():
        found[f"{names}: not delivered, the warehouse keeps its values"] = int(rows)
    return found
