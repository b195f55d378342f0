"""The code location Dagster loads (`dagster dev -m sis_pipeline.definitions`, workspace.yaml)."""

from sis_pipeline.config import load_config
from sis_pipeline.defs import build_definitions

defs = build_definitions(load_config())
