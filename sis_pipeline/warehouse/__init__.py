"""The warehouse: schema, engine, and the one-transaction loader the pipeline writes through."""

from sis_pipeline.warehouse.engine import create_warehouse_engine, warehouse_url
from sis_pipeline.warehouse.errors import (
    RunInProgressError,
    SyncHeld,
    WarehouseError,
    WarehouseLoadError,
    WarehouseSafetyError,
    WarehouseSchemaError,
    WarehouseUrlError,
)
from sis_pipeline.warehouse.loader import EntityCounts, load_integration
from sis_pipeline.warehouse.runs import finish_sync_run, start_sync_run
from sis_pipeline.warehouse.schema import ensure_schema
from sis_pipeline.warehouse.student_mappings import read_student_mappings

__all__ = [
    "EntityCounts",
    "RunInProgressError",
    "SyncHeld",
    "WarehouseError",
    "WarehouseLoadError",
    "WarehouseSafetyError",
    "WarehouseSchemaError",
    "WarehouseUrlError",
    "create_warehouse_engine",
    "ensure_schema",
    "finish_sync_run",
    "load_integration",
    "read_student_mappings",
    "start_sync_run",
    "warehouse_url",
]
