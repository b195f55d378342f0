"""Warehouse migrations: the revisions build the schema the code expects, old warehouses upgrade in place
with every row kept, and first runs started together cannot race each other."""

import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, make_url, text

from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.warehouse import WarehouseSchemaError, create_warehouse_engine, ensure_schema
from sis_pipeline.warehouse import migrate
from sis_pipeline.warehouse.migrate import (
    BASELINE_REVISION,
    BASELINE_TABLES,
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    upgrade_warehouse,
)
from sis_pipeline.warehouse.schema import metadata
from sis_pipeline_tests.helpers import created_database, expected_totals, warehouse_counts

CLI = str(Path(sys.executable).with_name("sis-pipeline"))
HEAD = head_revision()
PARALLEL = 3

# A revision after the shipped head that rebuilds a filled table (SQLite's batch "move and copy"), as
# later issues' revisions will: the upgrade paths below run with it as well as with the shipped head.
LATER_REVISION = '''"""Test-only: students.nickname, with students rebuilt on SQLite."""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade():
    recreate = "always" if op.get_context().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table("students", recreate=recreate) as batch:
        batch.add_column(sa.Column("nickname", sa.Text(), nullable=True))
    op.create_index("ix_students_nickname", "students", ["nickname"])


def downgrade():
    op.drop_index("ix_students_nickname", "students")
    with op.batch_alter_table("students") as batch:
        batch.drop_column("nickname")
'''


# --- helpers -----------------------------------------------------------------------------------------


def with_later_revision(tmp_path: Path) -> tuple[Path, str]:
    """A copy of the shipped revisions plus LATER_REVISION; returns the copy and the new head."""
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    later = f"{int(HEAD) + 1:04d}"
    (copy / "versions" / f"{later}_test_nickname.py").write_text(LATER_REVISION.format(revision=later, down_revision=HEAD))
    return copy, later


@pytest.fixture(params=["shipped_head", "later_revision"])
def revisions_under_test(request, tmp_path, monkeypatch) -> tuple[Path, str]:
    """The shipped revisions, or those plus a later revision that rebuilds a filled table."""
    if request.param == "shipped_head":
        return MIGRATIONS_DIR, HEAD
    location, head = with_later_revision(tmp_path)
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", location)
    return location, head


def upgrade_to(url: str, revision: str) -> None:
    """Run the revisions up to `revision` with Alembic itself, as that release's own upgrade left it."""
    engine = create_warehouse_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)
    engine.dispose()


def downgrade_to(url: str, revision: str) -> None:
    """Undo the revisions after `revision` with their own downgrades."""
    engine = create_warehouse_engine(url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)
    engine.dispose()


def make_legacy_warehouse(url: str) -> None:
    """A warehouse as the release before migrations left it: the baseline tables, no alembic_version.

    The baseline revision is the frozen copy of that release's `create_all` (the test below holds the
    two equal while the baseline is the head), so this stays what that release made after the live
    metadata moves on.
    """
    upgrade_to(url, BASELINE_REVISION)
    execute(url, "DROP TABLE alembic_version")


def execute(url: str, *statements: str) -> None:
    engine = create_warehouse_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


def revision_of(url: str) -> str | None:
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        revision = current_revision(conn)
    engine.dispose()
    return revision


def table_names(url: str) -> set[str]:
    engine = create_warehouse_engine(url)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def physical_schema(url: str) -> dict:
    """Every table as the database reports it (types, nullability, defaults, keys, indexes, checks)."""
    engine = create_warehouse_engine(url)
    inspector = inspect(engine)
    schema = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        schema[table] = {
            "columns": {
                column["name"]: (repr(column["type"]), column["nullable"], column.get("default"))
                for column in inspector.get_columns(table)
            },
            "primary_key": sorted(inspector.get_pk_constraint(table)["constrained_columns"]),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)),
            "unique": sorted((u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)),
            "checks": sorted((c["name"], re.sub(r"\s+", " ", c["sqltext"])) for c in inspector.get_check_constraints(table)),
        }
    engine.dispose()
    return schema


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every baseline table, in the baseline's columns."""
    engine = create_warehouse_engine(url)
    rows = {}
    with engine.connect() as conn:
        for table, columns in BASELINE_TABLES.items():
            result = conn.execute(text(f"SELECT {', '.join(sorted(columns))} FROM {table}"))
            rows[table] = sorted((tuple(row) for row in result), key=repr)
    engine.dispose()
    return rows


def student_uids(url: str) -> dict[tuple[str, str], str]:
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT integration, source_id, student_uid FROM students")).all()
    engine.dispose()
    return {(integration, source_id): uid for integration, source_id, uid in rows}


def run_cli(*args: str, url: str, cwd: Path, migrations: Path = MIGRATIONS_DIR) -> subprocess.CompletedProcess:
    """`sis-pipeline ARGS` in a subprocess; with other revisions than the shipped ones, the same main()."""
    env = {**os.environ, "SIS_WAREHOUSE_URL": url}
    command_line = [CLI, *args]
    if migrations != MIGRATIONS_DIR:
        command_line = [sys.executable, "-c", CLI_WITH_REVISIONS_FROM, str(migrations), *args]
    return subprocess.run(command_line, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


CLI_WITH_REVISIONS_FROM = """
import sys
from pathlib import Path
from sis_pipeline.warehouse import migrate
migrate.MIGRATIONS_DIR = Path(sys.argv[1])
from sis_pipeline.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture
def other_warehouse_url(warehouse_url, tmp_path, request):
    """A second empty warehouse on the same backend as `warehouse_url`."""
    if warehouse_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.sqlite'}"
        return
    with created_database(request.getfixturevalue("postgres_server_url"), f"{make_url(warehouse_url).database}_other") as url:
        yield url


# --- the revisions build the schema the code expects -------------------------------------------------


def test_upgrade_head_matches_the_live_metadata(warehouse_url):
    engine = create_warehouse_engine(warehouse_url)
    ensure_schema(engine)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        revision = current_revision(conn)
    engine.dispose()

    assert differences == []
    assert revision == HEAD


def test_upgrade_head_builds_the_same_tables_as_create_all(warehouse_url, other_warehouse_url):
    """Beyond what compare_metadata checks: defaults (BIGSERIAL), check constraints, exact reflected types."""
    ensure_schema(create_warehouse_engine(warehouse_url))
    created = create_warehouse_engine(other_warehouse_url)
    metadata.create_all(created)
    created.dispose()

    migrated, expected = physical_schema(warehouse_url), physical_schema(other_warehouse_url)
    assert set(migrated) == set(expected)
    for table in expected:
        assert migrated[table] == expected[table], table


def test_the_frozen_baseline_columns_are_what_the_baseline_revision_creates(warehouse_url):
    upgrade_to(warehouse_url, BASELINE_REVISION)

    engine = create_warehouse_engine(warehouse_url)
    inspector = inspect(engine)
    created = {
        table: frozenset(column["name"] for column in inspector.get_columns(table))
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }
    engine.dispose()
    assert created == BASELINE_TABLES


def test_revisions_are_one_line_of_frozen_ddl():
    script = migrate.script_directory()
    assert script.get_heads() == [HEAD]
    assert [rev.revision for rev in script.walk_revisions()][-1] == BASELINE_REVISION
    files = sorted((MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    assert [path.name.split("_", 1)[0] for path in files] == migrate.revisions()
    for path in files:
        code = path.read_text().split('"""', 2)[2]  # after the docstring
        # The live metadata keeps changing after a revision is written; a revision must not follow it.
        assert "sis_pipeline" not in code and "create_all" not in code and "metadata" not in code, path.name


# --- an existing warehouse upgrades in place --------------------------------------------------------


@pytest.mark.parametrize("made_by", ["baseline_revision", "release_before_migrations"])
def test_a_filled_warehouse_upgrades_in_place_and_a_resync_writes_nothing(
    made_by, revisions_under_test, district, write_config, sync, warehouse_url, tmp_path, monkeypatch
):
    migrations, head = revisions_under_test
    config = write_config(district)
    totals = expected_totals(district)

    # Fill it with a real sync, then take it back to the old release's schema with the revisions' own
    # downgrades: the rows an old release held, in the tables it had (today's code never writes to an
    # old schema, which would break with every revision that adds to the write path).
    filled = sync(config, warehouse_url)
    assert filled["status"] == "success", filled
    assert {e: c["inserted"] for e, c in filled["entities"].items()} == totals
    downgrade_to(warehouse_url, BASELINE_REVISION)
    if made_by == "baseline_revision":
        old_revision = BASELINE_REVISION
    else:
        execute(warehouse_url, "DROP TABLE alembic_version")
        old_revision = None
    assert revision_of(warehouse_url) == old_revision
    rows_before, counts_before, uids_before = snapshot(warehouse_url), warehouse_counts(warehouse_url), student_uids(warehouse_url)
    assert len(uids_before) == totals["students"]

    upgraded = run_cli("warehouse", "upgrade", url=warehouse_url, cwd=tmp_path, migrations=migrations)
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    assert len(upgraded.stdout.splitlines()) == 1
    before = f"none (tables from before migrations, stamped {BASELINE_REVISION})" if old_revision is None else old_revision
    assert upgraded.stdout.startswith(f"warehouse revision: {before} -> {head} (head"), upgraded.stdout
    assert revision_of(warehouse_url) == head
    assert snapshot(warehouse_url) == rows_before
    if head != HEAD:
        assert "nickname" in {c["name"] for c in inspect(create_warehouse_engine(warehouse_url)).get_columns("students")}

    resync = sync(config, warehouse_url)
    assert resync["status"] == "success", resync
    assert set(resync["entities"]) == set(ENTITIES)
    assert {e: (c["inserted"], c["updated"], c["archived"]) for e, c in resync["entities"].items()} == {
        e: (0, 0, 0) for e in ENTITIES
    }
    assert {e: c["unchanged"] for e, c in resync["entities"].items()} == totals
    assert warehouse_counts(warehouse_url) == counts_before
    assert student_uids(warehouse_url) == uids_before
    after = snapshot(warehouse_url)
    # run bookkeeping moves with every run: the runs and their calls
    bookkeeping = ("sync_runs", "api_calls")
    assert {t: rows for t, rows in after.items() if t not in bookkeeping} == {
        t: rows for t, rows in rows_before.items() if t not in bookkeeping
    }


def test_unrelated_tables_are_kept_and_not_taken_for_an_old_warehouse(warehouse_url):
    execute(warehouse_url, "CREATE TABLE attendance (id INTEGER PRIMARY KEY, note TEXT)", "INSERT INTO attendance VALUES (1, 'kept')")

    result = upgrade_warehouse(create_warehouse_engine(warehouse_url))

    assert not result.stamped_baseline and result.before is None
    assert result.applied[0] == BASELINE_REVISION and result.after == HEAD
    assert table_names(warehouse_url) == set(metadata.tables) | {"attendance", "alembic_version"}
    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT note FROM attendance")).scalar_one() == "kept"
    engine.dispose()


def test_some_but_not_all_roster_tables_are_refused_and_left_alone(warehouse_url):
    make_legacy_warehouse(warehouse_url)
    execute(warehouse_url, "DROP TABLE api_calls", "DROP TABLE oauth_tokens")

    with pytest.raises(WarehouseSchemaError, match="tables missing: api_calls, oauth_tokens"):
        ensure_schema(create_warehouse_engine(warehouse_url))
    assert table_names(warehouse_url) == set(BASELINE_TABLES) - {"api_calls", "oauth_tokens"}


def test_roster_tables_without_a_baseline_column_are_refused_and_left_alone(warehouse_url):
    make_legacy_warehouse(warehouse_url)
    execute(warehouse_url, "ALTER TABLE students DROP COLUMN sex")

    with pytest.raises(WarehouseSchemaError, match="students lacks sex"):
        ensure_schema(create_warehouse_engine(warehouse_url))
    assert "alembic_version" not in table_names(warehouse_url)


def test_a_warehouse_from_a_newer_release_is_refused(warehouse_url):
    ensure_schema(create_warehouse_engine(warehouse_url))
    execute(warehouse_url, "UPDATE alembic_version SET version_num = '9999'")

    with pytest.raises(WarehouseSchemaError, match="revision '9999', which this release does not know"):
        ensure_schema(create_warehouse_engine(warehouse_url))
    assert revision_of(warehouse_url) == "9999"


def test_an_up_to_date_warehouse_is_not_locked(warehouse_url, monkeypatch):
    engine = create_warehouse_engine(warehouse_url)
    ensure_schema(engine)

    def no_lock(_engine):
        raise AssertionError("took the upgrade lock on an up-to-date warehouse")

    monkeypatch.setattr(migrate, "_locked_transaction", no_lock)
    result = upgrade_warehouse(engine)
    engine.dispose()
    assert (result.before, result.after, result.applied) == (HEAD, HEAD, [])


# --- first runs in parallel --------------------------------------------------------------------------


def _ensure_schema_in_child(url: str, migrations: str, barrier, results) -> None:
    try:
        migrate.MIGRATIONS_DIR = Path(migrations)
        engine = create_warehouse_engine(url)
        with engine.connect():  # connected before the barrier, so the race is the upgrade alone
            pass
        barrier.wait(timeout=120)
        ensure_schema(engine)
        results.put("ok")
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put(f"{type(exc).__name__}: {exc}"[:2000])


def _sync_in_child(config_file: str, url: str, staging: str, name: str, barrier, results) -> None:
    """One integration's first full sync; every child's upgrade starts at the same moment."""
    try:
        from sis_pipeline.config import load_config
        from sis_pipeline.defs import build_resources
        from sis_pipeline.defs.sync_runner import sync_integrations

        real_upgrade, waited = migrate.upgrade_warehouse, []

        def upgrade_when_all_are_ready(engine):
            if not waited:
                waited.append(True)
                barrier.wait(timeout=240)
            return real_upgrade(engine)

        migrate.upgrade_warehouse = upgrade_when_all_are_ready
        config = load_config(config_file)
        report = sync_integrations(config, [name], resources=build_resources(config, url, staging))["integrations"][name]
        results.put((name, report["status"], report.get("error"), {e: c["inserted"] for e, c in report["entities"].items()}))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put((name, "crashed", f"{type(exc).__name__}: {exc}"[:2000], {}))


def _run_in_parallel(target, args_per_child: list[tuple]) -> list:
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(len(args_per_child)), spawn.Queue()
    children = [spawn.Process(target=target, args=(*args, barrier, results)) for args in args_per_child]
    for child in children:
        child.start()
    try:
        outcomes = [results.get(timeout=420) for _ in children]
    finally:
        for child in children:
            child.join(timeout=60)
            if child.is_alive():
                child.kill()
    return outcomes


def test_first_runs_in_parallel_on_an_empty_warehouse_all_succeed(warehouse_url, revisions_under_test, monkeypatch):
    migrations, head = revisions_under_test
    # The waiting children wait for the one upgrading; on a loaded CI machine (two test workers beside
    # these three processes) that took longer than the default 60 s lock wait once, which is the limit
    # doing its job, not a failure of what this test is about.
    monkeypatch.setenv("SIS_WAREHOUSE_LOCK_TIMEOUT", "300")
    outcomes = _run_in_parallel(_ensure_schema_in_child, [(warehouse_url, str(migrations))] * PARALLEL)

    assert outcomes == ["ok"] * PARALLEL
    assert revision_of(warehouse_url) == head
    assert table_names(warehouse_url) == set(metadata.tables) | {"alembic_version"}


def test_three_first_full_syncs_in_parallel_on_an_empty_postgresql_warehouse_all_succeed(
    district, postgres_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("SPRINGFIELD_CLIENT_ID", district.client_id)
    monkeypatch.setenv("SPRINGFIELD_CLIENT_SECRET", district.client_secret)
    names = ["springfield", "shelbyville", "ogdenville"]
    entry = {
        "provider": "oneroster",
        "base_url": district.oneroster_root("1.2"),
        "token_url": district.token_url,
        "client_id_env": "SPRINGFIELD_CLIENT_ID",
        "client_secret_env": "SPRINGFIELD_CLIENT_SECRET",
        "page_size": 200,
    }
    config = tmp_path / "integrations.yaml"
    config.write_text(yaml.safe_dump({"integrations": [{"name": name, **entry} for name in names]}))

    outcomes = _run_in_parallel(
        _sync_in_child, [(str(config), postgres_url, str(tmp_path / "staging"), name) for name in names]
    )

    totals = expected_totals(district)
    assert sorted(outcomes) == sorted((name, "success", None, totals) for name in names), outcomes
    assert revision_of(postgres_url) == HEAD
    engine = create_warehouse_engine(postgres_url)
    with engine.connect() as conn:
        loaded = dict(conn.execute(text("SELECT integration, count(*) FROM students GROUP BY integration")).all())
        versions = conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()
    engine.dispose()
    assert loaded == {name: totals["students"] for name in names} and versions == 1


# --- the command lines ---------------------------------------------------------------------------------


def test_warehouse_upgrade_from_the_command_line_creates_the_tables_then_does_nothing(sqlite_url, tmp_path):
    first = run_cli("warehouse", "upgrade", url=sqlite_url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.splitlines()) == 1
    assert first.stdout.startswith(f"warehouse revision: none -> {HEAD} (head; applied {BASELINE_REVISION}"), first.stdout
    assert table_names(sqlite_url) == set(metadata.tables) | {"alembic_version"}

    again = run_cli("warehouse", "upgrade", "--json", url=sqlite_url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"before": HEAD, "after": HEAD, "head": HEAD, "applied": [], "stamped_baseline": False}
    plain = run_cli("warehouse", "upgrade", url=sqlite_url, cwd=tmp_path)
    assert plain.stdout == f"warehouse revision: {HEAD} -> {HEAD} (head; already up to date)\n"


def test_warehouse_upgrade_refuses_a_warehouse_it_cannot_recognise(sqlite_url, tmp_path):
    make_legacy_warehouse(sqlite_url)
    execute(sqlite_url, "DROP TABLE students")

    refused = run_cli("warehouse", "upgrade", url=sqlite_url, cwd=tmp_path)

    assert refused.returncode == 1
    assert "warehouse upgrade refused" in refused.stderr and "tables missing: students" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_two_revisions_with_the_same_id_are_refused(tmp_path, monkeypatch):
    """What merging two branches that both added the next revision looks like; Alembic alone only warns."""
    location, later = with_later_revision(tmp_path)
    shutil.copy(location / "versions" / f"{later}_test_nickname.py", location / "versions" / f"{later}_other_branch.py")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", location)

    with pytest.raises(WarehouseSchemaError, match="share a revision id"):
        ensure_schema(create_warehouse_engine(f"sqlite:///{tmp_path / 'w.sqlite'}"))


def test_a_new_revision_is_numbered_after_the_last_and_applies(tmp_path, monkeypatch):
    """The documented developer command, on a copy of the revisions so the package stays untouched."""
    from sis_pipeline.warehouse.migrations.__main__ import main as migrations_main

    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", copy)
    monkeypatch.delenv("SIS_WAREHOUSE_URL", raising=False)

    migrations_main(["revision", "-m", "add contacts"])

    numbers = sorted(int(p.name[:4]) for p in (copy / "versions").glob("[0-9]*.py"))
    created = copy / "versions" / f"{numbers[-1]:04d}_add_contacts.py"
    assert created.exists() and numbers[-1] == int(HEAD) + 1
    assert f"down_revision: str | Sequence[str] | None = '{HEAD}'" in created.read_text()
    url = f"sqlite:///{tmp_path / 'scratch.sqlite'}"
    result = upgrade_warehouse(create_warehouse_engine(url))
    assert result.after == f"{numbers[-1]:04d}" and result.applied[-1] == result.after


def test_the_developer_command_line_runs_without_an_ini_file(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sis_pipeline.warehouse.migrations", "heads"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{HEAD} (head)"
    assert not (tmp_path / ".data").exists()
