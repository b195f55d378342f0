"""The small protocol every SIS provider implements, and the normaliser it hands its records to."""

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import ClassVar, Protocol

import pandas as pd

from sis_pipeline.config import IntegrationConfig

RawPage = list[dict]


class Normalizer(Protocol):
    """Turns a provider's raw collections into canonical entity frames (see normalize/models.py)."""

    # entity -> the raw collections it is built from; the first holds the entity's own records
    sources: ClassVar[Mapping[str, tuple[str, ...]]]

    def normalize(self, entity: str, records: Mapping[str, list[dict]], integration: IntegrationConfig) -> pd.DataFrame:
        """Canonical frame for `entity`, one row per record of its first source, index = record position."""


class Provider(Protocol):
    """One SIS dialect: what it serves, how to page it, what changed since a watermark."""

    kind: ClassVar[str]
    # A provider speaking one dialect names its normaliser here; one speaking several (Skyward: OneRoster
    # or Qmlativ) instead defines a classmethod `normalizer_for(integration)`.
    # integrations.yaml fields this provider cannot work without (checked before any work starts)
    required_fields: ClassVar[tuple[str, ...]]
    collections: ClassVar[tuple[str, ...]]
    normalizer: ClassVar[Normalizer]

    @classmethod
    def check_config(cls, integration: IntegrationConfig) -> None:
        """Refuse an unusable configuration: raise ValueError('field: what is wrong')."""

    integration: IntegrationConfig  # the configuration the provider was opened with
    # how many collections may be fetched at the same time
    parallel: int

    def collection_modes(self) -> dict[str, str]:
        """Per collection: `bulk` (the complete set), `delta` (only changes) or `absent` (not delivered)."""

    def api_stats(self) -> dict:
        """Request statistics of this provider's calls so far (empty for providers that read files)."""

    def iter_pages(self, collection: str, since: datetime | None = None) -> Iterator[RawPage]:
        """Every record of a collection, page by page; only those changed at or after `since` if given."""

    def close(self) -> None:
        """Release connections."""


def refuse_unknown_options(integration: IntegrationConfig, known: set[str]) -> None:
    """A typo in `options` must fail loudly before any work, not be ignored."""
    unknown = set(integration.options) - known
    if unknown:
        raise ValueError(f"options: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
