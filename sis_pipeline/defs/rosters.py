"""The staging half of the asset graph, one partition per integration: raw pages → validated frames → resolved."""

import time
from datetime import UTC, datetime

import dagster as dg

from sis_pipeline.config import PipelineConfig
from sis_pipeline.datasets import Dataset, Delivery, EntityDatasets, RawCollection, RawRosters, RosterDatasets, StagedRun, SyncMode
from sis_pipeline.delivery import delivery_digest, read_page_digests, settings_digest
from sis_pipeline.defs.resources import RunLockResource, StagingResource, WarehouseResource, normalizer_for, open_provider
from sis_pipeline.defs.steps import recorded_sync_step
from sis_pipeline.extract import extract
from sis_pipeline.incremental import committable_watermarks, plan_since
from sis_pipeline.normalize.chunks import chunk_records
from sis_pipeline.normalize.stage import normalize_integration
from sis_pipeline.normalize.streaming import NormalizeWhileExtracting
from sis_pipeline.resolve.identity import assign_teacher_uids
from sis_pipeline.resolve.stage import resolve_students
from sis_pipeline.staging import read_frame, write_frame
from sis_pipeline.warehouse.audit import record_api_calls
from sis_pipeline.warehouse.cursors import read_watermarks
from sis_pipeline.warehouse.teacher_mappings import read_teacher_index
from sis_pipeline.warehouse.unchanged import unchanged_reference

STAGED = {"io_manager_key": "staged_datasets"}


class SyncRunConfig(dg.Config):
    """How a run reads the SIS: `full` re-reads everything and archives what is gone; `incremental` reads
    what changed since the watermarks (sync_cursors) and archives only what the SIS marks deleted."""

    mode: SyncMode = "full"
    # a full sync whose delivery is byte-identical to the last one's is recorded as unchanged without
    # normalising or loading (warehouse/unchanged.py); this normalises and loads it all the same
    reprocess: bool = False


@dg.asset(group_name="rosters", kinds={"python", "parquet"}, **STAGED)
def raw_rosters(
    context: dg.AssetExecutionContext,
    config: SyncRunConfig,
    integrations: dg.ResourceParam[PipelineConfig],
    staging: StagingResource,
    warehouse: WarehouseResource,
    run_lock: RunLockResource,
) -> RawRosters:
    """Every roster record the district's SIS serves, exactly as it was sent."""
    name, run_id = context.partition_key, context.run_id
    with recorded_sync_step(warehouse, run_id, name, config.mode, hold_run_lock=run_lock.hold) as engine:
        staging.prune(name, run_id)  # older runs are kept only to re-run a step; never the last good ones
        integration = integrations.integration(name)
        settings = settings_digest(integration, integrations.priorities, normalizer_for(integration))
        reference = None
        if config.mode == "full" and not config.reprocess:
            reference = unchanged_reference(engine, name, run_id, integration.unchanged_delivery_days)
        provider = open_provider(integration, warehouse)
        started = time.perf_counter()
        extracted_at = datetime.now(UTC)
        since, whole, normalized, delivery, unchanged_since = None, [], None, None, None
        listener = _normalize_while_extracting(
            integration, staging.run_dir(name, run_id), config.mode, extracted_at, _expected_pages(staging, name, reference, settings)
        )
        try:
            if config.mode == "incremental":
                since, whole = plan_since(provider, read_watermarks(engine, name), integration.lookback_seconds)
            collections, skipped = extract(provider, staging.run_dir(name, run_id) / "raw", since, listener)
            api = provider.api_stats()
            if config.mode == "full":
                delivery = Delivery(digest=delivery_digest(settings, collections), settings=settings)
                if reference is not None and reference["delivery"]["digest"] == delivery.digest:
                    unchanged_since = reference["run_id"]
            normalized = listener.result() if listener is not None and unchanged_since is None else None
        finally:
            if listener is not None:
                listener.close()
            provider.close()
            record_api_calls(engine, run_id, name, getattr(provider, "api_calls", list)())
    context.add_output_metadata(
        {f"fetched_{collection}": handle["rows"] for collection, handle in collections.items()}
        | {f"api_{key}": value for key, value in api.items()}
        | {"api_enrichments_skipped": len(skipped)}
        | ({"mode": config.mode, "read_whole": dg.MetadataValue.json(whole)} if since is not None else {"mode": config.mode})
        | {f"since_{collection}": handle["since"].isoformat() for collection, handle in collections.items() if handle.get("since")}
        | {"duration_s": round(time.perf_counter() - started, 2)}
        | ({"normalized_after_last_page_s": listener.tail_seconds} if normalized is not None else {})
        | ({"unchanged_since": unchanged_since} if unchanged_since else {})
    )
    return RawRosters(
        integration=name,
        run_id=run_id,
        mode=config.mode,
        extracted_at=extracted_at,
        collections={collection: RawCollection.model_validate(handle) for collection, handle in collections.items()},
        normalized=normalized,
        delivery=delivery,
        unchanged_since=unchanged_since,
    )


def _expected_pages(staging: StagingResource, name: str, reference: dict | None, settings: str) -> dict[str, list[str]] | None:
    """The pages of the delivery tonight's may repeat: the reference run's, if read under the same settings and code."""
    if reference is None or reference["delivery"]["settings"] != settings:
        return None
    return read_page_digests(staging.run_dir(name, reference["run_id"]) / "raw") or None


def _normalize_while_extracting(
    integration, run_dir, mode: str, extracted_at: datetime, expected_pages: dict[str, list[str]] | None
) -> NormalizeWhileExtracting | None:
    """Chunked normalising may start before extraction ends; whole-collection normalising (chunk size 0) cannot."""
    size = chunk_records()
    if not size:
        return None
    return NormalizeWhileExtracting(
        integration, normalizer_for(integration), run_dir / "normalized",
        today=extracted_at.date(), newest_wins=mode == "incremental", size=size, hold_while_matching=expected_pages,
    )


@dg.asset(group_name="rosters", kinds={"pandas", "parquet"}, **STAGED)
def normalized_rosters(
    context: dg.AssetExecutionContext,
    raw_rosters: RawRosters,
    integrations: dg.ResourceParam[PipelineConfig],
    staging: StagingResource,
    warehouse: WarehouseResource,
    run_lock: RunLockResource,
) -> RosterDatasets:
    """Schools, terms, courses, sections, students, teachers and enrollments in one checked shape; bad rows set aside."""
    name, run_id = context.partition_key, context.run_id
    if raw_rosters.unchanged_since:
        context.add_output_metadata({"unchanged_since": raw_rosters.unchanged_since})
        return RosterDatasets(**raw_rosters.model_dump(include=set(StagedRun.model_fields)) | {"run_id": run_id}, entities={})
    with recorded_sync_step(warehouse, run_id, name, raw_rosters.mode, hold_run_lock=run_lock.hold):
        integration = integrations.integration(name)
        normalizer = normalizer_for(integration)
        adopted = raw_rosters.normalized is not None and raw_rosters.run_id == run_id
        if adopted:
            # normalised while this run extracted, from these very files; a step re-run alone normalises again
            entities = {entity: datasets.model_dump() for entity, datasets in raw_rosters.normalized.items()}
        else:
            entities = normalize_integration(
                integration,
                normalizer,
                {collection: handle.model_dump() for collection, handle in raw_rosters.collections.items()},
                staging.run_dir(name, run_id) / "normalized",
                newest_wins=raw_rosters.mode == "incremental",
            )
        watermarks = committable_watermarks(
            normalizer.sources,
            {collection: handle.newest_change for collection, handle in raw_rosters.collections.items()},
            {entity: result["rejected"]["rows"] for entity, result in entities.items()},
        )
    context.add_output_metadata(
        {f"{entity}_valid": result["valid"]["rows"] for entity, result in entities.items()}
        | {f"{entity}_rejected": result["rejected"]["rows"] for entity, result in entities.items()}
        | {f"{entity}_kept_columns": dg.MetadataValue.json(result["kept_columns"]) for entity, result in entities.items() if result["kept_columns"]}
        | {"normalized_while_extracting": adopted}
    )
    return RosterDatasets(
        integration=name,
        run_id=run_id,
        mode=raw_rosters.mode,
        extracted_at=raw_rosters.extracted_at,
        delivery=raw_rosters.delivery,
        entities={entity: EntityDatasets.model_validate(result) for entity, result in entities.items()},
        watermarks=watermarks,
    )


@dg.asset(group_name="rosters", kinds={"pandas", "parquet"}, **STAGED)
def resolved_rosters(
    context: dg.AssetExecutionContext,
    normalized_rosters: RosterDatasets,
    integrations: dg.ResourceParam[PipelineConfig],
    staging: StagingResource,
    warehouse: WarehouseResource,
    run_lock: RunLockResource,
) -> RosterDatasets:
    """Each student linked to one stable student_uid, and SIS-vs-local conflicts settled by the integration's strategy."""
    name, run_id = context.partition_key, context.run_id
    resolved = normalized_rosters.model_copy(update={"run_id": run_id})
    if resolved.unchanged_since:
        context.add_output_metadata({"unchanged_since": resolved.unchanged_since})
        return resolved
    reviews_opened, actions = 0, {}
    with recorded_sync_step(warehouse, run_id, name, normalized_rosters.mode, hold_run_lock=run_lock.hold) as engine:
        strategy = integrations.integration(name).conflict_strategy
        if "students" in normalized_rosters.entities:
            entity = normalized_rosters.entities["students"]
            out = staging.run_dir(name, run_id) / "resolved"
            students = resolve_students(engine, name, run_id, strategy, entity.valid.path, out / "students.parquet")
            reviews_opened = students.reviews_opened
            actions = students.decisions["action"].value_counts().to_dict()
            resolved = resolved.with_entity("students", entity.model_copy(update={"valid": Dataset.model_validate(students.students)}))
            conflicts = write_frame(out / "conflicts.parquet", students.decisions)
            resolved = resolved.model_copy(update={"conflicts": Dataset.model_validate(conflicts)})
        if "teachers" in normalized_rosters.entities:
            entity = normalized_rosters.entities["teachers"]
            teachers = assign_teacher_uids(read_frame(entity.valid.path), *read_teacher_index(engine, name), name)
            written = write_frame(staging.run_dir(name, run_id) / "resolved" / "teachers.parquet", teachers)
            resolved = resolved.with_entity("teachers", entity.model_copy(update={"valid": Dataset.model_validate(written)}))
    students_resolved = resolved.entities["students"].valid.rows if "students" in resolved.entities else 0
    context.add_output_metadata(
        {
            "conflict_strategy": strategy,
            "students": students_resolved,
            "identity_reviews_opened": reviews_opened,
            "local_edits_retired": int(actions.get("retire", 0)),
            "conflicts_for_review": int(actions.get("conflict", 0)),
        }
    )
    return resolved
