"""The POST body of a Generic API list: a SearchCondition on ModifiedTime, as a RecordFilter.

Only ModifiedTime can be searched, with the comparisons a delta sync needs. The value is the
district's wall clock; it is compared as an instant, so the OneRoster simulator's filter machinery
(which scans millions of generated timestamps vectorised) answers it unchanged.
ModifiedTime is served to the second, so a comparison is made on whole seconds.
"""

from sis_simulators.filters import Predicate, RecordFilter
from sis_simulators.qmlativ.roster import MODIFIED_TIME, local_to_utc_ms
from sis_simulators.qmlativ.settings import QmlativSettings

CONDITION_KINDS = ("DateSearchCondition", "StringSearchCondition")
_SECOND_MS = 1000
# ConditionType -> (operator on the instant, milliseconds to add to the value) for whole-second semantics
COMPARISONS = {
    "GreaterThanOrEqual": (">=", 0),
    "GreaterThan": (">=", _SECOND_MS),
    "LessThan": ("<", 0),
    "LessThanOrEqual": ("<", _SECOND_MS),
}
GROUP_TYPES = {"and": "AND", "or": "OR"}


class SearchError(ValueError):
    """A search the simulator cannot evaluate, with a message that says why."""


def _key(mapping: dict, name: str):
    """Qmlativ clients disagree on key case (`ConditionType`, `Conditiontype`)."""
    return next((value for key, value in mapping.items() if key.lower() == name.lower()), None)


def _object(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise SearchError(f"{what} must be a JSON object")
    return value


def _predicate(condition: dict, settings: QmlativSettings) -> Predicate:
    kinds = [kind for kind in CONDITION_KINDS if _key(condition, kind) is not None]
    if len(kinds) != 1:
        raise SearchError(f"each condition must hold exactly one of {', '.join(CONDITION_KINDS)}")
    search = _object(_key(condition, kinds[0]), kinds[0])
    field, comparison, value = _key(search, "FieldName"), _key(search, "ConditionType"), _key(search, "Value")
    if field != MODIFIED_TIME:
        raise SearchError(f"searching on {field!r} is not supported; search on {MODIFIED_TIME}")
    if comparison not in COMPARISONS:
        raise SearchError(f"ConditionType {comparison!r} is not supported; use one of {', '.join(COMPARISONS)}")
    try:
        instant_ms = local_to_utc_ms(value, settings) // _SECOND_MS * _SECOND_MS
    except (AttributeError, TypeError, ValueError):
        raise SearchError(f"Value {value!r} is not an ISO date and time") from None
    op, shift_ms = COMPARISONS[comparison]
    return Predicate("dateLastModified", op, instant_ms + shift_ms)


def parse_search(body: dict, settings: QmlativSettings) -> RecordFilter | None:
    """The filter a SearchCondition asks for; None when it holds no conditions."""
    condition = _object(_key(_object(body, "the body"), "SearchCondition"), "SearchCondition")
    group = _object(_key(condition, "SearchConditionGroup"), "SearchConditionGroup")
    group_type = str(_key(group, "ConditionGroupType") or "And").lower()
    if group_type not in GROUP_TYPES:
        raise SearchError(f"ConditionGroupType must be And or Or, got {group_type!r}")
    conditions = _key(group, "Conditions") or []
    if not isinstance(conditions, list):
        raise SearchError("Conditions must be a list")
    predicates = tuple(_predicate(_object(item, "a condition"), settings) for item in conditions)
    return RecordFilter(predicates, GROUP_TYPES[group_type]) if predicates else None
