"""The roster asset graph, one partition per integration: raw pages → validated frames → resolved → warehouse."""

import time
from contextlib import contextmanager

import dagster as dg

from sis_pipeline.defs.resources import SisProvidersResource, StagingResource, WarehouseResource
from sis_pipeline.errors import classify
from sis_pipeline.extract import extract
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.normalize.stage import normalize_integration
from sis_pipeline.resolve.conflicts import resolve_conflicts
from sis_pipeline.resolve.identity import assign_student_uids
from sis_pipeline.staging import iter_frames, read_frame, write_frame
from sis_pipeline.warehouse.audit import record_api_calls
from sis_pipeline.warehouse.loader import load_integration
from sis_pipeline.warehouse.runs import finish_sync_run, start_sync_run
from sis_pipeline.warehouse.student_mappings import read_student_mappings

MODE_TAG = "sis_pipeline/mode"
COUNT_NAMES = ("fetched", "valid", "rejected", "inserted", "updated", "unchanged", "archived")


def roster_partitions(names: list[str]) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(names)


@contextmanager
def recorded_failure(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """A step that fails closes the integration's `sync_runs` row as failed, with its error class."""
    try:
        yield
    except Exception as exc:
        finish_sync_run(
            warehouse.engine(), context.run_id, context.partition_key, "failed", {}, error_class=classify(exc), error=str(exc)[:2000]
        )
        raise


def build_roster_assets(partitions: dg.StaticPartitionsDefinition) -> list:
    @dg.asset(partitions_def=partitions, group_name="rosters", kinds={"python", "parquet"})
    def raw_rosters(
        context: dg.AssetExecutionContext, sis: SisProvidersResource, staging: StagingResource, warehouse: WarehouseResource
    ) -> dict:
        """Every roster record the district's SIS serves, exactly as it was sent."""
        name = context.partition_key
        mode = context.run.tags.get(MODE_TAG, "full")
        start_sync_run(warehouse.engine(), context.run_id, name, mode)
        staging.prune(name, context.run_id)  # older runs' pages are kept only to re-run a failed step
        with recorded_failure(context, warehouse):
            provider = sis.open(name, warehouse)
            started = time.perf_counter()
            try:
                raw = extract(provider, staging.run_dir(name, context.run_id) / "raw")
                api = provider.api_stats()
            finally:
                provider.close()
                record_api_calls(warehouse.engine(), context.run_id, name, getattr(provider, "api_calls", list)())
        context.add_output_metadata(
            {f"fetched_{c}": h["rows"] for c, h in raw.items()}
            | {f"api_{k}": v for k, v in api.items()}
            | {"duration_s": round(time.perf_counter() - started, 2)}
        )
        return {"mode": mode, "collections": raw}

    @dg.asset(partitions_def=partitions, group_name="rosters", kinds={"pandas", "parquet"})
    def normalized_rosters(
        context: dg.AssetExecutionContext,
        raw_rosters: dict,
        sis: SisProvidersResource,
        staging: StagingResource,
        warehouse: WarehouseResource,
    ) -> dict:
        """Schools, terms, courses, sections, students, teachers and enrollments in one checked shape; bad rows set aside."""
        name = context.partition_key
        with recorded_failure(context, warehouse):
            integration = sis.integration(name)
            normalizer = sis.normalizer(name)
            out_dir = staging.run_dir(name, context.run_id) / "normalized"
            entities = normalize_integration(integration, normalizer, raw_rosters["collections"], out_dir)
        context.add_output_metadata(
            {f"{e}_valid": r["valid"]["rows"] for e, r in entities.items()}
            | {f"{e}_rejected": r["rejected"]["rows"] for e, r in entities.items()}
        )
        return {"mode": raw_rosters["mode"], "entities": entities}

    @dg.asset(partitions_def=partitions, group_name="rosters", kinds={"pandas", "parquet"})
    def resolved_rosters(
        context: dg.AssetExecutionContext,
        normalized_rosters: dict,
        sis: SisProvidersResource,
        staging: StagingResource,
        warehouse: WarehouseResource,
    ) -> dict:
        """Each student linked to one stable student_uid, and SIS-vs-local conflicts settled by the integration's strategy."""
        name = context.partition_key
        entities = dict(normalized_rosters["entities"])
        resolved = 0
        with recorded_failure(context, warehouse):
            strategy = sis.integration(name).conflict_strategy
            if "students" in entities:
                students = assign_student_uids(
                    read_frame(entities["students"]["valid"]["path"]), read_student_mappings(warehouse.engine(), name)
                )
                students = resolve_conflicts(strategy, students)
                out = staging.run_dir(name, context.run_id) / "resolved" / "students.parquet"
                entities["students"] = {**entities["students"], "valid": write_frame(out, students)}
                resolved = len(students)
        context.add_output_metadata({"conflict_strategy": strategy, "students": resolved})
        return {"mode": normalized_rosters["mode"], "entities": entities}

    @dg.multi_asset(
        partitions_def=partitions,
        group_name="warehouse",
        specs=[
            dg.AssetSpec(
                ["warehouse", entity], deps=["resolved_rosters"], kinds={"sql"}, description=TABLE_MEANINGS[entity], skippable=True
            )
            for entity in ENTITIES
        ],
        ins={"resolved_rosters": dg.AssetIn()},
    )
    def warehouse_tables(context: dg.AssetExecutionContext, resolved_rosters: dict, warehouse: WarehouseResource):
        """The district's roster tables, loaded in one transaction per integration."""
        name = context.partition_key
        entities = resolved_rosters["entities"]
        loaded_entities = [entity for entity in ENTITIES if entity in entities]
        full = {entity: resolved_rosters["mode"] == "full" and entities[entity]["mode"] == "bulk" for entity in loaded_entities}
        started = time.perf_counter()
        with recorded_failure(context, warehouse):
            loaded = load_integration(
                warehouse.engine(),
                name,
                {entity: iter_frames(entities[entity]["valid"]["path"]) for entity in loaded_entities},
                full=full,
                run_id=context.run_id,
                rejected={entity: read_frame(entities[entity]["rejected"]["path"]) for entity in loaded_entities},
                counts_extra={"fetched": {entity: entities[entity]["fetched"] for entity in loaded_entities}},
            )
        seconds = round(time.perf_counter() - started, 2)
        for entity in loaded_entities:
            counts = entity_counts(entities[entity], loaded[entity])
            yield dg.MaterializeResult(
                asset_key=["warehouse", entity],
                metadata={**counts, "mode": entities[entity]["mode"], "load_duration_s": seconds},
            )

    return [raw_rosters, normalized_rosters, resolved_rosters, warehouse_tables]


def entity_counts(normalized: dict, loaded) -> dict[str, int]:
    """The seven numbers a district reads for each entity of a run."""
    return {
        "fetched": normalized["fetched"],
        "valid": normalized["valid"]["rows"],
        "rejected": normalized["rejected"]["rows"],
        **{name: getattr(loaded, name) for name in ("inserted", "updated", "unchanged", "archived")},
    }


TABLE_MEANINGS = {
    "schools": "The district's schools.",
    "terms": "School years, semesters and terms.",
    "courses": "The course catalogue.",
    "sections": "Class sections: a course taught in a term.",
    "students": "Students, each with a stable student_uid.",
    "teachers": "Teachers and other staff who teach sections.",
    "enrollments": "Who is in which section, students and teachers.",
}
