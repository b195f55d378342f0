"""Local edits (`local_overrides`) and the conflicts they meet (`sync_conflicts`), owned here alone.

A person's edit is laid over the child's golden record (profiles.py); the `students` rows keep
mirroring the SIS. What a sync does to an edit is decided by resolve/conflicts.py and applied here,
inside the load's transaction, so a failed or held run changes no edit and records no conflict.
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import Connection, Engine, and_, bindparam, insert, select, update

from sis_pipeline.resolve.conflicts import decide_conflicts
from sis_pipeline.warehouse.profiles import refresh_profiles
from sis_pipeline.warehouse.schema import ENTITY_TABLES, OVERRIDABLE_FIELDS, local_overrides, student_profiles, sync_conflicts


class EditRefused(ValueError):
    """An edit or a resolution that cannot be applied, with what to do instead."""


def active_overrides(engine: Engine, uids: Iterable[str]) -> pd.DataFrame:
    """Active edits of these children: override_id, student_uid, field, value, set_at."""
    uids = list(dict.fromkeys(uids))
    columns = ["override_id", "student_uid", "field", "value", "set_at"]
    query = select(local_overrides.c.id, local_overrides.c.student_uid, local_overrides.c.field, local_overrides.c.value,
                   local_overrides.c.set_at).where(local_overrides.c.retired_at.is_(None))
    with engine.connect() as conn:
        if conn.execute(query.limit(1)).first() is None:
            return pd.DataFrame(columns=columns)  # no edits at all: the common case costs one query
        wanted = set(uids)
        rows = [row for row in conn.execute(query) if row.student_uid in wanted]
    return pd.DataFrame(rows, columns=columns)


def edited_uids(engine: Engine) -> set[str]:
    """Every child with an active edit: the only ones whose incoming SIS values settle_conflicts needs."""
    query = select(local_overrides.c.student_uid).where(local_overrides.c.retired_at.is_(None)).distinct()
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def synced_rows(engine: Engine, integration: str, source_ids: Iterable[str]) -> pd.DataFrame:
    """The warehouse's rows of these records (the SIS's values as last synced)."""
    students = ENTITY_TABLES["students"]
    ids = list(dict.fromkeys(source_ids))
    if not ids:
        return pd.DataFrame(columns=["source_id"])
    with engine.connect() as conn:
        rows = [
            row._asdict()
            for start in range(0, len(ids), 1000)
            for row in conn.execute(select(students).where(students.c.integration == integration, students.c.source_id.in_(ids[start:start + 1000])))
        ]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["source_id"])


def settle_conflicts(engine: Engine, integration: str, strategy: str, students: pd.DataFrame) -> pd.DataFrame:
    """What the incoming SIS values do to the children's local edits (resolve/conflicts.py decides)."""
    overrides = active_overrides(engine, students["student_uid"])
    edited = students[students["student_uid"].isin(overrides["student_uid"])]
    return decide_conflicts(strategy, edited, overrides, synced_rows(engine, integration, edited["source_id"]))


def apply_decisions(conn: Connection, integration: str, run_id: str, decisions: pd.DataFrame, now: datetime, strategy: str) -> dict:
    """In the load's transaction: retire the edits the SIS won, record the conflicts a person must decide.

    Two batched statements. A SIS change is a conflict once: the same load writes the new SIS value
    into `students`, which is the base the next run compares against.
    """
    retired = decisions[decisions["action"] == "retire"]
    if len(retired):
        conn.execute(
            update(local_overrides)
            .where(local_overrides.c.id == bindparam("edit"), local_overrides.c.retired_at.is_(None))
            .values(retired_at=now, retired_why=bindparam("why")),
            [{"edit": int(row.override_id), "why": f"the SIS changed {row.field} ({strategy})"} for row in retired.itertuples()],
        )
    conflicts = [
        {
            "integration": integration, "source_id": row.source_id, "student_uid": row.student_uid, "field": row.field,
            "override_id": int(row.override_id), "base_value": row.base_value, "sis_value": row.sis_value,
            "local_value": row.local_value, "run_id": run_id, "detected_at": now,
        }
        for row in decisions[decisions["action"] == "conflict"].itertuples()
    ]
    if conflicts:
        conn.execute(insert(sync_conflicts), conflicts)
    return {"edits_retired": len(retired), "conflicts_recorded": len(conflicts)}


def set_override(engine: Engine, uid: str, field: str, value: str | None, by: str, reason: str | None,
                 priorities: Mapping[str, int] | None = None) -> int:
    """Record a person's edit of one field (retiring their earlier edit of it) and show it on the golden record."""
    if field not in OVERRIDABLE_FIELDS:
        raise EditRefused(f"{field!r} cannot be edited; editable fields: {', '.join(OVERRIDABLE_FIELDS)}")
    if field == "birth_date" and value is not None:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise EditRefused(f"birth_date must be a date as YYYY-MM-DD, got {value!r}") from None
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if conn.execute(select(student_profiles.c.student_uid).where(student_profiles.c.student_uid == uid)).first() is None:
            raise EditRefused(f"no student with student_uid {uid}")
        conn.execute(
            update(local_overrides).where(local_overrides.c.student_uid == uid, local_overrides.c.field == field,
                                          local_overrides.c.retired_at.is_(None))
            .values(retired_at=now, retired_why=f"replaced by a newer edit by {by}")
        )
        new_id = conn.execute(insert(local_overrides).values(
            student_uid=uid, field=field, value=value, set_by=by, reason=reason, set_at=now
        )).inserted_primary_key[0]
        refresh_profiles(conn, [uid], priorities or {})
    return int(new_id)


def open_conflicts(engine: Engine, integration: str | None = None) -> list[dict]:
    query = select(sync_conflicts).where(sync_conflicts.c.resolution.is_(None)).order_by(sync_conflicts.c.id)
    if integration is not None:
        query = query.where(sync_conflicts.c.integration == integration)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def resolve_conflict(engine: Engine, conflict_id: int, take: str, by: str, priorities: Mapping[str, int] | None = None) -> dict:
    """`take`: 'sis' (the edit is retired), 'local' (it stays) or 'value=...' (a new edit with that value)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conflict = conn.execute(
            select(sync_conflicts).where(sync_conflicts.c.id == conflict_id, sync_conflicts.c.resolution.is_(None))
        ).one_or_none()
        if conflict is None:
            raise EditRefused(f"no open conflict {conflict_id}; list them with `sis-pipeline conflicts list`")
        edit = and_(local_overrides.c.id == conflict.override_id, local_overrides.c.retired_at.is_(None))
        if take == "sis":
            resolution, value = "sis", conflict.sis_value
            conn.execute(update(local_overrides).where(edit).values(retired_at=now, retired_why=f"conflict {conflict_id}: {by} took the SIS value"))
        elif take == "local":
            resolution, value = "local", conflict.local_value
        elif take.startswith("value="):
            resolution, value = "value", take.removeprefix("value=")
            conn.execute(update(local_overrides).where(edit).values(retired_at=now, retired_why=f"conflict {conflict_id}: {by} set a value"))
            conn.execute(insert(local_overrides).values(student_uid=conflict.student_uid, field=conflict.field, value=value,
                                                        set_by=by, reason=f"resolved conflict {conflict_id}", set_at=now))
        else:
            raise EditRefused("--take must be sis, local or value=TEXT")
        conn.execute(update(sync_conflicts).where(sync_conflicts.c.id == conflict_id).values(
            resolution=resolution, resolved_value=value, resolved_by=by, resolved_at=now))
        refresh_profiles(conn, [conflict.student_uid], priorities or {})
    return {**conflict._mapping, "resolution": resolution, "resolved_value": value, "resolved_by": by}


def student_view(engine: Engine, uid: str) -> dict:
    """A child's golden row, its source rows (id columns only) and every edit of it."""
    students = ENTITY_TABLES["students"]
    with engine.connect() as conn:
        profile = conn.execute(select(student_profiles).where(student_profiles.c.student_uid == uid)).one_or_none()
        if profile is None:
            raise EditRefused(f"no student with student_uid {uid}")
        sources = conn.execute(
            select(students.c.integration, students.c.source_id, students.c.status, students.c.updated_at, students.c.archived_at)
            .where(students.c.student_uid == uid)
        ).all()
        edits = conn.execute(select(local_overrides).where(local_overrides.c.student_uid == uid).order_by(local_overrides.c.id)).all()
    return {
        "profile": dict(profile._mapping),
        "sources": [row._asdict() for row in sources],
        "overrides": [dict(row._mapping) for row in edits],
    }
