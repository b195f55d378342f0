"""Alembic's environment for the warehouse, configured from code (no alembic.ini).

At run time `sis_pipeline.warehouse.migrate` passes its own connection in `config.attributes["connection"]`,
already inside the transaction that holds the upgrade lock, so every revision runs on that connection
and commits (or rolls back) with it. Without one (the developer command line,
`python -m sis_pipeline.warehouse.migrations`), the warehouse comes from `sqlalchemy.url`, else
`SIS_WAREHOUSE_URL`, else the laptop default.
"""

from alembic import context

from sis_pipeline.warehouse.engine import create_warehouse_engine, warehouse_url
from sis_pipeline.warehouse.schema import metadata

# Only `revision --autogenerate` compares against the live metadata; revisions never import it.
target_metadata = metadata

OPTIONS = {
    "target_metadata": target_metadata,
    # SQLite cannot ALTER most of a table: batch operations copy it into a new one instead.
    "render_as_batch": True,
    "compare_type": True,
    # SQLite's DDL is transactional too on the warehouse engine (it emits BEGIN itself), so all the
    # revisions of one upgrade commit together on both backends.
    "transactional_ddl": True,
}


def run_offline() -> None:
    """`upgrade --sql`: print the DDL for the configured URL's dialect instead of running it."""
    context.configure(url=_url(), literal_binds=True, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_warehouse_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


def _run(connection) -> None:
    if connection.dialect.name == "sqlite":
        # SQLite alters a table by rebuilding it (copy, drop, rename). Its modern rename re-checks every
        # view (current_enrollments reads students) while the table is gone; the legacy rename leaves
        # views alone, and they name the table again once it is renamed back.
        connection.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    return context.config.get_main_option("sqlalchemy.url") or warehouse_url()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
