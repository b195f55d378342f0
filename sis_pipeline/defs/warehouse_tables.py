"""The warehouse half of the asset graph: the district's roster tables, loaded in one transaction per integration."""

import time

import dagster as dg
from sqlalchemy import Engine

from sis_pipeline.config import IntegrationConfig, PipelineConfig, SafetyLimits
from sis_pipeline.counts import entity_counts
from sis_pipeline.datasets import RosterDatasets
from sis_pipeline.defs.resources import RunLockResource, StagingResource, WarehouseResource
from sis_pipeline.defs.steps import recorded_sync_step
from sis_pipeline.errors import describe
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.reporting import report_markdown
from sis_pipeline.staging import iter_tables, read_frame
from sis_pipeline.warehouse.errors import SyncHeld
from sis_pipeline.warehouse.loader import EntityCounts, load_integration
from sis_pipeline.warehouse.row_counts import active_row_counts
from sis_pipeline.warehouse.runs import read_sync_run
from sis_pipeline.warehouse.schema import ENTITY_TABLES
from sis_pipeline.warehouse.unchanged import delivery_record, record_unchanged

TABLE_MEANINGS = {
    "schools": "The district's schools.",
    "terms": "School years, semesters and terms.",
    "courses": "The course catalogue.",
    "sections": "Class sections: a course taught in a term.",
    "students": "Students, each with a stable student_uid.",
    "teachers": "Teachers and other staff who teach sections.",
    "enrollments": "Who is in which section, students and teachers.",
}


def _column_schema(entity: str) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                column.name,
                type(column.type).__name__.lower(),
                constraints=dg.TableColumnConstraints(nullable=bool(column.nullable)),
            )
            for column in ENTITY_TABLES[entity].columns
        ]
    )


def _table_spec(entity: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        ["warehouse", entity],
        deps=["resolved_rosters"],
        kinds={"sql"},
        description=TABLE_MEANINGS[entity],
        skippable=True,
        metadata={"dagster/table_name": entity, "dagster/column_schema": _column_schema(entity)},
    )


@dg.multi_asset(
    group_name="warehouse",
    specs=[_table_spec(entity) for entity in ENTITIES],
    ins={"resolved_rosters": dg.AssetIn(input_manager_key="staged_datasets")},
)
def warehouse_tables(
    context: dg.AssetExecutionContext,
    resolved_rosters: RosterDatasets,
    integrations: dg.ResourceParam[PipelineConfig],
    warehouse: WarehouseResource,
    staging: StagingResource,
    run_lock: RunLockResource,
):
    """The district's roster tables, loaded in one transaction per integration.

    A load beyond the integration's safety limits applies nothing: the run is held, and this step fails
    with the report as metadata so that the run shows in red until a person approves or discards it.
    """
    name, run_id = context.partition_key, context.run_id
    if resolved_rosters.unchanged_since:
        yield from _record_unchanged(context, resolved_rosters, integrations.integration(name), warehouse, run_lock)
        return
    entities = resolved_rosters.entities
    loaded_entities = [entity for entity in ENTITIES if entity in entities]
    started = time.perf_counter()
    try:
        with recorded_sync_step(warehouse, run_id, name, resolved_rosters.mode, hold_run_lock=run_lock.hold) as engine:
            loaded = load_staged(
                engine, resolved_rosters, run_id=run_id, safety=integrations.integration(name).safety,
                priorities=integrations.priorities, strategy=integrations.integration(name).conflict_strategy,
            )
    except SyncHeld as held:
        staging.mark_held(name, run_id, resolved_rosters)
        raise dg.Failure(description=str(held), metadata=held_metadata(held), allow_retries=False) from None
    staging.mark_loaded(name, resolved_rosters)
    seconds = round(time.perf_counter() - started, 2)
    rows = active_row_counts(engine, name, loaded_entities)
    report = _report_metadata(context, engine, name, run_id)
    for entity in loaded_entities:
        staged = entities[entity]
        counts = entity_counts(staged.fetched, staged.valid.rows, staged.rejected.rows, loaded[entity].as_dict())
        yield dg.MaterializeResult(
            asset_key=["warehouse", entity],
            metadata={
                **counts,
                "mode": staged.mode,
                "load_duration_s": seconds,
                "staged_by_run": resolved_rosters.run_id,
                "kept_columns": dg.MetadataValue.json(staged.kept_columns),
                "kept_rows": staged.kept_rows,
                "dagster/row_count": rows[entity],
                **report,
            },
        )


def _record_unchanged(context, staged: RosterDatasets, integration: IntegrationConfig, warehouse: WarehouseResource, run_lock: RunLockResource):
    """The delivery is the one the warehouse holds: the run is recorded on that run's load, nothing written."""
    name, run_id = integration.name, context.run_id
    with recorded_sync_step(warehouse, run_id, name, staged.mode, hold_run_lock=run_lock.hold) as engine:
        counts = record_unchanged(
            engine, name, run_id, staged.unchanged_since, staged.delivery.digest, integration.unchanged_delivery_days
        )
    entities = [entity for entity in ENTITIES if entity in counts]
    rows = active_row_counts(engine, name, entities)
    report = _report_metadata(context, engine, name, run_id)
    for entity in entities:
        loaded = counts[entity]
        yield dg.MaterializeResult(
            asset_key=["warehouse", entity],
            metadata={
                **entity_counts(counts.get("fetched", {}).get(entity, loaded["staged"]), loaded["staged"], counts["rejected"].get(entity, 0), loaded),
                "mode": "unchanged",
                "unchanged_since": staged.unchanged_since,
                "dagster/row_count": rows[entity],
                **report,
            },
        )


def _report_metadata(context: dg.AssetExecutionContext, engine: Engine, name: str, run_id: str) -> dict:
    """The run's report (ids only) as Markdown; the load has committed by now, so a report that fails costs only itself."""
    try:
        return {"sync_report": dg.MetadataValue.md(report_markdown(engine, name, run_id))}
    except Exception as exc:
        context.log.warning(f"{name}: the run's report could not be assembled: {describe(exc)}")
        return {}


def load_staged(
    engine: Engine,
    staged: RosterDatasets,
    *,
    run_id: str,
    safety: SafetyLimits | None,
    priorities: dict[str, int] | None = None,
    strategy: str = "sis_wins",
) -> dict[str, EntityCounts]:
    """Load a resolved run's staged datasets: what this step does, and what approving a held run does again."""
    entities = staged.entities
    loaded_entities = [entity for entity in ENTITIES if entity in entities]
    return load_integration(
        engine,
        staged.integration,
        {entity: iter_tables(entities[entity].valid.path) for entity in loaded_entities},
        full={entity: staged.full_load(entity) for entity in loaded_entities},
        run_id=run_id,
        rejected={entity: read_frame(entities[entity].rejected.path) for entity in loaded_entities},
        counts_extra={
            "fetched": {entity: entities[entity].fetched for entity in loaded_entities},
            # columns a related collection did not deliver: the load kept the warehouse's values (e.g. birth_date)
            "kept_columns": {entity: entities[entity].kept_columns for entity in loaded_entities if entities[entity].kept_columns},
            "warnings": {entity: entities[entity].warnings for entity in loaded_entities if entities[entity].warnings},
            # what the next full sync may match to be recorded without loading (warehouse/unchanged.py)
            **({"delivery": delivery_record(staged.delivery.digest, staged.delivery.settings, run_id, staged.extracted_at)}
               if staged.delivery and staged.extracted_at else {}),
        },
        extracted_at=staged.extracted_at or _staging_run_start(engine, staged),
        safety=safety,
        handle={"type": type(staged).__name__, **staged.model_dump(mode="json")},
        watermarks=staged.watermarks,
        reset_watermarks=staged.mode == "full",
        priorities=priorities,
        conflicts=read_frame(staged.conflicts.path) if staged.conflicts else None,
        strategy=strategy,
    )


def _staging_run_start(engine: Engine, staged: RosterDatasets):
    """For handles staged before `extracted_at` was recorded: the start of the run that staged them."""
    record = read_sync_run(engine, staged.run_id, staged.integration)
    return record["started_at"] if record else None


def held_metadata(held: SyncHeld) -> dict:
    """What a held run would have done, per entity, for the step's failure in the UI (source ids only, never names)."""
    rows = [
        f"| {entity} | {e['active_before']} | {e['inserted']} | {e['updated']} | {e['archived_active']} "
        f"| {e['archive_fraction']:.1%} | {e['change_fraction']:.1%} |"
        for entity, e in held.report["entities"].items()
    ]
    table = "\n".join(
        ["| entity | active | would insert | would update | would archive | archive | change |", "|---|---|---|---|---|---|---|", *rows]
    )
    return {
        "outcome": "held",
        "held_run": held.run_id,
        "reasons": dg.MetadataValue.md("\n".join(f"- {reason}" for reason in held.report["reasons"])),
        "would_have_done": dg.MetadataValue.md(table),
        "report": dg.MetadataValue.json(held.report),
        "approve_with": f"sis-pipeline holds approve {held.run_id}",
    }
