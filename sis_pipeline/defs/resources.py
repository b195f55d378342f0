"""Resources: the warehouse, the staging area and the SIS providers, configured once per deployment."""

import shutil
from functools import cache
from pathlib import Path

import dagster as dg
from sqlalchemy.engine import Engine

from sis_pipeline.config import IntegrationConfig, load_config
from sis_pipeline.providers.common.registry import provider_class
from sis_pipeline.staging import staging_root
from sis_pipeline.token_cipher import token_cipher
from sis_pipeline.warehouse.engine import create_warehouse_engine, warehouse_url
from sis_pipeline.warehouse.schema import ensure_schema
from sis_pipeline.warehouse.tokens import StoredTokens


@cache
def _engine(url: str) -> Engine:
    engine = create_warehouse_engine(url)
    ensure_schema(engine)
    return engine


class WarehouseResource(dg.ConfigurableResource):
    """The roster warehouse: `SIS_WAREHOUSE_URL`, else an embedded SQLite file under `.data/`."""

    url: str = ""

    def engine(self) -> Engine:
        return _engine(self.url or warehouse_url())


class StagingResource(dg.ConfigurableResource):
    """Where steps leave Parquet datasets for the next step (`SIS_STAGING_DIR`, else `.data/staging`)."""

    root: str = ""

    keep_runs: int = 3

    def run_dir(self, integration: str, run_id: str) -> Path:
        return Path(self.root or staging_root()) / integration / run_id

    def prune(self, integration: str, current_run_id: str) -> int:
        """Delete all but the newest `keep_runs` run folders of an integration (the current one always stays)."""
        folder = Path(self.root or staging_root()) / integration
        if not folder.is_dir():
            return 0
        runs = sorted((p for p in folder.iterdir() if p.is_dir() and p.name != current_run_id), key=lambda p: p.stat().st_mtime)
        stale = runs[: max(0, len(runs) - (self.keep_runs - 1))]
        for run in stale:
            shutil.rmtree(run, ignore_errors=True)
        return len(stale)


class SisProvidersResource(dg.ConfigurableResource):
    """The configured SIS integrations (`integrations.yaml`) and a client for each."""

    config_path: str

    def integration(self, name: str) -> IntegrationConfig:
        return load_config(self.config_path).integration(name)

    def provider_class(self, name: str):
        return provider_class(self.integration(name).provider)

    def normalizer(self, name: str):
        """The provider's normaliser; a provider speaking several dialects picks one per integration."""
        cls, integration = self.provider_class(name), self.integration(name)
        return cls.normalizer_for(integration)

    def open(self, name: str, warehouse: "WarehouseResource | None" = None):
        """A connected provider for the integration; close it when done.

        With a warehouse and SIS_TOKEN_KEY, its OAuth token is kept there encrypted between runs.
        """
        provider = self.provider_class(name)(self.integration(name))
        cipher = token_cipher() if warehouse is not None and hasattr(provider, "use_token_cache") else None
        if cipher is not None:
            provider.use_token_cache(lambda token_url: StoredTokens(warehouse.engine(), name, token_url, cipher))
        return provider
