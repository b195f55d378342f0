"""The golden record (`student_profiles`), owned here alone: one row per child, rebuilt set-based.

A child's profile is the source row of the highest-priority integration that lists the child (lower
`priority` wins; an archived row only when no active one is left; then the newest), with a person's
active edits (`local_overrides`) laid over it. Only children a load touched are rebuilt, in the
load's transaction, so an unchanged re-sync rewrites no profile.
"""

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, DateTime, bindparam, text

from sis_pipeline.warehouse.schema import OVERRIDABLE_FIELDS, PROFILE_FIELDS

DEFAULT_PRIORITY = 1000  # an integration no longer configured ranks after every configured one
# Profiles are shared between integrations (one child, several source rows): two integrations' loads
# rebuilding the same child at once would both insert its row. This transaction-scoped lock serialises
# the rebuilds (PostgreSQL; SQLite writers are serial already) until each load commits.
PROFILES_LOCK_KEY = 0x5349_5350
_COLUMNS = ", ".join(PROFILE_FIELDS)


def refresh_touched_profiles(conn: Connection, integration: str, now, priorities: Mapping[str, int]) -> int:
    """Rebuild the profiles of the children this load of `integration` wrote (their rows carry `now`)."""
    touched = "SELECT student_uid FROM students WHERE integration = :integration AND updated_at = :now"
    return _rebuild(conn, touched, {"integration": integration, "now": now}, priorities)


def refresh_profiles(conn: Connection, uids: Iterable[str], priorities: Mapping[str, int]) -> int:
    """Rebuild the profiles of `uids` (after a person linked or split records)."""
    uids = sorted(set(uids))
    if not uids:
        return 0
    # a uid whose last row moved to another child has no row left to rebuild from: its profile goes
    conn.execute(text("DELETE FROM student_profiles WHERE student_uid IN :uids").bindparams(bindparam("uids", expanding=True)), {"uids": uids})
    return _rebuild(conn, "SELECT student_uid FROM students WHERE student_uid IN :uids", {"uids": uids}, priorities, expanding=("uids",))


def _rebuild(conn: Connection, touched: str, params: dict, priorities: Mapping[str, int], expanding=()) -> int:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PROFILES_LOCK_KEY})
    ranked = sorted(priorities.items())
    params = {**params, **{f"p_name_{i}": name for i, (name, _) in enumerate(ranked)},
              **{f"p_rank_{i}": int(value) for i, (_, value) in enumerate(ranked)}}
    whens = " ".join(f"WHEN :p_name_{i} THEN :p_rank_{i}" for i in range(len(ranked)))
    rank = f"CASE s.integration {whens} ELSE {DEFAULT_PRIORITY} END" if ranked else str(DEFAULT_PRIORITY)
    _run(conn, f"DELETE FROM student_profiles WHERE student_uid IN ({touched})", params, expanding)
    written = _run(conn, f"""
INSERT INTO student_profiles (student_uid, integration, source_id, {_COLUMNS}, birth_date, active, sources, updated_at)
SELECT student_uid, integration, source_id, {_COLUMNS}, birth_date, active_sources > 0, active_sources, updated_at FROM (
  SELECT s.*,
         ROW_NUMBER() OVER (PARTITION BY s.student_uid
                            ORDER BY (CASE WHEN s.archived_at IS NULL THEN 0 ELSE 1 END), {rank}, s.updated_at DESC,
                                     s.integration, s.source_id) AS pick,
         SUM(CASE WHEN s.archived_at IS NULL THEN 1 ELSE 0 END) OVER (PARTITION BY s.student_uid) AS active_sources
  FROM students AS s
  WHERE s.student_uid IN ({touched})) AS ranked
WHERE pick = 1""", params, expanding)
    if conn.execute(text("SELECT 1 FROM local_overrides WHERE retired_at IS NULL LIMIT 1")).first() is not None:
        for field in OVERRIDABLE_FIELDS:
            _run(conn, _overlay(field, touched, conn.dialect.name), params, expanding)
    return written


def _run(conn: Connection, sql: str, params: dict, expanding) -> int:
    """One statement; `:now` typed, so SQLite compares it in the format the load stored; rows it wrote."""
    statement = text(sql)
    if ":now" in sql:
        statement = statement.bindparams(bindparam("now", type_=DateTime(timezone=True)))
    if expanding:
        statement = statement.bindparams(*(bindparam(name, expanding=True) for name in expanding))
    return conn.execute(statement, params).rowcount


def _overlay(field: str, touched: str, dialect: str) -> str:
    """A person's active edit of `field` replaces the source value on the touched children's profiles."""
    edit = f"""FROM local_overrides AS o
    WHERE o.student_uid = student_profiles.student_uid AND o.field = '{field}' AND o.retired_at IS NULL"""
    value = "CAST(o.value AS DATE)" if field == "birth_date" and dialect == "postgresql" else "o.value"
    return f"""
UPDATE student_profiles SET {field} = (SELECT {value} {edit} ORDER BY o.set_at DESC LIMIT 1)
WHERE student_uid IN ({touched}) AND EXISTS (SELECT 1 {edit})"""
