"""Split a canonical frame into rows that load and rows kept aside with the reasons they failed."""

import pandas as pd
import pandera.errors

from sis_pipeline.normalize.models import MODELS

MAX_REASONS_PER_ROW = 5


def validate(entity: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Valid rows (coerced to the model) and, for each rejected row index, why it was rejected."""
    model = MODELS[entity]
    try:
        return model.validate(frame, lazy=True), pd.Series(dtype=object)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    row_cases = cases[cases["index"].notna()]
    frame_cases = cases[cases["index"].isna()]
    if not frame_cases.empty:  # a missing column or a wrong dtype is our bug, not the district's data
        raise ValueError(f"{entity}: canonical frame does not fit its model: {frame_cases.to_dict('records')[:3]}")
    described = row_cases["column"].astype(str) + ": " + row_cases["check"].astype(str) + " (got " + row_cases["failure_case"].astype(str).str.slice(0, 80) + ")"
    reasons = described.groupby(row_cases["index"].astype(frame.index.dtype)).agg(lambda r: "; ".join(list(dict.fromkeys(r))[:MAX_REASONS_PER_ROW]))
    valid = model.validate(frame.drop(index=reasons.index), lazy=True)
    return valid, reasons


def orphan_reasons(frame: pd.DataFrame, column: str, known: pd.Index, what: str) -> pd.Series:
    """Reasons for rows whose reference in `column` names nothing among `known` ids of this sync."""
    missing = frame[column].notna() & ~frame[column].isin(known)
    return f"{column}: " + frame.loc[missing, column].astype(str) + f" names none of this sync's {what}"
