"""The code location Dagster loads (`dagster dev`, `dagster asset materialize -m sis_pipeline.definitions`).

`integrations.yaml` is read and validated here, once per process, and handed on as a typed value.
"""

from sis_pipeline.config import load_config
from sis_pipeline.defs import build_definitions

defs = build_definitions(load_config())
