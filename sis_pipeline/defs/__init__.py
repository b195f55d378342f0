"""The thin Dagster layer: module-level assets and sensors, bound to the configured integrations once."""

import dagster as dg

from sis_pipeline.config import PipelineConfig
from sis_pipeline.defs.automation import automation, changes_job, sync_job
from sis_pipeline.defs.checks import roster_checks
from sis_pipeline.defs.io_manager import StagedDatasetIOManager
from sis_pipeline.defs.resources import RunLockResource, StagingResource, WarehouseResource
from sis_pipeline.defs.rosters import normalized_rosters, raw_rosters, resolved_rosters
from sis_pipeline.defs.sensors import terminated_run_sensor, token_health_sensor
from sis_pipeline.defs.warehouse_tables import warehouse_tables
from sis_pipeline.staging import keep_runs

ROSTER_ASSETS = [raw_rosters, normalized_rosters, resolved_rosters, warehouse_tables]


def integration_partitions(config: PipelineConfig) -> dg.StaticPartitionsDefinition:
    """One partition per configured integration: each integration is synced, re-run and watched on its own."""
    return dg.StaticPartitionsDefinition(config.names)


def roster_assets(config: PipelineConfig) -> list[dg.AssetsDefinition]:
    """The roster assets and the checks of their tables: every run that loads the tables checks them too."""
    partitions = integration_partitions(config)
    assets = dg.map_asset_specs(lambda spec: spec.replace_attributes(partitions_def=partitions), ROSTER_ASSETS)
    return [*assets, *roster_checks(partitions)]


def build_resources(config: PipelineConfig, warehouse_url: str = "", staging_dir: str = "") -> dict:
    """The resources every run uses; the configuration is handed on as the parsed, validated value."""
    staging = StagingResource(root=staging_dir, keep_runs=keep_runs())
    warehouse = WarehouseResource(url=warehouse_url)
    return {
        "integrations": config,
        "warehouse": warehouse,
        "run_lock": RunLockResource(warehouse=warehouse),
        "staging": staging,
        "staged_datasets": StagedDatasetIOManager(staging=staging),
    }


def build_definitions(config: PipelineConfig) -> dg.Definitions:
    """Definitions for a validated configuration; loading them calls no SIS and no database.

    Steps run in one process (the in-process executor): a process per step re-imports Dagster, pandas
    and pyarrow four times, which made a small district's run from the UI several times slower than
    the same run from the command line, and the steps are sequential anyway.
    """
    assets = roster_assets(config)
    partitions = integration_partitions(config)
    job, changes = sync_job(partitions), changes_job(partitions)
    schedules, change_sensors = automation(config, job, changes)
    return dg.Definitions(
        assets=assets,
        jobs=[job, changes],
        schedules=schedules,
        sensors=[token_health_sensor, terminated_run_sensor, *change_sensors],
        resources=build_resources(config),
        executor=dg.in_process_executor,
    )
