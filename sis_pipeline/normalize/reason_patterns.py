"""A rejection reason without its specific values, so that a million records refused for one cause group as one.

Reasons are worded by normalize/checks.py, normalize/validate.py and the providers' input errors, e.g.
`birth_date: 2099-01-01 is after the run's date 2026-05-04` or `last_name: str_length(1, None) (got )`.
They live next to the wording they undo. The same rules run in pandas (to bound the payloads the
normaliser keeps) and in the warehouse (reporting/rejections_summary.py), so that a report groups in the
database, never in Python memory. Stripping the values also keeps names and birth dates out of a report.
"""

import re

import pandas as pd

# (pattern, replacement): valid both as Python `re` and as PostgreSQL's advanced regular expressions.
# `[^;]` keeps a match inside one reason: a record's reasons are joined by "; ".
RULES = (
    (r"\(got .*?\)(?=; |$)", "(got ...)"),
    (r"[0-9]{4}-[0-9]{2}-[0-9]{2} is after the run's date [0-9]{4}-[0-9]{2}-[0-9]{2}", "... is after the run's date"),
    (r"([a-z_]+): [^;]*? names none of", r"\1: ... names none of"),
    (r"source_id: [^;]*? occurs [0-9]+ times", "source_id: ... occurs ... times"),
    (r": [0-9]+ characters, more than", ": ... characters, more than"),
    (r"\.csv line [0-9]+: [0-9]+ cells", ".csv line ...: ... cells"),
)
SEPARATOR = "; "
_COMPILED = [(re.compile(pattern), replacement) for pattern, replacement in RULES]


def reason_pattern(reasons: str | None) -> str | None:
    """`birth_date: 2099-01-01 is after the run's date 2026-05-04` -> `birth_date: ... is after the run's date`."""
    if reasons is None:
        return None
    for pattern, replacement in _COMPILED:
        reasons = pattern.sub(replacement, reasons)
    return reasons


def reason_patterns(reasons: pd.Series) -> pd.Series:
    """The same for a whole column, vectorised."""
    patterns = reasons.astype("string")
    for pattern, replacement in RULES:
        patterns = patterns.str.replace(pattern, replacement, regex=True)
    return patterns

