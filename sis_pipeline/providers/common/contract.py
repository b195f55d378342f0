"""The contract every SIS provider implements, built in or shipped as a plugin, and the base that fills in its defaults."""

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import ClassVar, Protocol

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize.normalizer import Normalizer
from sis_pipeline.providers.common.changes import NO_SIGNAL, ChangeProbe

RawPage = list[dict]


class Provider(Protocol):
    """One SIS: what it serves, how to page it, what changed since a watermark, and who reads its records."""

    kind: ClassVar[str]
    # integrations.yaml fields this provider cannot work without (checked before any work starts)
    required_fields: ClassVar[tuple[str, ...]]
    # the raw collections it fetches, in order
    collections: tuple[str, ...]
    integration: IntegrationConfig  # the configuration the provider was opened with
    # how many collections may be fetched at the same time
    parallel: int
    # collections that only enrich others: if the SIS refuses one (403/404), the run warns and goes on without it
    optional_collections: ClassVar[tuple[str, ...]]
    # raw fields holding credentials (dotted paths, e.g. OneRoster's `password`): dropped before anything is stored
    secret_fields: ClassVar[tuple[str, ...]]
    # collections whose `iter_pages(since=...)` returns only records modified at or after `since`;
    # an incremental run reads the others whole (and archives nothing by absence)
    change_filtered: ClassVar[tuple[str, ...]]
    # the run a change sensor asks for: `incremental` (read changes since the watermarks) or `full`
    # (a file drop whose package says itself what is complete and what is a delta)
    change_run_mode: ClassVar[str]

    @classmethod
    def check_config(cls, integration: IntegrationConfig) -> None:
        """Refuse an unusable configuration: raise ValueError('field: what is wrong')."""

    @classmethod
    def normalizer_for(cls, integration: IntegrationConfig) -> Normalizer:
        """The normaliser that reads this integration's raw collections."""

    def __init__(self, integration: IntegrationConfig) -> None: ...

    def collection_modes(self) -> dict[str, str]:
        """Per collection: `bulk` (the complete set), `delta` (only changes) or `absent` (not delivered)."""

    def iter_pages(self, collection: str, since: datetime | None = None) -> Iterator[RawPage]:
        """Every record of a collection, page by page; only those changed at or after `since` if given."""

    def newest_change(self, collection: str, records: list[dict]) -> datetime | None:
        """The newest source modification time (UTC, the SIS's clock) among raw records; None if they carry none."""

    def probe_changes(self, watermarks: dict[str, datetime]) -> ChangeProbe:
        """Whether anything changed strictly after the watermarks, asked as cheaply as the SIS allows."""

    def api_stats(self) -> dict:
        """Request statistics of this provider's calls so far (empty for providers that read files)."""

    def close(self) -> None:
        """Release connections."""


class HttpProvider(Provider, Protocol):
    """A provider that calls an HTTP API with an OAuth token (common/api_provider.py implements both)."""

    def use_token_cache(self, cache_for: Callable) -> None:
        """Keep the token between runs: `cache_for(token_url)` says where (the caller owns it)."""

    def api_calls(self) -> list[dict]:
        """Every HTTP exchange so far, for the audit trail."""


class ProviderBase:
    """Defaults for a provider: one normaliser for every integration, one collection at a time, nothing to close."""

    required_fields: ClassVar[tuple[str, ...]] = ()
    parallel = 1
    optional_collections: ClassVar[tuple[str, ...]] = ()
    secret_fields: ClassVar[tuple[str, ...]] = ()
    change_filtered: ClassVar[tuple[str, ...]] = ()
    change_run_mode: ClassVar[str] = "incremental"
    # the normaliser of a provider that speaks one dialect; one speaking several overrides `normalizer_for`
    normalizer: ClassVar[Normalizer]

    @classmethod
    def normalizer_for(cls, integration: IntegrationConfig) -> Normalizer:
        return cls.normalizer

    def newest_change(self, collection: str, records: list[dict]) -> datetime | None:
        return None  # no watermark: every incremental run reads this provider's collections whole

    def probe_changes(self, watermarks: dict[str, datetime]) -> ChangeProbe:
        return NO_SIGNAL

    def api_stats(self) -> dict:
        return {}

    def close(self) -> None:
        """Nothing is held open."""


def refuse_unknown_options(integration: IntegrationConfig, known: set[str]) -> None:
    """A typo in `options` must fail loudly before any work, not be ignored."""
    unknown = set(integration.options) - known
    if unknown:
        raise ValueError(f"options: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
