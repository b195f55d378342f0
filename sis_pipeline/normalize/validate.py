"""Split a canonical frame into rows that load and rows kept aside with the reasons they failed.

Validation runs the models of models.py through a schema with the same rules, reasons and labels, in
which three per-value Python loops are replaced (profiled at 100k students: half of normalising):

- the `str` dtype check, which pandera makes with a lambda per value, is one C pass when every value is
  already a string (coercion made it so); otherwise pandera's own check runs;
- `str_matches` is judged once per distinct value: a district's dates and its integration name repeat;
- `str_length` with a minimum of 1 and no maximum is "not the empty string", a vectorised comparison.
"""

from functools import cache, partial

import numpy as np
import pandas as pd
import pandera.errors
import pandera.pandas as pa
from pandas.api.types import infer_dtype
from pandera import dtypes
from pandera.engines import pandas_engine

from sis_pipeline.normalize.models import MODELS
from sis_pipeline.normalize.values import per_distinct

MAX_REASONS_PER_ROW = 5


def validate(entity: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Valid rows (coerced to the model) and, for each rejected row index, why it was rejected."""
    return split_by_schema(entity, fast_schema(entity), frame)


def split_by_schema(entity: str, schema: pa.DataFrameSchema, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """`validate` with a given schema (the models' own one is the equality tests' reference)."""
    try:
        return schema.validate(frame, lazy=True), pd.Series(dtype=object)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    row_cases = cases[cases["index"].notna()]
    frame_cases = cases[cases["index"].isna()]
    if not frame_cases.empty:  # a missing column or a wrong dtype is our bug, not the district's data
        raise ValueError(f"{entity}: canonical frame does not fit its model: {frame_cases.to_dict('records')[:3]}")
    described = row_cases["column"].astype(str) + ": " + row_cases["check"].astype(str) + " (got " + row_cases["failure_case"].astype(str).str.slice(0, 80) + ")"
    reasons = described.groupby(row_cases["index"].astype(frame.index.dtype)).agg(lambda r: "; ".join(list(dict.fromkeys(r))[:MAX_REASONS_PER_ROW]))
    valid = schema.validate(frame.drop(index=reasons.index), lazy=True)
    return valid, reasons


def orphan_reasons(frame: pd.DataFrame, column: str, known: list, what: str) -> pd.Series:
    """Reasons for rows whose reference in `column` names nothing in any of the `known` id sets (related.id_set) of this sync."""
    named = np.zeros(len(frame), dtype=bool)
    for ids in known:
        named |= ids.contains(frame[column])
    missing = frame[column].notna().to_numpy() & ~named
    return f"{column}: " + frame.loc[missing, column].astype(str) + f" names none of this sync's {what}"


@cache
def fast_schema(entity: str) -> pa.DataFrameSchema:
    """The entity's model as a schema whose costly rules are computed the cheap way (see the module's docstring)."""
    schema = MODELS[entity].to_schema()
    for name, column in schema.columns.items():
        text = isinstance(column.dtype, pandas_engine.NpString)
        schema = schema.update_column(
            name, dtype=Text() if text else column.dtype, checks=[_cheaper(check) for check in column.checks]
        )
    return schema


@pandas_engine.Engine.register_dtype
@dtypes.immutable
class Text(pandas_engine.NpString):
    """pandera's `str`, checked in one pass when every value is a string (what coercion leaves)."""

    def check(self, pandera_dtype, data_container=None):
        if data_container is not None and infer_dtype(data_container, skipna=True) in ("string", "empty"):
            return True
        return super().check(pandera_dtype, data_container)

    def __str__(self) -> str:
        return "str"


def _cheaper(check: pa.Check) -> pa.Check:
    """The same rule, name and label, computed without a Python call per value where that is possible."""
    statistics = check.statistics or {}
    if check.name == "str_matches":
        rule = partial(_matches_per_distinct, pattern=statistics["pattern"])
    elif check.name == "str_length" and statistics.get("min_value") == 1 and statistics.get("max_value") is None:
        rule = _not_empty
    else:
        return check
    return pa.Check(rule, name=check.name, error=check.error, ignore_na=check.ignore_na, statistics=statistics)


def _matches_per_distinct(series: pd.Series, *, pattern) -> pd.Series:
    return per_distinct(series, lambda values: values.str.match(pattern).fillna(False), missing=True)


def _not_empty(series: pd.Series) -> pd.Series:
    return series.ne("")
