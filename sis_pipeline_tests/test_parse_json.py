"""Pages are parsed with orjson where it gives exactly what Python's json gives, and with Python's json otherwise."""

import json

import httpx
import pytest

from sis_pipeline.providers.common.http import has_long_number, parse_json

BODIES = {
    "plain page": b'{"users": [{"sourcedId": "s1", "n": 12, "x": 1.5, "ok": true, "none": null}]}',
    "an escaped lone surrogate": b'{"users": [{"givenName": "A\\ud800"}]}',
    "an integer past 64 bits": b'{"users": [{"n": 123456789012345678901234567890}]}',
    "a negative integer past 64 bits": b'{"users": [{"n": -9223372036854775809}]}',
    "the largest unsigned 64-bit integer": b'{"users": [{"n": 18446744073709551615}]}',
    "NaN": b'{"users": [{"n": NaN}]}',
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_a_page_parses_exactly_as_pythons_json_parses_it(body):
    parsed = parse_json(httpx.Response(200, content=body))
    expected = json.loads(body)
    assert repr(parsed) == repr(expected)  # repr: NaN != NaN, and 1e+29 == 10**29 would hide a rounding


def test_a_cut_body_is_a_value_error():
    with pytest.raises(ValueError):
        parse_json(httpx.Response(200, content=b'{"users": [{"sourcedId": "s1"'))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"n": 1234567890123456789}', True),  # 19 digits: past what orjson is trusted with
        (b'{"n": 123456789012345678}', False),
        (b'{"id": "x12345678901234567890y"}', True),  # inside a string counts too (cheap, and only costs speed)
        (b'{"n": 123456789.0123456789}', False),
        (b'{"n": 1111111111111111111}', True),
    ],
)
def test_a_long_number_is_found_wherever_19_digits_stand_in_a_row(content, expected):
    assert has_long_number(content) is expected
