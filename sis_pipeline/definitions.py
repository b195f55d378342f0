"""The code location Dagster loads (`dagster dev`, `dagster asset materialize -m sis_pipeline.definitions`).

`integrations.yaml` is read and validated here, once per process, and handed on as a typed value.
An unusable `SIS_TOKEN_KEY` is refused here too, so the code location shows why before any run starts.
"""

from sis_pipeline.config import load_config
from sis_pipeline.defs import build_definitions
from sis_pipeline.token_cipher import check_token_key

check_token_key()
defs = build_definitions(load_config())
