"""Skyward, through either of its APIs (`options.api`).

- `oneroster`: SMS 2.0 ("classic") serves OneRoster 1.1 under `https://{host}/api`, its token at
  `{host}/api/oauth/token`; read exactly as any OneRoster service.
- `qmlativ`: Qmlativ's Generic API, `{base_url}/Generic/{entityId}/{Module}/{Object}/{page}/{pageSize}`,
  with a client-credentials token from `{base_url}/oauth/token`.

Skyward throttles API users hard, so unless the integration sets `requests_per_minute` a Skyward
integration makes at most 80 requests a minute.
"""

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.errors import DataError
from sis_pipeline.providers.oneroster.normalize import OneRosterNormalizer
from sis_pipeline.providers.skyward.normalize import COLLECTIONS, QmlativNormalizer
from sis_pipeline.providers.common.api_provider import ApiProvider
from sis_pipeline.providers.common.contract import refuse_unknown_options
from sis_pipeline.providers.oneroster.client import (
    DEFAULT_MAX_CONCURRENCY,
    KNOWN_OPTIONS,
    PROGRESS_EVERY_PAGES,
    VERSION_SUFFIXES,
    Endpoint,
    OneRosterProvider,
)

log = logging.getLogger(__name__)

APIS = ("oneroster", "qmlativ")
DEFAULT_REQUESTS_PER_MINUTE = 80
DISTRICT_ENTITY_ID = 1
QMLATIV_OPTIONS = {"api", "entity_id", "credentials_in", "verify_tls", "extra_fields"}
# Records of an object that add nothing to a collection unless this field is set.
REQUIRED_FIELD = {("enrollments", "Scheduling/Section"): "StaffIDCurrentStoredPrimary"}
# When DST ends the wall clock repeats an hour, so a change made after the watermark can carry an
# earlier ModifiedTime; a delta starts this much before the watermark's wall time to catch it.
WALL_CLOCK_REPEAT = timedelta(hours=1)


class SmsOneRosterProvider(OneRosterProvider):
    """Skyward SMS 2.0: OneRoster 1.1 under `{host}/api`, whether base_url names the host or the API root."""

    known_options = (KNOWN_OPTIONS - {"version"}) | {"api"}
    default_requests_per_minute = DEFAULT_REQUESTS_PER_MINUTE

    @classmethod
    def endpoint(cls, integration: IntegrationConfig) -> Endpoint:
        base_url = integration.base_url
        api_root = base_url if base_url.endswith("/api") else f"{base_url}/api"
        return Endpoint(
            version="1.1",
            service_root=api_root + VERSION_SUFFIXES["1.1"],
            token_url=integration.token_url or f"{api_root}/oauth/token",
            credentials_in=integration.options.get("credentials_in", "basic"),
        )


def token_expired(response: httpx.Response) -> bool:
    """Qmlativ refuses a token it no longer honours with 403 "Token has expired" (some setups: 401)."""
    return response.status_code == 401 or (response.status_code == 403 and "token has expired" in response.text.lower())


def describe_qmlativ_error(response: httpx.Response) -> str:
    """The `Message` of a Qmlativ error body, or the start of whatever was sent."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    message = body.get("Message") if isinstance(body, dict) else None
    return str(message or body)[:200]


class QmlativGenericApi(ApiProvider):
    """Pages of Qmlativ objects, staged under the names of the OneRoster collections they stand for."""

    collections = tuple(COLLECTIONS)
    default_requests_per_minute = DEFAULT_REQUESTS_PER_MINUTE
    default_max_concurrency = DEFAULT_MAX_CONCURRENCY

    def __init__(self, integration: IntegrationConfig):
        self.integration = integration
        self.entity_id = integration.options.get("entity_id", DISTRICT_ENTITY_ID)
        self.zone = ZoneInfo(integration.timezone)
        # raw collection -> top-level fields the district wants kept in `extra` (options.extra_fields)
        self.extra_fields = {
            QmlativNormalizer.sources[entity][0]: [path.split(".")[0] for path in paths.values()]
            for entity, paths in integration.options.get("extra_fields", {}).items()
        }
        self._connect(
            integration,
            base_url=integration.base_url,
            token_url=integration.token_url or f"{integration.base_url}/oauth/token",
            credentials_in=integration.options.get("credentials_in", "basic"),
            describe_error=describe_qmlativ_error,
            token_rejected=token_expired,
        )

    def iter_pages(self, collection: str, since: datetime | None = None) -> Iterator[list[dict]]:
        for object_path in COLLECTIONS[collection]:
            required = REQUIRED_FIELD.get((collection, object_path))
            for page in self._object_pages(collection, object_path, self.fields_to_ask(collection, object_path), since):
                if required:
                    page = [record for record in page if record.get(required) is not None]
                if page:
                    yield page

    def fields_to_ask(self, collection: str, object_path: str) -> list[str]:
        """What the normaliser reads from the object, and for the collection's own records the extra fields."""
        fields = list(COLLECTIONS[collection][object_path])
        if object_path == next(iter(COLLECTIONS[collection])):
            fields += [name for name in self.extra_fields.get(collection, ()) if name not in fields]
        return fields

    def _object_pages(self, collection: str, object_path: str, fields: list[str], since: datetime | None):
        """Follow Paging.Next from page 1 until it is null or a page comes back empty."""
        search = self.modified_since(since)
        next_path: str | None = f"Generic/{self.entity_id}/{object_path}/1/{self.integration.page_size}"
        requested: set[str] = set()
        while next_path is not None:
            if next_path.lstrip("/") in requested:
                raise DataError(f"{self.integration.name} {collection}: paging loops back to {next_path}")
            requested.add(next_path.lstrip("/"))
            response, body = self.client.request(
                "POST" if search else "GET", next_path, {"searchFields": fields}, search, parse_json=True
            )
            objects, next_path = _objects_and_next(body, response, collection)
            if not objects:
                return
            if len(requested) % PROGRESS_EVERY_PAGES == 0:
                log.info("%s %s: %d pages of %s fetched", self.integration.name, collection, len(requested), object_path)
            yield objects

    def modified_since(self, since: datetime | None) -> dict | None:
        """The search body for records whose ModifiedTime (the district's wall clock) is at or after `since`.

        It asks from WALL_CLOCK_REPEAT earlier: a few records changed just before `since` come again,
        which a sync writes as unchanged, and none changed in a repeated hour is missed.
        """
        if since is None:
            return None
        wall_clock = (since - WALL_CLOCK_REPEAT).astimezone(self.zone).replace(tzinfo=None)
        condition = {"FieldName": "ModifiedTime", "ConditionType": "GreaterThanOrEqual", "Value": wall_clock.isoformat(timespec="seconds")}
        group = {"ConditionGroupType": "And", "Conditions": [{"DateSearchCondition": condition}]}
        return {"SearchCondition": {"SearchConditionGroup": group}}


def _objects_and_next(body, response: httpx.Response, collection: str) -> tuple[list[dict], str | None]:
    objects = body.get("Objects") if isinstance(body, dict) else None
    if not isinstance(objects, list):
        raise DataError(f"{collection}: {response.request.url.path} has no 'Objects' list in its body")
    paging = body.get("Paging") if isinstance(body.get("Paging"), dict) else {}
    return objects, paging.get("Next") or None


NORMALIZERS = {"oneroster": OneRosterNormalizer(), "qmlativ": QmlativNormalizer()}


class SkywardProvider:
    kind = "skyward"
    required_fields = ("base_url", "client_id_env", "client_secret_env")

    @classmethod
    def normalizer_for(cls, integration: IntegrationConfig):
        """The two APIs speak different dialects: the integration's `options.api` picks the normaliser."""
        return NORMALIZERS[integration.options["api"]]

    @classmethod
    def check_config(cls, integration: IntegrationConfig) -> None:
        api = integration.options.get("api")
        if api not in APIS:
            raise ValueError("options.api: must be 'oneroster' (SMS 2.0) or 'qmlativ' (the Qmlativ Generic API)")
        if api == "oneroster":
            SmsOneRosterProvider.check_config(integration)
            return
        refuse_unknown_options(integration, QMLATIV_OPTIONS)
        entity_id = integration.options.get("entity_id", DISTRICT_ENTITY_ID)
        if not isinstance(entity_id, int) or isinstance(entity_id, bool) or entity_id < 1:
            raise ValueError(f"options.entity_id: must be a positive integer (1 is the district), got {entity_id!r}")
        if integration.options.get("credentials_in", "basic") not in ("basic", "form"):
            raise ValueError("options.credentials_in: must be 'basic' (HTTP Basic) or 'form' (form body)")

    def __init__(self, integration: IntegrationConfig):
        self.integration = integration
        api = SmsOneRosterProvider if integration.options["api"] == "oneroster" else QmlativGenericApi
        self.api = api(integration)
        self.collections = self.api.collections

    @property
    def parallel(self) -> int:
        return self.api.parallel

    def collection_modes(self) -> dict[str, str]:
        return self.api.collection_modes()

    def api_stats(self) -> dict:
        return self.api.api_stats()

    def iter_pages(self, collection: str, since: datetime | None = None) -> Iterator[list[dict]]:
        return self.api.iter_pages(collection, since)

    def use_token_cache(self, cache_for) -> None:
        self.api.use_token_cache(cache_for)

    def api_calls(self) -> list[dict]:
        return self.api.api_calls()

    def close(self) -> None:
        self.api.close()
