"""OneRoster `filter=` expressions on `dateLastModified` and `status`.

A filter is evaluated three ways: on one record (changed or added ones), as a NumPy mask over the
generated timestamps of millions of records, and as a quick "could any generated record match at
all?" test. The last one is what keeps `dateLastModified>'<last sync>'` cheap: generated records
all predate BASE_MODIFIED_END, so such a filter only has to look at the changed ones.
"""

import operator
import re
from dataclasses import dataclass

import numpy as np

from sis_simulators.timestamps import BASE_END_MS, BASE_START_MS, parse_ms

OPERATORS = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
FILTERABLE_FIELDS = ("dateLastModified", "status")
_PREDICATE = re.compile(r"^\s*(\w+)\s*(!=|>=|<=|=|>|<|~)\s*'([^']*)'\s*$")
# Every generated record is active and was modified inside this closed range.
_BASE_STATUS = "active"
_BASE_FIRST_MS, _BASE_LAST_MS = BASE_START_MS, BASE_END_MS - 1


class FilterError(ValueError):
    """A filter the simulator cannot evaluate; `field` is what to name in the imsx error."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Predicate:
    field: str
    op: str
    operand: int | str  # epoch milliseconds for dateLastModified, the literal for status

    def matches(self, record: dict) -> bool:
        raw = record.get(self.field)
        if raw is None:
            return False
        if self.field == "dateLastModified":
            try:
                raw = parse_ms(raw)
            except ValueError:
                return False
        return OPERATORS[self.op](raw, self.operand)

    def may_match_generated(self) -> bool:
        compare, operand = OPERATORS[self.op], self.operand
        if self.field == "status":
            return compare(_BASE_STATUS, operand)
        if self.op in (">", ">="):
            return compare(_BASE_LAST_MS, operand)
        if self.op in ("<", "<="):
            return compare(_BASE_FIRST_MS, operand)
        if self.op == "=":
            return _BASE_FIRST_MS <= operand <= _BASE_LAST_MS
        return True

    def generated_mask(self, modified_ms: np.ndarray) -> np.ndarray:
        if self.field == "status":
            return np.full(modified_ms.shape, OPERATORS[self.op](_BASE_STATUS, self.operand))
        return OPERATORS[self.op](modified_ms, self.operand)


@dataclass(frozen=True)
class RecordFilter:
    predicates: tuple[Predicate, ...]
    conjunction: str  # "AND" or "OR"

    def _combine(self, results):
        return all(results) if self.conjunction == "AND" else any(results)

    def matches(self, record: dict) -> bool:
        return self._combine(predicate.matches(record) for predicate in self.predicates)

    def may_match_generated(self) -> bool:
        """False when no unchanged generated record can match, so only changes need scanning."""
        return self._combine(predicate.may_match_generated() for predicate in self.predicates)

    def generated_mask(self, modified_ms: np.ndarray) -> np.ndarray:
        masks = [predicate.generated_mask(modified_ms) for predicate in self.predicates]
        combine = np.logical_and if self.conjunction == "AND" else np.logical_or
        return combine.reduce(masks)


def _operand(field: str, value: str) -> int | str:
    if field != "dateLastModified":
        return value
    try:
        return parse_ms(value)
    except ValueError:
        raise FilterError(f"{value!r} is not an ISO 8601 timestamp", field) from None


def parse_filter(text: str) -> RecordFilter:
    """Parse `field op 'value'` predicates joined by ` AND ` or ` OR ` (not both)."""
    has_and, has_or = " AND " in text, " OR " in text
    if has_and and has_or:
        raise FilterError("mixing AND and OR in one filter is not allowed", "filter")
    conjunction = "OR" if has_or else "AND"
    predicates = []
    for part in text.split(f" {conjunction} "):
        match = _PREDICATE.match(part)
        if not match:
            raise FilterError(f"cannot parse filter predicate {part!r}", "filter")
        field, op, value = match.groups()
        if field not in FILTERABLE_FIELDS:
            raise FilterError(f"filtering on {field!r} is not supported; use {' or '.join(FILTERABLE_FIELDS)}", field)
        if op not in OPERATORS:
            raise FilterError(f"operator {op!r} is not supported on {field}", field)
        predicates.append(Predicate(field, op, _operand(field, value)))
    return RecordFilter(tuple(predicates), conjunction)
