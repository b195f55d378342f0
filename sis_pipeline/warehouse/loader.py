"""Load one integration's canonical frames into the warehouse in a single transaction.

Per entity: stage every chunk into a temporary table, refuse a full sync that would archive a
whole table, link new student source ids, upsert (unchanged rows are not written), and on a full
sync archive what the source no longer lists. Readers see the old roster or the new one.
"""

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pandas as pd
from sqlalchemy import Column, Connection, Engine, MetaData, Table, Text

from sis_pipeline.normalize.models import ENTITIES, columns
from sis_pipeline.normalize.related import NOT_DELIVERED
from sis_pipeline.resolve.identity import IDENTITY_RULE
from sis_pipeline.warehouse import load_sql, postgres_stage, sqlite_stage
from sis_pipeline.warehouse.errors import WarehouseLoadError, WarehouseSafetyError
from sis_pipeline.warehouse.rejections import write_rejected
from sis_pipeline.warehouse.runs import finish_sync_run
from sis_pipeline.warehouse.schema import ENTITY_TABLES, change_columns

_BACKENDS: dict[str, ModuleType] = {"postgresql": postgres_stage, "sqlite": sqlite_stage}


@dataclass(frozen=True)
class EntityCounts:
    """What one load did to one entity.

    staged = inserted + updated + unchanged. `archived` counts rows newly archived by this load,
    whether the source marked them `tobedeleted` (those are also inserted or updated) or a full
    sync no longer listed them.
    """

    staged: int
    inserted: int
    updated: int
    unchanged: int
    archived: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def load_integration(
    engine: Engine,
    integration: str,
    datasets: Mapping[str, Iterable[pd.DataFrame]],
    *,
    full: bool | Mapping[str, bool],
    run_id: str,
    rejected: Mapping[str, pd.DataFrame] | None = None,
    counts_extra: Mapping[str, Any] | None = None,
) -> dict[str, EntityCounts]:
    """Load every entity of `datasets`, the rejected records, and close the started run as success.

    `full` says whether the staged set is the entity's complete set (archive what is missing), for
    all entities at once or per entity (a CSV drop may carry a bulk file for one and a delta for another).

    All of it commits together or not at all; on an exception the caller closes the run as
    failed (`finish_sync_run(engine, ...)`). The run's counts record each entity's counts, the
    rejected records per entity, and `counts_extra` (e.g. the provider's own totals).
    """
    _check_entities(integration, [*datasets, *(rejected or {})])
    now = datetime.now(UTC)
    params = {"integration": integration, "now": now, "run_id": run_id}
    with engine.begin() as conn:
        backend = _BACKENDS[conn.dialect.name]
        backend.lock_integration(conn, integration)
        # Rejections first: a full sync must not archive a row that was listed but rejected.
        rejected_counts = write_rejected(conn, backend, integration, run_id, rejected or {}, now)
        counts = {
            entity: _load_entity(
                conn, backend, integration, entity, chunks, full=full if isinstance(full, bool) else full[entity], params=params
            )
            for entity, chunks in datasets.items()
        }
        run_counts = {entity: entity_counts.as_dict() for entity, entity_counts in counts.items()}
        finish_sync_run(
            conn, run_id, integration, "success", {**run_counts, "rejected": rejected_counts, **(counts_extra or {})}
        )
    return counts


def _check_entities(integration: str, entities: Iterable[str]) -> None:
    unknown = sorted(set(entities) - set(ENTITIES))
    if unknown:
        raise WarehouseLoadError(f"{integration}: unknown entities {unknown}; expected some of {ENTITIES}")


def _load_entity(
    conn: Connection,
    backend: ModuleType,
    integration: str,
    entity: str,
    chunks: Iterable[pd.DataFrame],
    *,
    full: bool,
    params: dict,
) -> EntityCounts:
    table = ENTITY_TABLES[entity]
    stage = _stage_table(table)
    stage.create(conn)
    staged = 0
    for chunk in chunks:
        frame = _stage_frame(integration, entity, chunk, [column.name for column in stage.columns])
        if frame.empty:
            continue
        try:
            backend.copy_frame(conn, stage, frame)
        except Exception as error:
            error.add_note(f"while staging {integration}/{entity} rows {staged + 1}-{staged + len(frame)}")
            raise
        staged += len(frame)
    backend.analyze(conn, stage)
    _keep_not_delivered(conn, integration, table, stage, params)

    if full and staged == 0:
        active = _scalar(conn, load_sql.count_active(table), params)
        if active:
            raise WarehouseSafetyError(
                f"{integration}/{entity}: a full sync staged 0 rows but the warehouse holds {active} active "
                f"rows; refusing to archive them all (an empty export is far likelier than an empty district)"
            )
    newly_tobedeleted = _scalar(conn, load_sql.count_newly_tobedeleted(table, stage), params)
    if entity == "students":
        conn.execute(load_sql.bind(load_sql.link_new_student_source_ids(stage)), params)
        conn.execute(load_sql.bind(load_sql.link_legacy_student_ids(stage)), params)
    inserted, updated = backend.upsert(conn, load_sql.upsert(table, stage), table, stage, params)
    archived_absent = conn.execute(load_sql.bind(load_sql.archive_absent(table, stage)), params).rowcount if full else 0
    stage.drop(conn)
    return EntityCounts(
        staged=staged,
        inserted=inserted,
        updated=updated,
        unchanged=staged - inserted - updated,
        archived=newly_tobedeleted + archived_absent,
    )


def _keep_not_delivered(conn: Connection, integration: str, table: Table, stage: Table, params: dict) -> None:
    """Staged cells the SIS did not deliver (a related collection was absent) take the warehouse's values.

    The upsert then sees no change in them: absence never blanks a column. A record the warehouse
    does not hold yet keeps NULL there.
    """
    groups = conn.execute(load_sql.bind(load_sql.not_delivered_groups(stage))).scalars().all()
    for names in groups:
        kept = names.split(",")
        unknown = sorted(set(kept) - set(change_columns(table.name)))
        if unknown:
            raise WarehouseLoadError(f"{integration}/{table.name}: not-delivered columns {unknown} are not loadable columns")
        conn.execute(load_sql.bind(load_sql.keep_not_delivered(table, stage, kept)), params | {"names": names})


def _scalar(conn: Connection, sql: str, params: dict) -> int:
    return conn.execute(load_sql.bind(sql), params).scalar_one()


def _stage_table(table: Table) -> Table:
    """A temporary table for the staged rows: canonical columns without integration, keyed by source id."""
    names = [name for name in columns(table.name) if name != "integration"]
    decisions = []
    if table.name == "students":
        names.append("student_uid")
        # how the identity step found the uid: written to student_mappings, never to the students table
        decisions.append(Column(IDENTITY_RULE, Text(), nullable=False, info={"stage_only": True}))
    decisions.append(Column(NOT_DELIVERED, Text(), info={"stage_only": True}))
    return Table(
        f"stage_{table.name}",
        MetaData(),
        *(
            Column(name, table.c[name].type, nullable=table.c[name].nullable, primary_key=name == "source_id")
            for name in names
        ),
        *decisions,
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


def _stage_frame(integration: str, entity: str, chunk: pd.DataFrame, stage_columns: list[str]) -> pd.DataFrame:
    if NOT_DELIVERED not in chunk:  # staged before columns could be marked: every column was delivered
        chunk = chunk.assign(**{NOT_DELIVERED: None})
    missing = [name for name in ["integration", *stage_columns] if name not in chunk.columns]
    if missing:
        raise WarehouseLoadError(f"{integration}/{entity}: chunk lacks columns {missing}")
    foreign = chunk["integration"] != integration
    if foreign.any():
        row = chunk.loc[foreign].iloc[0]
        raise WarehouseLoadError(
            f"{integration}/{entity}: chunk holds a row of integration {row['integration']!r} "
            f"(source_id {row['source_id']!r})"
        )
    frame = chunk[stage_columns]
    if "source_updated_at" in frame:
        frame = frame.assign(source_updated_at=pd.to_datetime(frame["source_updated_at"], utc=True, format="ISO8601"))
    return frame
