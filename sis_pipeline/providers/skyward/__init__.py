"""Skyward, through either of its APIs (`options.api`): SMS 2.0's OneRoster service, read with the
OneRoster folder's normaliser, or Qmlativ's Generic API, read with this folder's own."""

from collections.abc import Iterator
from datetime import datetime

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.providers.common.changes import ChangeProbe
from sis_pipeline.normalize.normalizer import Normalizer
from sis_pipeline.providers.common.contract import ProviderBase
from sis_pipeline.providers.oneroster.normalize import OneRosterNormalizer
from sis_pipeline.providers.skyward.client import QmlativApi, SmsOneRosterApi
from sis_pipeline.providers.skyward.normalize import QmlativNormalizer

# options.api -> the client that pages it and the normaliser that reads its records
APIS = {"oneroster": SmsOneRosterApi, "qmlativ": QmlativApi}
NORMALIZERS = {"oneroster": OneRosterNormalizer(), "qmlativ": QmlativNormalizer()}


class SkywardProvider(ProviderBase):
    kind = "skyward"
    required_fields = ("base_url", "client_id_env", "client_secret_env")

    @classmethod
    def normalizer_for(cls, integration: IntegrationConfig) -> Normalizer:
        """The two APIs speak different dialects: the integration's `options.api` picks the normaliser."""
        return NORMALIZERS[integration.options["api"]]

    @classmethod
    def check_config(cls, integration: IntegrationConfig) -> None:
        api = integration.options.get("api")
        if api not in APIS:
            raise ValueError("options.api: must be 'oneroster' (SMS 2.0) or 'qmlativ' (the Qmlativ Generic API)")
        APIS[api].check_config(integration)

    def __init__(self, integration: IntegrationConfig):
        self.integration = integration
        self.api = APIS[integration.options["api"]](integration)
        self.collections = self.api.collections
        self.secret_fields = self.api.secret_fields
        self.optional_collections = self.api.optional_collections
        # both APIs filter every collection on its modification time (dateLastModified, ModifiedTime)
        self.change_filtered = self.api.change_filtered

    @property
    def parallel(self) -> int:
        return self.api.parallel

    def collection_modes(self) -> dict[str, str]:
        return self.api.collection_modes()

    def api_stats(self) -> dict:
        return self.api.api_stats()

    def iter_pages(self, collection: str, since: datetime | None = None) -> Iterator[list[dict]]:
        return self.api.iter_pages(collection, since)

    def newest_change(self, collection: str, records: list[dict]) -> datetime | None:
        return self.api.newest_change(collection, records)

    def probe_changes(self, watermarks: dict[str, datetime]) -> ChangeProbe:
        return self.api.probe_changes(watermarks)

    def use_token_cache(self, cache_for) -> None:
        self.api.use_token_cache(cache_for)

    def api_calls(self) -> list[dict]:
        return self.api.api_calls()

    def close(self) -> None:
        self.api.close()
