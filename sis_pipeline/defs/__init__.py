"""The thin Dagster layer: assets, resources and definitions built from `integrations.yaml`."""

import dagster as dg

from sis_pipeline.config import PipelineConfig, config_path
from sis_pipeline.defs.assets import build_roster_assets, roster_partitions
from sis_pipeline.defs.resources import SisProvidersResource, StagingResource, WarehouseResource
from sis_pipeline.defs.token_health import build_token_health_sensor


def build_resources(config_file: str, warehouse_url: str = "", staging_dir: str = "") -> dict:
    return {
        "sis": SisProvidersResource(config_path=str(config_file)),
        "warehouse": WarehouseResource(url=warehouse_url),
        "staging": StagingResource(root=staging_dir),
    }


def build_definitions(config: PipelineConfig, config_file: str | None = None) -> dg.Definitions:
    """Definitions for a validated configuration; loading them calls no SIS and no database."""
    assets = build_roster_assets(roster_partitions(config.names))
    return dg.Definitions(
        assets=assets,
        sensors=[build_token_health_sensor(config.names)],
        resources=build_resources(str(config_path(config_file).resolve())),
    )
