"""Bringing a warehouse to the newest schema revision with Alembic, safely from many processes at once.

`upgrade_warehouse(engine)` (what `ensure_schema` and `sis-pipeline warehouse upgrade` run):

1. reads the warehouse's revision without any lock; at the newest revision it returns at once;
2. otherwise takes the upgrade lock inside one transaction: `pg_advisory_xact_lock(ADVISORY_LOCK_KEY)`
   on PostgreSQL, `BEGIN IMMEDIATE` (the database's write lock) on SQLite; whoever waited reads the
   revision again and usually finds the work done;
3. a warehouse made by `create_all` before migrations existed (every baseline table present, no
   `alembic_version`) is checked against the frozen baseline columns and stamped at the baseline;
4. applies the pending revisions on the same connection, and commits once: the lock, the DDL and the
   new revision stand or fall together.
"""

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from sis_pipeline.warehouse.engine import SQLITE_BEGIN_OPTION
from sis_pipeline.warehouse.errors import WarehouseSchemaError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
BASELINE_REVISION = "0001"
# pg_advisory_xact_lock's key for "upgrading this database's warehouse schema" (advisory locks are
# per database): the bytes of "sis_migr" as a signed bigint. Fixed forever: every release takes this lock.
ADVISORY_LOCK_KEY = int.from_bytes(b"sis_migr", "big")

# The baseline revision's tables and their columns, frozen like the revision itself: what a warehouse
# made by `create_all` before migrations must hold to be stamped at the baseline.
BASELINE_TABLES: dict[str, frozenset[str]] = {
    name: frozenset(columns.split())
    for name, columns in {
        "schools": "integration source_id status source_updated_at name school_number school_type "
        "parent_source_id first_seen_at updated_at archived_at",
        "terms": "integration source_id status source_updated_at title term_type start_date end_date "
        "school_year parent_source_id first_seen_at updated_at archived_at",
        "courses": "integration source_id status source_updated_at title course_code school_source_id "
        "grades first_seen_at updated_at archived_at",
        "sections": "integration source_id status source_updated_at title section_code class_type "
        "course_source_id school_source_id term_source_ids periods extra first_seen_at "
        "updated_at archived_at",
        "students": "integration source_id status source_updated_at first_name middle_name last_name "
        "email username school_source_id enabled legacy_source_id extra student_number "
        "state_id preferred_first_name birth_date sex grade_level enrollment_status "
        "first_seen_at updated_at archived_at student_uid",
        "teachers": "integration source_id status source_updated_at first_name middle_name last_name "
        "email username school_source_id enabled legacy_source_id extra staff_number role "
        "first_seen_at updated_at archived_at",
        "enrollments": "integration source_id status source_updated_at section_source_id user_source_id "
        "school_source_id role is_primary begin_date end_date first_seen_at updated_at "
        "archived_at",
        "student_mappings": "integration id_type source_id student_uid rule linked_at",
        "api_calls": "id run_id integration method path status error duration_ms bytes attempt called_at",
        "oauth_tokens": "integration token_url encrypted_token issued_at expires_at",
        "sync_runs": "run_id integration mode started_at ended_at status counts error_class error",
        "rejected_records": "id run_id integration entity source_id reasons payload rejected_at",
    }.items()
}

# Alembic installs `alembic.context` and `alembic.op` as process-wide proxies, so two threads must not
# run revisions at the same time; processes are serialised by the database lock.
_IN_PROCESS = threading.Lock()


@dataclass(frozen=True)
class UpgradeResult:
    before: str | None
    after: str
    head: str
    applied: list[str] = field(default_factory=list)
    stamped_baseline: bool = False

    def describe(self) -> str:
        """One line: the revision before and after, and what happened in between."""
        before = self.before or "none"
        if self.stamped_baseline:
            before = f"none (tables from before migrations, stamped {BASELINE_REVISION})"
        if not self.applied and not self.stamped_baseline:
            return f"warehouse revision: {before} -> {self.after} (head; already up to date)"
        applied = f"; applied {', '.join(self.applied)}" if self.applied else ""
        return f"warehouse revision: {before} -> {self.after} (head{applied})"

    def as_dict(self) -> dict:
        return {
            "before": self.before,
            "after": self.after,
            "head": self.head,
            "applied": self.applied,
            "stamped_baseline": self.stamped_baseline,
        }


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration for the package's revisions; no alembic.ini is read."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_directory() -> ScriptDirectory:
    """The revisions shipped with this release, read again only when a revision file is added."""
    return _script_directory(str(MIGRATIONS_DIR), (MIGRATIONS_DIR / "versions").stat().st_mtime_ns)


@cache
def _script_directory(location: str, _versions_changed: int) -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", location)
    script = ScriptDirectory.from_config(config)
    # Alembic only warns when two files carry the same revision id, and keeps one of them.
    files = [path.name for path in Path(location, "versions").glob("*.py") if path.name != "__init__.py"]
    known = list(script.walk_revisions())
    if len(known) != len(files):
        raise WarehouseSchemaError(
            f"{len(files)} revision files hold only {len(known)} distinct revisions: two of {sorted(files)} "
            "share a revision id; renumber one"
        )
    return script


def head_revision() -> str:
    heads = script_directory().get_heads()
    if len(heads) != 1:
        raise WarehouseSchemaError(f"the warehouse revisions have {len(heads)} heads ({', '.join(heads)}); merge them")
    return heads[0]


def current_revision(connection: Connection) -> str | None:
    """The warehouse's revision, or None before any (an empty database, or one from before migrations)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_warehouse(engine: Engine) -> UpgradeResult:
    """Bring the warehouse to the newest revision; costs one query when it is already there."""
    script = script_directory()
    head = head_revision()
    with engine.connect() as conn:
        before = current_revision(conn)
    _check_known(script, before, head)
    if before == head:
        return UpgradeResult(before, head, head)
    with _IN_PROCESS, _locked_transaction(engine) as conn:
        before = current_revision(conn)  # someone else may have upgraded while we waited for the lock
        _check_known(script, before, head)
        stamped = before is None and _stamp_if_legacy(conn)
        start = BASELINE_REVISION if stamped else before
        applied = _pending(script, start, head)
        if applied:
            command.upgrade(alembic_config(conn), head)
        after = current_revision(conn)
    result = UpgradeResult(before, after, head, applied, stamped)
    if applied or stamped:
        log.info("%s", result.describe())
    return result


@contextmanager
def _locked_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the upgrade lock, committed on success, rolled back on any error."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        else:
            # A fresh snapshot per statement, so the waiter sees the revision its predecessor committed.
            conn.execution_options(isolation_level="READ COMMITTED")
        with conn.begin():
            if not sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            yield conn


def _check_known(script: ScriptDirectory, revision: str | None, head: str) -> None:
    if revision is None or revision == head:
        return
    if revision not in {rev.revision for rev in script.walk_revisions()}:
        raise WarehouseSchemaError(
            f"the warehouse is at revision {revision!r}, which this release does not know (its newest is "
            f"{head!r}): it was upgraded by a newer sis-pipeline; run that release or newer"
        )


def _pending(script: ScriptDirectory, current: str | None, head: str) -> list[str]:
    steps = script.iterate_revisions(head, current or "base")
    return [step.revision for step in reversed(list(steps))]


def _stamp_if_legacy(conn: Connection) -> bool:
    """Stamp a warehouse made by `create_all` before migrations at the baseline; False for a new database.

    A database without any baseline table (empty, or holding only unrelated tables) is new: the
    baseline creates the tables. One holding some of them, or all of them without every baseline
    column, is refused rather than guessed at.
    """
    inspector = inspect(conn)
    present = set(inspector.get_table_names()) & BASELINE_TABLES.keys()
    if not present:
        return False
    missing_tables = sorted(BASELINE_TABLES.keys() - present)
    missing_columns = {
        table: sorted(BASELINE_TABLES[table] - {column["name"] for column in inspector.get_columns(table)})
        for table in sorted(present)
    }
    missing_columns = {table: columns for table, columns in missing_columns.items() if columns}
    if missing_tables or missing_columns:
        problems = []
        if missing_tables:
            problems.append(f"tables missing: {', '.join(missing_tables)}")
        problems.extend(f"{table} lacks {', '.join(columns)}" for table, columns in missing_columns.items())
        raise WarehouseSchemaError(
            "the warehouse has some roster tables but no revision, and they do not match the schema "
            f"migrations start from ({'; '.join(problems)}); it was not changed"
        )
    command.stamp(alembic_config(conn), BASELINE_REVISION)
    return True


def revisions() -> Sequence[str]:
    """Every revision id, oldest first."""
    return [rev.revision for rev in reversed(list(script_directory().walk_revisions()))]
