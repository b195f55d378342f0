"""OneRoster 1.1 / 1.2 REST (Infinite Campus, Skyward SMS 2.0, Classlink, many others)."""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.errors import DataError
from sis_pipeline.providers.oneroster.normalize import OneRosterNormalizer
from sis_pipeline.providers.common.api_provider import ApiProvider
from sis_pipeline.providers.common.contract import refuse_unknown_options
from sis_pipeline.providers.oneroster.imsx import describe_imsx_error

log = logging.getLogger(__name__)

VERSION_SUFFIXES = {"1.1": "/ims/oneroster/v1p1", "1.2": "/ims/oneroster/rostering/v1p2"}
# collection -> (path under the service root, key of the list in the response body)
ENDPOINTS = {
    "schools": ("schools", "orgs"),
    "academicSessions": ("academicSessions", "academicSessions"),
    "courses": ("courses", "courses"),
    "classes": ("classes", "classes"),
    "students": ("students", "users"),
    "teachers": ("teachers", "users"),
    "enrollments": ("enrollments", "enrollments"),
    "demographics": ("demographics", "demographics"),
}
KNOWN_OPTIONS = {"version", "credentials_in", "scope", "verify_tls", "extra_fields"}
DEFAULT_MAX_CONCURRENCY = 4
PROGRESS_EVERY_PAGES = 50


def service_version(integration: IntegrationConfig) -> str:
    """The OneRoster version, from `options.version` or else from the service root's path."""
    explicit = integration.options.get("version")
    if explicit is not None:
        return str(explicit)
    for version, suffix in VERSION_SUFFIXES.items():
        if integration.base_url.endswith(suffix):
            return version
    raise ValueError(
        "base_url: a OneRoster service root ends with /ims/oneroster/v1p1 or /ims/oneroster/rostering/v1p2 "
        f"(got {integration.base_url!r}); or set options.version"
    )


@dataclass(frozen=True)
class Endpoint:
    """Where a OneRoster service lives and how it wants its token asked for."""

    version: str
    service_root: str
    token_url: str
    credentials_in: str


class OneRosterProvider(ApiProvider):
    kind = "oneroster"
    required_fields = ("base_url", "token_url", "client_id_env", "client_secret_env")
    known_options = KNOWN_OPTIONS
    collections = tuple(ENDPOINTS)
    normalizer = OneRosterNormalizer()
    default_requests_per_minute: int | None = None
    default_max_concurrency = DEFAULT_MAX_CONCURRENCY

    @classmethod
    def check_config(cls, integration: IntegrationConfig) -> None:
        refuse_unknown_options(integration, cls.known_options)
        if integration.options.get("credentials_in", "basic") not in ("basic", "form"):
            raise ValueError("options.credentials_in: must be 'basic' (HTTP Basic) or 'form' (form body)")
        if cls.endpoint(integration).version not in VERSION_SUFFIXES:
            raise ValueError(f"options.version: {integration.options['version']!r} is not 1.1 or 1.2")

    @classmethod
    def endpoint(cls, integration: IntegrationConfig) -> Endpoint:
        return Endpoint(
            version=service_version(integration),
            service_root=integration.base_url,
            token_url=integration.token_url,
            credentials_in=integration.options.get("credentials_in", "basic"),
        )

    def __init__(self, integration: IntegrationConfig):
        self.integration = integration
        endpoint = self.endpoint(integration)
        self.version = endpoint.version
        scope = integration.options.get("scope")
        self._connect(
            integration,
            base_url=endpoint.service_root,
            token_url=endpoint.token_url,
            credentials_in=endpoint.credentials_in,
            extra_form={"scope": scope} if scope else None,
            describe_error=describe_imsx_error,
        )

    def iter_pages(self, collection: str, since: datetime | None = None) -> Iterator[list[dict]]:
        path, list_key = ENDPOINTS[collection]
        limit = self.integration.page_size
        params: dict = {"limit": limit, "offset": 0}
        if since is not None:
            stamp = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            params["filter"] = f"dateLastModified>='{stamp}'"
        next_url: str | None = path
        seen_urls: set[str] = set()
        pages = 0
        while next_url is not None:
            response, body = self.client.request("GET", next_url, params, parse_json=True)
            records = _records(body, response, list_key, collection)
            pages += 1
            if pages % PROGRESS_EVERY_PAGES == 0:
                log.info("%s %s: %d pages fetched", self.integration.name, collection, pages)
            if records:
                yield records
            next_url, params = self._next_page(response, records, params, limit)
            if next_url is not None:
                key = next_url + repr(params)
                if key in seen_urls:
                    raise DataError(f"{self.integration.name} {collection}: paging loops back to {next_url}")
                seen_urls.add(key)

    def _next_page(self, response: httpx.Response, records: list[dict], params: dict | None, limit: int):
        """Follow Link rel=next, else X-Total-Count, else keep going until a short page."""
        next_link = response.links.get("next", {}).get("url")
        if next_link:
            return str(response.url.join(next_link)), None
        if not records:
            return None, None
        offset = (params or {}).get("offset")
        if offset is None:  # we followed a Link and the server stopped sending them: the list is done
            return None, None
        following = {**params, "offset": offset + len(records)}
        same_collection = str(response.url.copy_with(query=None))
        total = response.headers.get("x-total-count")
        if total is not None and total.strip().isdigit():
            return (same_collection if following["offset"] < int(total) else None), following
        return (same_collection if len(records) >= limit else None), following



def _records(body, response: httpx.Response, list_key: str, collection: str) -> list[dict]:
    records = body.get(list_key) if isinstance(body, dict) else None
    if records is None and isinstance(body, dict):
        lists = [value for value in body.values() if isinstance(value, list)]
        records = lists[0] if len(lists) == 1 else []
    if isinstance(records, dict):  # a one-element list sent as a bare object
        records = [records]
    if not isinstance(records, list):
        raise DataError(f"{collection}: {response.request.url.path} has no {list_key!r} list in its body")
    return records
