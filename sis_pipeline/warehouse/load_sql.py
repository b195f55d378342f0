"""The set-based statements of a load, written once for PostgreSQL and SQLite alike.

Every statement reads one entity's staging table (`staged`, holding one integration's rows without
the integration column) against its warehouse table. Parameters: `:integration`, `:now` and `:as_of`,
when the staged data was read from the SIS: a load never overwrites or archives what a load of newer
data wrote after that moment (two overlapping runs, or a held run approved late).
"""

from sqlalchemy import DateTime, Table, TextClause, bindparam, text

from sis_pipeline.resolve.identity import RULE_CONFIDENCE
from sis_pipeline.warehouse.schema import change_columns

TOBEDELETED = "'tobedeleted'"
# A SIS that cannot say this time when a record changed (PowerSchool without schema-table access) keeps
# the time it said before: not knowing is no change, and must not rewrite every row of a district.
KEPT_WHEN_UNKNOWN = ("source_updated_at",)


def _incoming(name: str, current: str, incoming: str) -> str:
    return f"COALESCE({incoming}.{name}, {current}.{name})" if name in KEPT_WHEN_UNKNOWN else f"{incoming}.{name}"


def bind(sql: str) -> TextClause:
    """Text SQL whose times are typed, so SQLite stores and compares them in the format SQLAlchemy reads back."""
    clause = text(sql)
    for name in ("now", "as_of"):
        if f":{name}" in sql:
            clause = clause.bindparams(bindparam(name, type_=DateTime(timezone=True)))
    return clause


def _stale(current: str, incoming: str) -> str:
    """True when the stored row is newer than the staged one: the SIS stamped it later, or a load wrote it
    after this data was read. Such a row is never overwritten (an older run finishing last must not win)."""
    return (
        f"(COALESCE({current}.source_updated_at > {incoming}.source_updated_at, false)"
        f" OR COALESCE({current}.updated_at > :as_of, false))"
    )


def _differs(entity: str, current: str, incoming: str, incoming_archived: str) -> str:
    """True when a row must be written: a tracked column changed, or its archived state flips."""
    column_changes = [
        f"{current}.{name} IS DISTINCT FROM {_incoming(name, current, incoming)}" for name in change_columns(entity)
    ]
    archive_flip = f"({current}.archived_at IS NOT NULL) <> ({incoming_archived})"
    return "\n     OR ".join([*column_changes, archive_flip])


def upsert(table: Table, stage: Table) -> str:
    """Insert new rows and rewrite changed ones; unchanged rows are filtered out before they are touched.

    The pre-filtering join keeps an unchanged re-sync from locking (and so dirtying) every row,
    which `ON CONFLICT ... WHERE` alone would do; the conflict clause stays for concurrent writers.
    A restored row gets `archived_at` NULL; `student_uid` is never in the update.
    """
    entity = table.name
    head = _insert_head(table, stage)
    updated_columns = change_columns(entity)
    assignments = ",\n    ".join(
        [
            *(f"{name} = {_incoming(name, entity, 'excluded')}" for name in updated_columns),
            "updated_at = excluded.updated_at",
            f"archived_at = CASE WHEN excluded.archived_at IS NULL THEN NULL "
            f"ELSE COALESCE({entity}.archived_at, excluded.archived_at) END",
        ]
    )
    return f"""
{head}
LEFT JOIN {entity} AS existing ON existing.integration = :integration AND existing.source_id = staged.source_id
WHERE existing.source_id IS NULL
     OR (({_differs(entity, "existing", "staged", f"staged.status = {TOBEDELETED}")})
         AND NOT {_stale("existing", "staged")})
ON CONFLICT (integration, source_id) DO UPDATE SET
    {assignments}
WHERE ({_differs(entity, entity, "excluded", "excluded.archived_at IS NOT NULL")})
  AND NOT {_stale(entity, "excluded")}
"""


def _insert_head(table: Table, stage: Table) -> str:
    """INSERT INTO the table SELECT every staged row's columns, with the bookkeeping ones (`staged` is the stage)."""
    staged_columns = [column.name for column in stage.columns if not column.info.get("stage_only")]
    insert_columns = ["integration", *staged_columns, "first_seen_at", "updated_at", "archived_at"]
    select = (
        f"SELECT CAST(:integration AS VARCHAR), {', '.join(f'staged.{name}' for name in staged_columns)}, :now, :now,\n"
        f"       CASE WHEN staged.status = {TOBEDELETED} THEN :now END\nFROM {stage.name} AS staged"
    )
    return f"INSERT INTO {table.name} ({', '.join(insert_columns)})\n{select}"


def insert_new(table: Table, stage: Table) -> str:
    """`upsert`'s inserts alone: staged rows the warehouse does not hold.

    No ON CONFLICT: the load holds the integration's lock (`lock_integration`), so no other writer adds
    this integration's rows meanwhile, and a plain insert skips the per-row speculative insertion that
    made a first load of 624,048 enrollments cost 2.5 times its COPY.
    """
    return f"""{_insert_head(table, stage)}
WHERE NOT EXISTS (
    SELECT 1 FROM {table.name} AS existing WHERE existing.integration = :integration AND existing.source_id = staged.source_id
)"""


def update_changed(table: Table, stage: Table) -> str:
    """`upsert`'s updates alone: held rows whose tracked columns or archived state the staged row changes
    (UPDATE ... FROM; the same conditions and assignments as the upsert's conflict clause)."""
    entity = table.name
    assignments = ",\n    ".join(
        [
            *(f"{name} = {_incoming(name, 'existing', 'staged')}" for name in change_columns(entity)),
            "updated_at = :now",
            f"archived_at = CASE WHEN staged.status = {TOBEDELETED} THEN COALESCE(existing.archived_at, :now) END",
        ]
    )
    return f"""
UPDATE {entity} AS existing SET
    {assignments}
FROM {stage.name} AS staged
WHERE existing.integration = :integration AND existing.source_id = staged.source_id
  AND ({_differs(entity, "existing", "staged", f"staged.status = {TOBEDELETED}")})
  AND NOT {_stale("existing", "staged")}"""


def not_delivered_groups(stage: Table) -> str:
    """The distinct sets of columns some staged rows did not deliver (see normalize/related.py)."""
    return f"SELECT DISTINCT not_delivered FROM {stage.name} WHERE not_delivered IS NOT NULL"


def keep_not_delivered(table: Table, stage: Table, kept: list[str]) -> str:
    """Copy the warehouse's values into the staged rows marked `:names`, for the columns named in `kept`."""
    current = f"FROM {table.name} AS existing WHERE existing.integration = :integration AND existing.source_id = {stage.name}.source_id"
    assignments = ",\n    ".join(f"{name} = (SELECT existing.{name} {current})" for name in kept)
    return f"""
UPDATE {stage.name} SET
    {assignments}
WHERE not_delivered = :names AND EXISTS (SELECT 1 {current})"""


def count_new(table: Table, stage: Table) -> str:
    return f"""
SELECT count(*) FROM {stage.name} AS staged
WHERE NOT EXISTS (
    SELECT 1 FROM {table.name} AS existing
    WHERE existing.integration = :integration AND existing.source_id = staged.source_id
)"""


def count_newly_tobedeleted(table: Table, stage: Table) -> str:
    """Staged `tobedeleted` rows the warehouse does not hold archived yet: all of them, and those already stored
    (active rows this load archives). Stale rows are not written, so not counted."""
    return f"""
SELECT count(*), COALESCE(SUM(CASE WHEN existing.source_id IS NOT NULL THEN 1 ELSE 0 END), 0)
FROM {stage.name} AS staged
LEFT JOIN {table.name} AS existing
    ON existing.integration = :integration AND existing.source_id = staged.source_id
WHERE staged.status = {TOBEDELETED} AND existing.archived_at IS NULL AND NOT {_stale("existing", "staged")}"""


def count_stale(table: Table, stage: Table) -> str:
    """Staged rows that differ from their stored row but were not written because the stored one is newer."""
    return f"""
SELECT count(*) FROM {stage.name} AS staged
JOIN {table.name} AS existing ON existing.integration = :integration AND existing.source_id = staged.source_id
WHERE ({_differs(table.name, "existing", "staged", f"staged.status = {TOBEDELETED}")})
  AND {_stale("existing", "staged")}"""


def sample_written(table: Table, *, archived: bool) -> str:
    """A few source ids (never names) of rows active before this load that it archived, or changed and kept
    active: what a held run's report shows. This load's writes carry `:now`; its inserts, `first_seen_at = :now`."""
    which = "archived_at = :now" if archived else "updated_at = :now AND archived_at IS NULL"
    return f"""
SELECT source_id FROM {table.name}
WHERE integration = :integration AND first_seen_at < :now AND {which}
ORDER BY source_id LIMIT 5"""


def count_active(table: Table) -> str:
    return f"SELECT count(*) FROM {table.name} WHERE integration = :integration AND archived_at IS NULL"


def archive_absent(table: Table, stage: Table) -> str:
    """A full sync's verdict: active rows the source no longer lists are archived, never deleted.

    A row the source did list but this run rejected keeps its last good version: it is not absent. A row
    first seen or changed after this data was read (by a newer run's load) is not absent either.
    """
    return f"""
UPDATE {table.name} SET archived_at = :now, updated_at = :now
WHERE integration = :integration AND archived_at IS NULL
  AND first_seen_at <= :as_of AND updated_at <= :as_of
  AND NOT EXISTS (SELECT 1 FROM {stage.name} AS staged WHERE staged.source_id = {table.name}.source_id)
  AND NOT EXISTS (
    SELECT 1 FROM rejected_records AS rejected
    WHERE rejected.run_id = :run_id AND rejected.integration = :integration
      AND rejected.entity = '{table.name}' AND rejected.source_id = {table.name}.source_id)"""


# Per person table: where its links live and what its uid column is called.
PERSON_LINKS = {"students": ("student_mappings", "student_uid"), "teachers": ("teacher_mappings", "teacher_uid")}


def link_new_source_ids(table: str, stage: Table) -> str:
    """Record the identity step's decision for each staged source id that has no mapping yet.

    The uid and the rule ('source_id', 'legacy_source_id', 'state_id', 'student_number', 'staff_number'
    or 'new') come from `resolve.identity`, with the rule's confidence; the load only writes them down.
    A source id already mapped keeps its mapping.
    """
    mappings, uid = PERSON_LINKS[table]
    confidence = " ".join(f"WHEN '{rule}' THEN {value}" for rule, value in RULE_CONFIDENCE.items())
    return f"""
INSERT INTO {mappings} (integration, id_type, source_id, {uid}, rule, linked_at, confidence, valid_from)
SELECT :integration, 'source_id', staged.source_id, staged.{uid}, staged.identity_rule, :now,
       CASE staged.identity_rule {confidence} ELSE 1.0 END, :now
FROM {stage.name} AS staged
WHERE true
ON CONFLICT (integration, id_type, source_id) DO NOTHING"""


def close_links(table: str) -> str:
    """A source record archived ends its link's validity; one restored opens it again.

    Only records this load wrote can have been archived or restored (both set `updated_at = :now`), so
    only their links are looked at: an unchanged re-sync touches none. Of the records it inserted, only
    those arriving archived (tobedeleted) can need it: a first load of a million students skips the rest.
    """
    mappings, _ = PERSON_LINKS[table]
    return f"""
UPDATE {mappings} SET valid_to = (
    SELECT s.archived_at FROM {table} AS s
    WHERE s.integration = {mappings}.integration AND s.source_id = {mappings}.source_id)
WHERE integration = :integration AND id_type = 'source_id'
  AND source_id IN (
    SELECT source_id FROM {table} WHERE integration = :integration AND updated_at = :now
      AND (first_seen_at < :now OR archived_at IS NOT NULL))
  AND EXISTS (
    SELECT 1 FROM {table} AS s
    WHERE s.integration = {mappings}.integration AND s.source_id = {mappings}.source_id
      AND ((s.archived_at IS NULL) <> ({mappings}.valid_to IS NULL)))"""


def link_legacy_ids(table: str, stage: Table) -> str:
    """Keep each staged legacy id as an alternate id of its person, so later re-keys still find them."""
    mappings, uid = PERSON_LINKS[table]
    return f"""
INSERT INTO {mappings} (integration, id_type, source_id, {uid}, rule, linked_at, confidence, valid_from)
SELECT :integration, 'legacy_source_id', staged.legacy_source_id, staged.{uid}, 'legacy_source_id', :now, 1.0, :now
FROM {stage.name} AS staged
WHERE staged.legacy_source_id IS NOT NULL
ON CONFLICT (integration, id_type, source_id) DO NOTHING"""
