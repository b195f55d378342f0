"""Load one integration's canonical frames into the warehouse in a single transaction.

Per entity: stage every chunk into a temporary table, refuse a full sync that would archive a
whole table, link new student source ids, upsert (unchanged rows are not written), and on a full
sync archive what the source no longer lists. Readers see the old roster or the new one. A load
that would archive or change more than the integration's safety limits allow rolls back and
closes its run as held, for a person to approve or discard (holds.py).
"""

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Column, Connection, Engine, MetaData, Table, Text

from sis_pipeline.config import SafetyLimits
from sis_pipeline.normalize.models import ENTITIES, columns
from sis_pipeline.normalize.related import NOT_DELIVERED
from sis_pipeline.resolve.identity import IDENTITY_RULE, PERSON_UIDS
from sis_pipeline.warehouse import load_sql, postgres_stage, sqlite_stage
from sis_pipeline.warehouse.cursors import advance_watermarks
from sis_pipeline.warehouse.errors import SyncHeld, WarehouseLoadError, WarehouseSafetyError
from sis_pipeline.warehouse.history import record_student_versions
from sis_pipeline.warehouse.holds import record_hold
from sis_pipeline.warehouse.overrides import apply_decisions
from sis_pipeline.warehouse.profiles import refresh_touched_profiles
from sis_pipeline.warehouse.rejections import write_rejected
from sis_pipeline.warehouse.runs import finish_sync_run
from sis_pipeline.warehouse.safety import EntityChange, hold_reasons
from sis_pipeline.warehouse.schema import ENTITY_TABLES, change_columns

_BACKENDS: dict[str, ModuleType] = {"postgresql": postgres_stage, "sqlite": sqlite_stage}


def lock_integration(conn: Connection, integration: str) -> None:
    """Hold the integration's load lock until the transaction ends: its loads queue instead of interleaving."""
    _BACKENDS[conn.dialect.name].lock_integration(conn, integration)


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


@dataclass(frozen=True)
class _EntityLoad:
    counts: EntityCounts
    change: EntityChange
    stale: int  # rows not written because the stored row is newer (counted as unchanged)


class _Held(Exception):
    """Raised inside the load's transaction so that it rolls back; carries what the load would have done."""

    def __init__(self, reasons: list[str], report: dict):
        super().__init__("; ".join(reasons))
        self.report = report


def load_integration(
    engine: Engine,
    integration: str,
    datasets: Mapping[str, Iterable[pd.DataFrame]],
    *,
    full: bool | Mapping[str, bool],
    run_id: str,
    rejected: Mapping[str, pd.DataFrame] | None = None,
    counts_extra: Mapping[str, Any] | None = None,
    extracted_at: datetime | None = None,
    safety: SafetyLimits | None = SafetyLimits(),
    handle: Mapping[str, Any] | None = None,
    watermarks: Mapping[str, datetime] | None = None,
    reset_watermarks: bool = False,
    priorities: Mapping[str, int] | None = None,
    conflicts: pd.DataFrame | None = None,
    strategy: str = "sis_wins",
) -> dict[str, EntityCounts]:
    """Load every entity of `datasets`, the rejected records, and close the started run as success.

    `full` says whether the staged set is the entity's complete set (archive what is missing), for
    all entities at once or per entity (a CSV drop may carry a bulk file for one and a delta for another).
    `extracted_at` is when the data was read from the SIS (default: now): rows a load wrote after that
    moment are newer than this data, so they are neither overwritten nor archived.

    All of it commits together or not at all; on an exception the caller closes the run as
    failed (`finish_sync_run(engine, ...)`). The run's counts record each entity's counts, the
    rejected records and the stale rows per entity, and `counts_extra` (e.g. the provider's own totals).

    When an entity's load exceeds `safety` (None: no limits, for an approved hold), nothing is applied:
    the run is closed as held with a report of what it would have done, and `handle` (the staged data
    an approval loads again) kept with it; then SyncHeld is raised.

    `watermarks` (raw collection -> newest change this load takes) are recorded in the same
    transaction (warehouse/cursors.py); `reset_watermarks` (a full sync) replaces the stored ones.
    `priorities` (integration -> rank, lower wins) decide whose row a child's golden record takes;
    `conflicts` (resolve/conflicts.py's decisions under `strategy`) retire local edits or record conflicts.
    """
    _check_entities(integration, [*datasets, *(rejected or {})])
    now = datetime.now(UTC)
    as_of = _utc(extracted_at or now)
    params = {"integration": integration, "now": now, "run_id": run_id, "as_of": as_of}
    try:
        with engine.begin() as conn:
            backend = _BACKENDS[conn.dialect.name]
            lock_integration(conn, integration)
            # Rejections first: a full sync must not archive a row that was listed but rejected.
            rejected_counts = write_rejected(conn, backend, integration, run_id, rejected or {}, now)
            # Before the students load rebuilds the golden records: an edit the SIS won no longer shows.
            edits = apply_decisions(conn, integration, run_id, conflicts, now, strategy) if conflicts is not None and len(conflicts) else {}
            loads = {
                entity: _load_entity(
                    conn, backend, integration, entity, chunks, full=full if isinstance(full, bool) else full[entity], params=params,
                    priorities=priorities or {},
                )
                for entity, chunks in datasets.items()
            }
            if safety is not None:
                _hold_if_beyond(conn, integration, loads, safety, params)
            if watermarks is not None:
                advance_watermarks(conn, integration, run_id, watermarks, full=reset_watermarks, now=now)
            run_counts = {entity: load.counts.as_dict() for entity, load in loads.items()}
            stale = {entity: load.stale for entity, load in loads.items()}
            finish_sync_run(
                conn,
                run_id,
                integration,
                "success",
                {**run_counts, "rejected": rejected_counts, "stale": stale, **({"local_edits": edits} if edits else {}), **(counts_extra or {})},
            )
    except _Held as held:
        record_hold(engine, run_id, integration, held.report, handle)
        raise SyncHeld(
            f"{integration}: run {run_id} held, nothing was applied: {held}; review it with "
            f"`sis-pipeline holds show {run_id}`, then `holds approve` or `holds discard`",
            integration=integration,
            run_id=run_id,
            report=held.report,
        ) from None
    return {entity: load.counts for entity, load in loads.items()}


def _hold_if_beyond(
    conn: Connection, integration: str, loads: Mapping[str, _EntityLoad], safety: SafetyLimits, params: dict
) -> None:
    """Raise _Held (rolling the load back) when any entity exceeds the limits, with what the load would have done."""
    reasons = [
        reason for entity, load in loads.items() for reason in hold_reasons(safety, integration, entity, load.change)
    ]
    if not reasons:
        return
    entities = {}
    for entity, load in loads.items():
        table = ENTITY_TABLES[entity]
        entities[entity] = {
            **load.counts.as_dict(),
            "active_before": load.change.active_before,
            "archived_active": load.change.archived,
            **load.change.fractions(),
            "sample_archived": _column(conn, load_sql.sample_written(table, archived=True), params),
            "sample_changed": _column(conn, load_sql.sample_written(table, archived=False), params),
        }
    raise _Held(reasons, {"reasons": reasons, "limits": safety.model_dump(), "entities": entities})


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
    priorities: Mapping[str, int],
) -> _EntityLoad:
    table = ENTITY_TABLES[entity]
    stage = _stage_table(table)
    stage.create(conn)
    staged = 0
    for chunk in chunks:
        frame = _stage_frame(integration, entity, chunk, [column.name for column in stage.columns])
        if len(frame) == 0:
            continue
        try:
            backend.copy_frame(conn, stage, frame)
        except Exception as error:
            error.add_note(f"while staging {integration}/{entity} rows {staged + 1}-{staged + len(frame)}")
            raise
        staged += len(frame)
    backend.analyze(conn, stage)
    _keep_not_delivered(conn, integration, table, stage, params)

    active_before = _scalar(conn, load_sql.count_active(table), params)
    # Refused outright rather than held: approving it could only empty the table.
    if full and staged == 0 and active_before:
        raise WarehouseSafetyError(
            f"{integration}/{entity}: a full sync staged 0 rows but the warehouse holds {active_before} active "
            f"rows; refusing to archive them all (an empty export is far likelier than an empty district)"
        )
    newly_tobedeleted, tobedeleted_active = conn.execute(
        load_sql.bind(load_sql.count_newly_tobedeleted(table, stage)), params
    ).one()
    stale = _scalar(conn, load_sql.count_stale(table, stage), params)
    if entity in load_sql.PERSON_LINKS:
        conn.execute(load_sql.bind(load_sql.link_new_source_ids(entity, stage)), params)
        conn.execute(load_sql.bind(load_sql.link_legacy_ids(entity, stage)), params)
    inserted, updated = backend.upsert(conn, table, stage, params)
    archived_absent = conn.execute(load_sql.bind(load_sql.archive_absent(table, stage)), params).rowcount if full else 0
    if entity in load_sql.PERSON_LINKS:
        conn.execute(load_sql.bind(load_sql.close_links(entity)), params)
    if entity == "students":
        refresh_touched_profiles(conn, integration, params["now"], priorities)
        record_student_versions(conn, params)
    stage.drop(conn)
    counts = EntityCounts(
        staged=staged,
        inserted=inserted,
        updated=updated,
        unchanged=staged - inserted - updated,
        archived=newly_tobedeleted + archived_absent,
    )
    change = EntityChange(active_before=active_before, archived=tobedeleted_active + archived_absent, updated=updated)
    return _EntityLoad(counts=counts, change=change, stale=stale)


def _utc(moment: datetime) -> datetime:
    """SQLite hands times back naive, in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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


def _column(conn: Connection, sql: str, params: dict) -> list:
    return list(conn.execute(load_sql.bind(sql), params).scalars())


def _stage_table(table: Table) -> Table:
    """A temporary table for the staged rows: canonical columns without integration, keyed by source id."""
    names = [name for name in columns(table.name) if name != "integration"]
    decisions = []
    if table.name in PERSON_UIDS:
        names.append(PERSON_UIDS[table.name])
        # how the identity step found the uid: written to the mappings, never to the person's table
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


def _stage_frame(integration: str, entity: str, chunk: pd.DataFrame | pa.Table, stage_columns: list[str]) -> pd.DataFrame | pa.Table:
    """The chunk's staging columns, after checking it is this integration's; Arrow tables (the staged
    datasets' row groups) stay Arrow, so COPY encodes them without a detour through Python objects."""
    names = chunk.column_names if isinstance(chunk, pa.Table) else list(chunk.columns)
    if NOT_DELIVERED not in names:  # staged before columns could be marked: every column was delivered
        chunk = _with_column(chunk, NOT_DELIVERED)
        names.append(NOT_DELIVERED)
    missing = [name for name in ["integration", *stage_columns] if name not in names]
    if missing:
        raise WarehouseLoadError(f"{integration}/{entity}: chunk lacks columns {missing}")
    if isinstance(chunk, pa.Table):
        foreign = pc.invert(pc.fill_null(pc.equal(chunk["integration"], integration), False))
        text_times = "source_updated_at" in names and not pa.types.is_timestamp(chunk.schema.field("source_updated_at").type)
        if not pc.any(foreign).as_py() and not text_times:
            return chunk.select(stage_columns)
        chunk = chunk.to_pandas()  # to name the foreign row, or parse text times (data staged by older versions)
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


def _with_column(chunk: pd.DataFrame | pa.Table, name: str) -> pd.DataFrame | pa.Table:
    """The chunk with an all-null text column `name`."""
    if isinstance(chunk, pa.Table):
        return chunk.append_column(name, pa.nulls(len(chunk), pa.string()))
    return chunk.assign(**{name: None})
