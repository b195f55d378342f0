"""The identity step's view of the warehouse: the links it made, and the children a delivery could be.

A small delivery (an incremental run) is matched against only the rows that could match it, fetched
by key: its source and legacy ids, state ids, student numbers and birth dates. A large one (a full
sync) reads every student row once, which costs less than thousands of keyed lookups.
"""

from collections.abc import Iterable
from datetime import date
from functools import partial

import pandas as pd
from sqlalchemy import Engine, and_, select

from sis_pipeline.resolve.identity import IdentityIndex
from sis_pipeline.warehouse.bulk_read import read_text_frame
from sis_pipeline.warehouse.schema import ENTITY_TABLES, student_mappings

_PEOPLE = ("integration", "source_id", "student_uid", "state_id", "student_number", "first_name", "last_name", "birth_date")


def read_student_mappings(engine: Engine, integration: str) -> pd.DataFrame:
    """Every id of the integration already linked to a child: id_type, source_id, student_uid."""
    query = select(student_mappings.c.id_type, student_mappings.c.source_id, student_mappings.c.student_uid).where(
        student_mappings.c.integration == integration
    )
    return read_text_frame(engine, query, ["id_type", "source_id", "student_uid"])


TARGETED_UP_TO = 5_000  # records in a delivery matched by keyed lookups; more are matched against every row
_KEYS_PER_QUERY = 1_000


def read_identity_index(engine: Engine, integration: str, delivery: pd.DataFrame | None = None, *, people_when_needed: bool = False) -> IdentityIndex:
    """The integration's links and the student rows of every integration (ids, names and birth dates only)
    that the `delivery` could match; every row when no delivery is given or it is large. With
    `people_when_needed`, the student rows are read when the identity step first asks for them (the
    engine must still be open then)."""
    if delivery is None or len(delivery) > TARGETED_UP_TO:
        people = partial(_people, engine, [None])
        return IdentityIndex(read_student_mappings(engine, integration), people if people_when_needed else people())
    students = ENTITY_TABLES["students"]
    ids = _values(delivery, "source_id") | _values(delivery, "legacy_source_id")
    links = [
        student_mappings.c.source_id.in_(chunk) for chunk in _chunks(ids)
    ]
    births = {date.fromisoformat(day) for day in _values(delivery, "birth_date")}
    wanted = [
        *(students.c.state_id.in_(chunk) for chunk in _chunks(_values(delivery, "state_id"))),
        *(and_(students.c.integration == integration, students.c.student_number.in_(chunk))
          for chunk in _chunks(_values(delivery, "student_number"))),
        *(students.c.birth_date.in_(chunk) for chunk in _chunks(births)),
    ]
    mappings = _links(engine, integration, links)
    people = partial(_matching_people, engine, wanted)
    return IdentityIndex(mappings, people if people_when_needed else people())


def _matching_people(engine: Engine, wanted: list) -> pd.DataFrame:
    return _people(engine, wanted).drop_duplicates(["integration", "source_id"]) if wanted else _people(engine, [])


def _links(engine: Engine, integration: str, conditions: list) -> pd.DataFrame:
    columns = (student_mappings.c.id_type, student_mappings.c.source_id, student_mappings.c.student_uid)
    with engine.connect() as conn:
        rows = [
            row for condition in conditions
            for row in conn.execute(select(*columns).where(student_mappings.c.integration == integration, condition))
        ]
    return pd.DataFrame(rows, columns=["id_type", "source_id", "student_uid"], dtype=object)


def _people(engine: Engine, conditions: list) -> pd.DataFrame:
    """Student rows meeting any of `conditions` (None: every row), one query per condition."""
    students = ENTITY_TABLES["students"]
    query = select(*(students.c[name] for name in _PEOPLE))
    if conditions == [None]:  # every row: streamed (bulk_read.py)
        frame = read_text_frame(engine, query, list(_PEOPLE))
    else:
        with engine.connect() as conn:
            rows = [row for condition in conditions for row in conn.execute(query.where(condition))]
        frame = pd.DataFrame(rows, columns=list(_PEOPLE), dtype=object)
    frame["birth_date"] = frame["birth_date"].map(lambda day: None if day is None else str(day)[:10])
    return frame


def _values(frame: pd.DataFrame, column: str) -> set:
    return set(frame[column].dropna().astype(str)) if column in frame else set()


def _chunks(values: Iterable) -> list[list]:
    ordered = sorted(values)
    return [ordered[start:start + _KEYS_PER_QUERY] for start in range(0, len(ordered), _KEYS_PER_QUERY)]
