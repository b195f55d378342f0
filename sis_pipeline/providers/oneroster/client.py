"""Pages of a OneRoster 1.1 / 1.2 REST service (Infinite Campus, Skyward SMS 2.0, Classlink, many others)."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import httpx

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.errors import DataError
from sis_pipeline.providers.common.api_provider import ApiProvider, check_credentials_in
from sis_pipeline.providers.common.changes import ChangeProbe, iso_z, newest_iso
from sis_pipeline.providers.common.contract import refuse_unknown_options
from sis_pipeline.providers.common.paging import (
    FallbackPaginator,
    LinkHeaderPaginator,
    PageRequest,
    ShortPagePaginator,
    TotalCountPaginator,
)
from sis_pipeline.providers.oneroster.imsx import describe_imsx_error

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


class OneRosterApi(ApiProvider):
    """Every collection of a OneRoster service, in bulk or changed since a watermark (`dateLastModified`)."""

    required_fields = ("base_url", "token_url", "client_id_env", "client_secret_env")
    known_options = KNOWN_OPTIONS
    collections = tuple(ENDPOINTS)
    # every collection takes `filter=dateLastModified>='...'`
    change_filtered = tuple(ENDPOINTS)
    # A OneRoster user may carry the person's `password` (1.1 and 1.2): it is never stored
    secret_fields = ("password",)
    # Services differ in how they say a list goes on: a Link header, a total count, or neither.
    paginator = FallbackPaginator(LinkHeaderPaginator(), TotalCountPaginator(), ShortPagePaginator())

    @classmethod
    def check_config(cls, integration: IntegrationConfig) -> None:
        refuse_unknown_options(integration, cls.known_options)
        check_credentials_in(integration)
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
        params: dict = {"limit": self.integration.page_size, "offset": 0}
        if since is not None:
            params["filter"] = f"dateLastModified>='{iso_z(since)}'"
        return self.pages(PageRequest(path, params), partial(_records, list_key=list_key, collection=collection), collection)

    def newest_change(self, collection: str, records: list[dict]) -> datetime | None:
        return newest_iso(records, "dateLastModified")

    def probe_changes(self, watermarks: dict[str, datetime]) -> ChangeProbe:
        """One record per watermarked collection, modified strictly after its watermark.

        The answer names the collections that changed and, where the service sends `X-Total-Count`,
        how many records; the token is the newest change seen, so a later change makes a new run key.
        """
        changed, newest = [], []
        for collection in self.change_filtered:
            if collection not in watermarks:
                continue
            path, list_key = ENDPOINTS[collection]
            params = {"limit": 1, "offset": 0, "filter": f"dateLastModified>'{iso_z(watermarks[collection])}'"}
            response = self.client.get(path, params)
            records = _records(response.json(), response, list_key, collection)
            if records:
                total = response.headers.get("X-Total-Count")
                changed.append(f"{collection} ({total} changed)" if total else collection)
                newest.append(f"{collection}@{records[0].get('dateLastModified')}#{total or ''}")
        if not watermarks:
            return ChangeProbe(False, "no watermark yet: the first full sync sets one")
        if not changed:
            return ChangeProbe(False, f"nothing changed after the watermarks of {len(watermarks)} collection(s)")
        return ChangeProbe(True, "changed: " + ", ".join(changed), token=";".join(newest))


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
