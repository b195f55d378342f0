"""Validation through the cheaper schema (validate.fast_schema) equals validation by the models themselves."""

import pandas as pd
import pytest

from sis_pipeline.normalize.models import ENTITIES, MODELS
from sis_pipeline.normalize.validate import fast_schema, split_by_schema, validate

# What each column holds when the row is sound; a dash of bad values goes in below.
GOOD = {
    "integration": "bench_district", "status": "active", "role": "student", "grade_level": "05",
    "enrollment_status": "active", "start_date": "2020-01-01", "end_date": "9999-12-31",
    "begin_date": "2021-08-20", "birth_date": "2012-03-04",
}
BAD_TEXT = ["", None, "2020-02-30", "2020-1-1", 7, "Bad!", "tobedeleted", "teacher", " ", "x", "2020-01-01"]
BAD_BOOL = [None, "maybe"]
BAD_TIME = [None]


def dirty_frame(entity: str, rows: int = 120) -> pd.DataFrame:
    """Sound rows, with about one value in seven replaced by an empty, malformed or non-text one."""
    columns = {}
    for offset, (name, column) in enumerate(MODELS[entity].to_schema().columns.items()):
        kind = str(column.dtype)
        good, bad = (True, BAD_BOOL) if kind == "boolean" else (
            (pd.Timestamp("2026-11-30T08:00Z"), BAD_TIME) if kind.startswith("datetime") else (GOOD.get(name, "x"), BAD_TEXT)
        )
        values = [bad[(3 * n + offset) % len(bad)] if (n + offset) % 7 == 0 else good for n in range(rows)]
        columns[name] = pd.Series(values, dtype=object)
    frame = pd.DataFrame(columns)
    frame["source_id"] = [f"id-{n}" if n % 17 else "" for n in range(rows)]  # unique, except the empty ones
    frame.loc[::29, "source_id"] = None
    return frame


@pytest.mark.parametrize("entity", ENTITIES)
def test_fast_schema_keeps_every_row_and_reason_of_the_model(entity):
    frame = dirty_frame(entity)
    valid, reasons = validate(entity, frame)
    expected_valid, expected_reasons = split_by_schema(entity, MODELS[entity].to_schema(), frame)
    assert len(expected_reasons) > 0 and len(expected_valid) > 0  # the frame exercises both outcomes
    pd.testing.assert_series_equal(reasons.sort_index(), expected_reasons.sort_index())
    pd.testing.assert_frame_equal(valid, expected_valid)


def test_the_cheaper_rules_are_in_use():
    """Guards the equality test above from comparing the models with themselves."""
    labels = {check.name: check for column in fast_schema("enrollments").columns.values() for check in column.checks}
    assert labels["str_matches"]._check_fn.func.__name__ == "_matches_per_distinct"
    assert labels["str_length"]._check_fn.__name__ == "_not_empty"
    assert type(fast_schema("enrollments").columns["role"].dtype).__name__ == "Text"
