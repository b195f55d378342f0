"""The small vectorised conversions every normaliser relies on."""

import pandas as pd

from sis_pipeline.normalize import values as v


def test_grades_map_to_one_vocabulary():
    raw = pd.Series(["PK", "K", "KG", "K4", "0", "-1", "1", "01", "9", "12", " 7 ", "13", "UG", None, ""])
    assert v.grade(raw).tolist() == ["PK", "KG", "KG", "PK", "KG", "PK", "01", "01", "09", "12", "07", "other", "other", None, None]


def test_status_reads_inactive_as_tobedeleted_and_keeps_unknown_for_validation():
    raw = pd.Series(["active", "Inactive", "tobedeleted", " ACTIVE", "bogus", None])
    assert v.status(raw).tolist() == ["active", "tobedeleted", "tobedeleted", "active", "bogus", None]


def test_booleans_from_strings_and_json():
    raw = pd.Series(["true", "False", True, False, "maybe", None])
    assert v.boolean(raw).tolist() == [True, False, True, False, pd.NA, pd.NA]


def test_iso_dates_keep_date_part_and_leave_garbage_for_validation():
    raw = pd.Series(["2026-08-15", "2026-08-15T00:00:00Z", "1/05/2023", None, "  "])
    assert v.iso_date(raw).tolist() == ["2026-08-15", "2026-08-15", "1/05/2023", None, None]


def test_joined_lists():
    assert v.joined(pd.Series([["01", "02"], [], None, "x"])).tolist() == ["01,02", None, None, None]


def test_timestamps_are_utc():
    stamps = v.utc_timestamp(pd.Series(["2026-11-01T10:00:00.000Z", "2026-11-01T05:00:00-05:00", "nope"]))
    assert str(stamps.dt.tz) == "UTC"
    assert stamps[0] == stamps[1] and pd.isna(stamps[2])


def test_calendar_dates_parsed_fast_agree_with_the_arithmetic_at_every_edge():
    from sis_pipeline.normalize.models import _is_calendar_date_by_parts, is_calendar_date

    dates = pd.Series(
        ["2026-09-01", "2024-02-29", "2026-02-29", "2000-02-29", "1900-02-29", "9999-12-31", "0001-01-01", "0000-01-01",
         "1677-12-31", "2262-04-12", "2263-01-01", "2026-13-01", "2026-04-31", "2026-1-01", "2026-01-01\n", " 2026-01-01",
         "2026-01-01T00:00:00Z", "", None, "２０２６-01-01"],
        dtype=object,
    )
    fast = is_calendar_date(dates)
    assert fast.dtype == bool and fast.tolist() == _is_calendar_date_by_parts(dates).tolist()
    assert fast.iloc[:8].tolist() == [True, True, False, True, False, True, True, False]


def _pandas_only(monkeypatch, module):
    monkeypatch.setattr(module, "arrow_strings", lambda series: None)


def test_text_through_arrow_equals_pythons_strip(monkeypatch):
    from sis_pipeline.normalize import values

    cases = [
        pd.Series([" a ", None, float("nan"), "", "  ", "\x1c b\u3000", "x\x00y", "é\u2029"], index=range(5, 13)),
        pd.Series([1, " a", None]),  # not all text: pandas' path
        pd.Series(["a\ud800 ", " b"]),  # a lone surrogate Arrow cannot hold: pandas' path
        pd.Series([None, None], dtype=object),
    ]
    arrow = [values.text(case) for case in cases]
    _pandas_only(monkeypatch, values)
    for fast, case in zip(arrow, cases):
        pd.testing.assert_series_equal(fast, values.text(case))


def test_input_checks_through_arrow_equal_the_pandas_string_methods(monkeypatch):
    from datetime import date

    from sis_pipeline.normalize import checks

    frame = pd.DataFrame(
        {
            "integration": ["d"] * 6,
            "source_id": ["a", "x" * 600, "c\x00", None, "e", "f"],
            "first_name": ["ok", "y" * 200_000, "fine", "Nul\x00", "Lone\ud800", None],
            "grade": ["01", 5, "02", None, "03", "04"],  # not all text
            "extra": ['{"a": 1}', '{"a": "\\u0000"}', None, "{}", "{}", "{}"],
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    fast = checks.input_reasons(frame, None, date(2026, 9, 1))
    assert list(fast.index) == [11, 12, 13, 14] and "characters, more than 512" in fast[11] and "lone surrogate" in fast[14]
    _pandas_only(monkeypatch, checks)
    pd.testing.assert_series_equal(fast, checks.input_reasons(frame, None, date(2026, 9, 1)))


def test_the_whitespace_arrow_trims_is_what_python_strips():
    from sis_pipeline.normalize.values import WHITESPACE

    assert set(WHITESPACE) == {c for c in map(chr, range(0x110000)) if c.isspace()}
