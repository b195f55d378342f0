"""Plumbing shared by providers that call an HTTP API: one client per integration, every collection in bulk."""

from collections.abc import Iterator
from typing import ClassVar

import httpx

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.providers.common.auth import ClientCredentialsAuth
from sis_pipeline.providers.common.contract import ProviderBase
from sis_pipeline.providers.common.http import ApiClient
from sis_pipeline.providers.common.paging import PageRequest, Paginator, RecordsOf, follow_pages

CONNECT_TIMEOUT_SECONDS = 10.0
CREDENTIALS_IN = ("basic", "form")


def check_credentials_in(integration: IntegrationConfig) -> None:
    """`options.credentials_in`: where the token request carries the client's credentials."""
    if integration.options.get("credentials_in", "basic") not in CREDENTIALS_IN:
        raise ValueError("options.credentials_in: must be 'basic' (HTTP Basic) or 'form' (form body)")


class ApiProvider(ProviderBase):
    """A provider's HTTP side: its client, the shared guards and token, and its lists paged as it declares."""

    default_requests_per_minute: int | None = None
    default_max_concurrency = 4
    collections: tuple[str, ...] = ()
    # how this API says where the next page is (common/paging.py)
    paginator: ClassVar[Paginator]

    def _connect(self, integration: IntegrationConfig, *, base_url: str, token_url: str, credentials_in: str = "basic",
                 extra_form: dict | None = None, **client_options) -> None:
        """Open the HTTP client, its OAuth token and the shared limiter/breaker for this integration."""
        client_id, client_secret = integration.credentials()
        timeout = httpx.Timeout(integration.timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, integration.timeout_seconds))
        self._http = httpx.Client(timeout=timeout, verify=bool(integration.options.get("verify_tls", True)))
        self.client = ApiClient(
            base_url,
            None,
            http=self._http,
            name=integration.name,
            requests_per_minute=integration.requests_per_minute or self.default_requests_per_minute,
            max_concurrency=integration.max_concurrency or self.default_max_concurrency,
            max_retry_after=integration.max_retry_after_seconds,
            **client_options,
        )
        # The token request goes through the client too: the same retries, limiter, breaker and audit trail.
        self.client.auth = ClientCredentialsAuth(
            self.client.token_request, token_url, client_id, client_secret, credentials_in=credentials_in,
            extra_form=extra_form,
        )

    def pages(self, first: PageRequest, records_of: RecordsOf, label: str) -> Iterator[list[dict]]:
        """Every non-empty page of one list, from `first` on, as the declared paginator leads."""
        return follow_pages(self.client, first, self.paginator, records_of, label=f"{self.integration.name} {label}")

    def use_token_cache(self, cache_for) -> None:
        """Keep this integration's token between runs: `cache_for(token_url)` says where (the caller owns it)."""
        self.client.auth.cache = cache_for(self.client.auth.token_url)

    @property
    def parallel(self) -> int:
        return self.client.limiter.max_concurrency

    def collection_modes(self) -> dict[str, str]:
        return dict.fromkeys(self.collections, "bulk")

    def api_stats(self) -> dict:
        return self.client.stats.as_dict() | {"token_refreshes": self.client.auth.refreshes}

    def api_calls(self) -> list[dict]:
        """This provider's calls so far, for the audit trail."""
        return list(self.client.stats.calls)

    def close(self) -> None:
        self._http.close()
