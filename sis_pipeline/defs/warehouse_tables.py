"""The warehouse half of the asset graph: the district's roster tables, loaded in one transaction per integration."""

import time

import dagster as dg

from sis_pipeline.counts import entity_counts
from sis_pipeline.datasets import RosterDatasets
from sis_pipeline.defs.resources import StagingResource, WarehouseResource
from sis_pipeline.defs.steps import recorded_sync_step
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.staging import iter_frames, read_frame
from sis_pipeline.warehouse.loader import load_integration
from sis_pipeline.warehouse.row_counts import active_row_counts
from sis_pipeline.warehouse.schema import ENTITY_TABLES

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
    context: dg.AssetExecutionContext, resolved_rosters: RosterDatasets, warehouse: WarehouseResource, staging: StagingResource
):
    """The district's roster tables, loaded in one transaction per integration."""
    name, run_id = context.partition_key, context.run_id
    entities = resolved_rosters.entities
    loaded_entities = [entity for entity in ENTITIES if entity in entities]
    started = time.perf_counter()
    with recorded_sync_step(warehouse, run_id, name, resolved_rosters.mode) as engine:
        loaded = load_integration(
            engine,
            name,
            {entity: iter_frames(entities[entity].valid.path) for entity in loaded_entities},
            full={entity: resolved_rosters.full_load(entity) for entity in loaded_entities},
            run_id=run_id,
            rejected={entity: read_frame(entities[entity].rejected.path) for entity in loaded_entities},
            counts_extra={"fetched": {entity: entities[entity].fetched for entity in loaded_entities}},
        )
    staging.mark_loaded(name, resolved_rosters)
    seconds = round(time.perf_counter() - started, 2)
    rows = active_row_counts(engine, name, loaded_entities)
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
                "dagster/row_count": rows[entity],
            },
        )
