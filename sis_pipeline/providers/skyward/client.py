"""Pages of Skyward's two APIs: SMS 2.0's OneRoster service, and Qmlativ's Generic API.

- SMS 2.0 ("classic") serves OneRoster 1.1 under `https://{host}/api`, its token at
  `{host}/api/oauth/token`; read exactly as any OneRoster service.
- Qmlativ's Generic API serves `{base_url}/Generic/{entityId}/{Module}/{Object}/{page}/{pageSize}`,
  with a client-credentials token from `{base_url}/oauth/token`.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import httpx

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.errors import DataError
from sis_pipeline.providers.common.api_provider import ApiProvider, check_credentials_in
from sis_pipeline.providers.common.changes import ChangeProbe, newest_wall_clock, wall_clock
from sis_pipeline.providers.common.contract import refuse_unknown_options
from sis_pipeline.providers.common.http import describe_json_error
from sis_pipeline.providers.common.paging import NextUrlPaginator, PageRequest
from sis_pipeline.providers.oneroster.client import KNOWN_OPTIONS, VERSION_SUFFIXES, Endpoint, OneRosterApi
from sis_pipeline.providers.skyward.objects import COLLECTIONS, ENTITY_COLLECTIONS

# Skyward throttles API users hard: unless the integration sets `requests_per_minute`, at most 80 a minute.
DEFAULT_REQUESTS_PER_MINUTE = 80
DISTRICT_ENTITY_ID = 1
QMLATIV_OPTIONS = {"api", "entity_id", "credentials_in", "verify_tls", "extra_fields"}
# Records of an object that add nothing to a collection unless this field is set.
REQUIRED_FIELD = {("enrollments", "Scheduling/Section"): "StaffIDCurrentStoredPrimary"}
# When DST ends the wall clock repeats an hour, so a change made after the watermark can carry an
# earlier ModifiedTime; a delta starts this much before the watermark's wall time to catch it.
WALL_CLOCK_REPEAT = timedelta(hours=1)
MODIFIED_TIME = "ModifiedTime"
# The smallest page the Generic API serves: a probe only needs to know whether one record exists.
PROBE_PAGE_SIZE = 1


class SmsOneRosterApi(OneRosterApi):
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


class QmlativApi(ApiProvider):
    """Pages of Qmlativ objects, staged under the names of the OneRoster collections they stand for."""

    collections = tuple(COLLECTIONS)
    # every Qmlativ object carries ModifiedTime, and a POST search on it is how the Generic API filters
    change_filtered = tuple(COLLECTIONS)
    default_requests_per_minute = DEFAULT_REQUESTS_PER_MINUTE
    # Paging.Next names the next page until it is null
    paginator = NextUrlPaginator("Paging", "Next")

    @classmethod
    def check_config(cls, integration: IntegrationConfig) -> None:
        refuse_unknown_options(integration, QMLATIV_OPTIONS)
        entity_id = integration.options.get("entity_id", DISTRICT_ENTITY_ID)
        if not isinstance(entity_id, int) or isinstance(entity_id, bool) or entity_id < 1:
            raise ValueError(f"options.entity_id: must be a positive integer (1 is the district), got {entity_id!r}")
        check_credentials_in(integration)

    def __init__(self, integration: IntegrationConfig):
        self.integration = integration
        self.entity_id = integration.options.get("entity_id", DISTRICT_ENTITY_ID)
        self.zone = ZoneInfo(integration.timezone)
        # raw collection -> top-level fields the district wants kept in `extra` (options.extra_fields)
        self.extra_fields = {
            ENTITY_COLLECTIONS[entity]: [path.split(".")[0] for path in paths.values()]
            for entity, paths in integration.options.get("extra_fields", {}).items()
        }
        self._connect(
            integration,
            base_url=integration.base_url,
            token_url=integration.token_url or f"{integration.base_url}/oauth/token",
            credentials_in=integration.options.get("credentials_in", "basic"),
            describe_error=describe_json_error("Message"),
            token_rejected=token_expired,
        )

    def iter_pages(self, collection: str, since: datetime | None = None) -> Iterator[list[dict]]:
        search = self.modified_since(since)
        objects_of = partial(_objects, collection=collection)
        for object_path in COLLECTIONS[collection]:
            required = REQUIRED_FIELD.get((collection, object_path))
            first = PageRequest(
                f"Generic/{self.entity_id}/{object_path}/1/{self.integration.page_size}",
                {"searchFields": self.fields_to_ask(collection, object_path)},
                method="POST" if search else "GET",
                json=search,
            )
            for page in self.pages(first, objects_of, f"{collection} ({object_path})"):
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

    def modified_since(self, since: datetime | None) -> dict | None:
        """The search body for records whose ModifiedTime (the district's wall clock) is at or after `since`.

        It asks from WALL_CLOCK_REPEAT earlier: a few records changed just before `since` come again,
        which a sync writes as unchanged, and none changed in a repeated hour is missed.
        """
        if since is None:
            return None
        return _modified_search("GreaterThanOrEqual", wall_clock(since - WALL_CLOCK_REPEAT, self.zone))

    def newest_change(self, collection: str, records: list[dict]) -> datetime | None:
        """ModifiedTime is the district's wall clock without an offset: made UTC with `integration.timezone`."""
        return newest_wall_clock(records, MODIFIED_TIME, self.zone)

    def probe_changes(self, watermarks: dict[str, datetime]) -> ChangeProbe:
        """Per watermarked collection and object, one record with ModifiedTime strictly after the watermark.

        Pages carry no total, so the answer names the collections that changed, not how many records;
        the token is the ModifiedTime of the record each found (and the watermark it was asked from),
        so the next change after a run makes a new run key. Only ModifiedTime is asked for: nothing
        about a person travels. A watermark in the repeated hour after DST ends is asked from its first
        reading, an hour early: at worst one needless run, never a missed change.
        """
        if not watermarks:
            return ChangeProbe(False, "no watermark yet: the first full sync sets one")
        changed, seen, asked = [], [], {}
        for collection in self.change_filtered:
            if collection not in watermarks:
                continue
            after = wall_clock(watermarks[collection], self.zone)
            for object_path in COLLECTIONS[collection]:
                key = (object_path, after)
                if key not in asked:  # Scheduling/Section stands for classes and for teachers' enrollments
                    asked[key] = self._first_modified_after(collection, object_path, after)
                if asked[key] is not None:
                    changed.append(collection)
                    seen.append(f"{collection}:{object_path}@{asked[key]}>{after.isoformat()}")
                    break
        if not changed:
            return ChangeProbe(False, f"nothing changed after the watermarks of {len(watermarks)} collection(s)")
        return ChangeProbe(True, "changed: " + ", ".join(changed), token=";".join(seen))

    def _first_modified_after(self, collection: str, object_path: str, after: datetime) -> str | None:
        """The ModifiedTime of one record of the object modified strictly after the wall-clock time `after`."""
        response = self.client.request(
            "POST",
            f"Generic/{self.entity_id}/{object_path}/1/{PROBE_PAGE_SIZE}",
            {"searchFields": [MODIFIED_TIME]},
            _modified_search("GreaterThan", after),
        )
        objects = _objects(response.json(), response, collection)
        return str(objects[0].get(MODIFIED_TIME)) if objects else None


def _modified_search(condition_type: str, wall: datetime) -> dict:
    """A Generic API search body: ModifiedTime compared with a naive wall-clock time of the district."""
    condition = {"FieldName": MODIFIED_TIME, "ConditionType": condition_type, "Value": wall.isoformat(timespec="seconds")}
    group = {"ConditionGroupType": "And", "Conditions": [{"DateSearchCondition": condition}]}
    return {"SearchCondition": {"SearchConditionGroup": group}}


def _objects(body, response: httpx.Response, collection: str) -> list[dict]:
    objects = body.get("Objects") if isinstance(body, dict) else None
    if not isinstance(objects, list):
        raise DataError(f"{collection}: {response.request.url.path} has no 'Objects' list in its body")
    return objects
