"""Pages of PowerSchool's plugin REST API (/ws/v1), every record with its quirks undone (quirks.py)."""

import logging
import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.errors import ClientError
from sis_pipeline.providers.common.api_provider import ApiProvider
from sis_pipeline.providers.common.changes import ChangeFilterUnavailable, ChangeProbe, newest_wall_clock
from sis_pipeline.providers.common.contract import refuse_unknown_options
from sis_pipeline.providers.common.http import REFUSED, NotFoundError, describe_json_error
from sis_pipeline.providers.common.paging import PageNumberPaginator, PageRequest
from sis_pipeline.providers.powerschool.changes import (
    CHANGE_COLUMN,
    CHANGES_PATH,
    after_query,
    refused_filter,
    since_query,
    unavailable,
)
from sis_pipeline.providers.powerschool.quirks import as_list, clean
from sis_pipeline.providers.powerschool.rosters import RosterTableRefused, cc_enrollments

log = logging.getLogger(__name__)

KNOWN_OPTIONS = {"verify_tls", "extra_fields", "extensions"}
STUDENT_EXPANSIONS = "demographics,school_enrollment"
STAFF_EXPANSIONS = "emails,school_affiliations"
# collection -> (path, envelope key, record key, the metadata page-size name, scope)
RESOURCES = {
    "schools": ("/ws/v1/district/school", "schools", "school", "school", "district"),
    "students": ("/ws/v1/district/student", "students", "student", "student", "district"),
    "staff": ("/ws/v1/school/{id}/staff", "staffs", "staff", "staff", "school"),
    "courses": ("/ws/v1/school/{id}/course", "courses", "course", "course", "school"),
    "terms": ("/ws/v1/school/{id}/term", "terms", "term", "term", "school"),
    "sections": ("/ws/v1/school/{id}/section", "sections", "section", "section", "school"),
    "section_enrollments": ("/ws/v1/section/{id}/section_enrollment", "section_enrollments", "section_enrollment",
                            "section_enrollment", "section"),
}
STUDENT_PATH = "/ws/v1/student/{id}"


class PowerSchoolApi(ApiProvider):
    required_fields = ("base_url", "client_id_env", "client_secret_env")
    # per-school and per-section lists need the schools and sections listed before them; student_changes
    # comes before students so the students' watermark is a change already listed when they are read
    collections = ("schools", "student_changes", "students", "staff", "courses", "terms", "sections", "section_enrollments")
    # Only the students table has a change filter (transaction_date, through /ws/schema/table): its rows
    # directly, and students as the changed DCIDs each read from /ws/v1/student/{dcid}. Schools, staff,
    # courses, terms, sections and rosters are listed per school or section with no filter: read whole.
    change_filtered = ("student_changes", "students")
    # Only adds students' modification times, through /ws/schema/table, which a plugin needs an access
    # request for: refused (403/404), the run warns and loads students without them.
    optional_collections = ("student_changes",)
    parallel = 1
    default_requests_per_minute = 60
    default_max_concurrency = 4
    # `/count` first, then numbered pages of the server's maximum size
    paginator = PageNumberPaginator("page", "pagesize")

    @classmethod
    def check_config(cls, integration: IntegrationConfig) -> None:
        refuse_unknown_options(integration, KNOWN_OPTIONS)

    def __init__(self, integration: IntegrationConfig):
        self.integration = integration
        self._connect(
            integration,
            base_url=integration.base_url,
            token_url=integration.token_url or f"{integration.base_url}/oauth/access_token",
            describe_error=describe_json_error("message"),
        )
        self._max_page_sizes: dict[str, int] | None = None
        self._ids: dict[str, list[str]] = {}
        self._section_teachers: dict[str, str] = {}
        self._lock = threading.Lock()
        self.zone = ZoneInfo(integration.timezone)
        # the newest transaction_date this run has listed (UTC): the watermark of the students read after it
        self._newest_listed: datetime | None = None
        # how this run reads section enrollments ("cc" or "per-section"), decided by its first read of them
        self._roster_path: str | None = None

    def iter_pages(self, collection: str, since: datetime | None = None) -> Iterator[list[dict]]:
        if collection == "student_changes":
            yield from self._student_changes(since)
            return
        if collection == "students" and since is not None:
            yield from self._changed_students(since)
            return
        path, _, _, _, scope = RESOURCES[collection]
        if scope == "district":
            yield from self._list(collection, path)
            return
        if collection == "section_enrollments" and (bulk := self._bulk_rosters()) is not None:
            yield from bulk
            yield from self._teacher_enrollments()
            return
        owners = self._owner_ids("schools" if scope == "school" else "sections")
        seen: set = set()
        with ThreadPoolExecutor(self.client.limiter.max_concurrency, thread_name_prefix=f"ps-{collection}") as pool:
            for owner, records in zip(owners, pool.map(lambda o: list(self._list(collection, path.format(id=o))), owners)):
                page = []
                for record in (r for chunk in records for r in chunk):
                    if scope == "school":
                        record.setdefault("school_id", owner)  # courses do not say which school lists them
                    # Staff with two schools are listed by both: once is enough. Term ids repeat in every
                    # school (3600 is each school's year): a term is one school's, keyed with its school.
                    key = (record.get("school_id"), record["id"]) if collection == "terms" else record["id"]
                    if key not in seen:
                        seen.add(key)
                        page.append(record)
                if page:
                    yield page
        if collection == "section_enrollments":
            yield from self._teacher_enrollments()

    def _bulk_rosters(self) -> Iterator[list[dict]] | None:
        """Section enrollments from the cc table in large pages, or None: read them per section.

        Decided once a run by one probe of cc (its /count): a plugin without access requests for cc,
        students and sections is refused (403/404) and the run falls back to one roster list per section.
        """
        if self._roster_path == "per-section":
            return None
        sections = self._owner_ids("sections")
        try:
            pages = cc_enrollments(self, sections)
        except RosterTableRefused as error:
            log.info(
                "%s section_enrollments: one roster request per section (%d sections): the plugin may not read "
                "the cc table and the tables translating its ids (%s)", self.integration.name, len(sections), error,
            )
            self._roster_path = "per-section"
            return None
        self._roster_path = "cc"
        return pages

    def _student_params(self) -> dict:
        params = {"expansions": STUDENT_EXPANSIONS}
        if self.integration.options.get("extensions"):
            params["extensions"] = self.integration.options["extensions"]
        return params

    def _list(self, collection: str, path: str) -> Iterator[list[dict]]:
        """Every page of one list, each record in one shape."""
        _, envelope, key, page_name, _ = RESOURCES[collection]
        params = self._student_params() if collection == "students" else {}
        if collection == "staff":
            params["expansions"] = STAFF_EXPANSIONS

        def records_of(body, response) -> list[dict]:
            return [clean(r) for r in as_list((body.get(envelope) or {}).get(key))]

        total = int(self.client.get_json(f"{path}/count")["resource"]["count"])
        for records in self.pages(self._first_page(path, params, page_name, total), records_of, collection):
            self._remember(collection, records)
            yield records

    def _student_changes(self, since: datetime | None = None) -> Iterator[list[dict]]:
        """Each student's last change (`transaction_date`, a naive local time) from the schema table API;
        with `since`, only the students changed at or after it (ChangeFilterUnavailable if refused)."""

        def records_of(body, response) -> list[dict]:
            rows = [row.get("tables", {}).get("students", {}) for row in as_list(body.get("record"))]
            records = [{"id": row.get("dcid"), CHANGE_COLUMN: row.get(CHANGE_COLUMN)} for row in rows]
            self._listed(records)
            return records

        query = {"q": since_query(since, self.zone)} if since is not None else {}
        try:
            total = int(self.client.get_json(f"{CHANGES_PATH}/count", query or None)["count"])
        except ClientError as error:
            if since is not None and refused_filter(error):
                raise unavailable(error) from None
            raise
        first = self._first_page(CHANGES_PATH, {"projection": f"dcid,{CHANGE_COLUMN}", **query}, "schema_table_query", total)
        yield from self.pages(first, records_of, "student_changes")

    def _listed(self, records: list[dict]) -> None:
        newest = newest_wall_clock(records, CHANGE_COLUMN, self.zone)
        with self._lock:
            if newest is not None and (self._newest_listed is None or newest > self._newest_listed):
                self._newest_listed = newest

    def _changed_students(self, since: datetime) -> Iterator[list[dict]]:
        """Students changed at or after `since`: their DCIDs from the schema table, each then read from
        /ws/v1/student/{dcid} with the list's expansions, so the records are those a full read stages.

        Refused (no access request, no transaction_date) or dearer than the whole list, it raises
        ChangeFilterUnavailable before any page, and the run reads the list whole.
        """
        try:
            dcids = list(dict.fromkeys(r["id"] for page in self._student_changes(since) for r in page if r.get("id")))
        except REFUSED as error:
            raise ChangeFilterUnavailable(f"the plugin may not read {CHANGES_PATH} ({error})") from None
        whole = self._whole_list_requests() if len(dcids) > 2 else math.inf  # a whole read is at least 2 requests
        if len(dcids) > whole:
            raise ChangeFilterUnavailable(f"{len(dcids)} students changed: the whole list takes {whole} requests, fewer than one per student")
        params, size = self._student_params(), max(1, self.integration.page_size)
        with ThreadPoolExecutor(self.client.limiter.max_concurrency, thread_name_prefix="ps-changed") as pool:
            for start in range(0, len(dcids), size):
                page = [record for record in pool.map(lambda dcid: self._student(dcid, params), dcids[start : start + size]) if record]
                if page:
                    yield page

    def _student(self, dcid: str, params: dict) -> dict | None:
        """One student as /ws/v1/student/{dcid} serves it; None if gone since it was listed (a full sync archives it)."""
        try:
            body = self.client.get_json(STUDENT_PATH.format(id=dcid), params)
        except NotFoundError:
            log.info("%s students: a changed student is no longer served; the next full sync settles it", self.integration.name)
            return None
        return clean(body.get("student") or {}) or None

    def _whole_list_requests(self) -> int:
        total = int(self.client.get_json(f"{RESOURCES['students'][0]}/count")["resource"]["count"])
        size = min(self.integration.page_size, self._page_sizes().get("student_max_page_size", 100))
        return 1 + math.ceil(total / size)

    def newest_change(self, collection: str, records: list[dict]) -> datetime | None:
        """student_changes: the newest transaction_date, the district's wall clock made UTC. students: /ws/v1
        records carry no time, so the newest transaction_date this run listed before reading them (every
        student changed up to it has been read in a state at least that new). Other lists: none."""
        if collection == "student_changes":
            return newest_wall_clock(records, CHANGE_COLUMN, self.zone)
        if collection == "students" and records:
            with self._lock:
                return self._newest_listed
        return None

    def probe_changes(self, watermarks: dict[str, datetime]) -> ChangeProbe:
        """How many students rows have a transaction_date after the students' watermark: one count request.

        A plugin without access to the table (403/404), or a table that cannot filter on the column,
        gives no signal: the scheduled full sync picks changes up. Only students are covered; staff,
        sections and rosters have no change filter this plugin can ask.
        """
        watermark = watermarks.get("student_changes") or watermarks.get("students")
        if watermark is None:  # no full sync yet, or none could read transaction_date (no table access)
            return ChangeProbe(None, "no students watermark yet: no signal, rely on the schedule")
        query = after_query(watermark, self.zone)
        try:
            count = int(self.client.get_json(f"{CHANGES_PATH}/count", {"q": query})["count"])
        except REFUSED as error:
            return ChangeProbe(None, f"PowerSchool refused the students table ({error}): no signal, rely on the schedule")
        except ClientError as error:
            if not refused_filter(error):
                raise
            return ChangeProbe(None, f"{CHANGES_PATH} cannot filter on {CHANGE_COLUMN}: no signal, rely on the schedule")
        if count == 0:
            return ChangeProbe(False, f"no students changed after {watermark.isoformat()}")
        return ChangeProbe(True, f"changed: students ({count} changed)", token=f"students:{query}#{count}")

    def _first_page(self, path: str, params: dict, page_name: str, total: int) -> PageRequest:
        """Page 1 of a list of `total` records (as `{path}/count` said), in pages as large as the server allows."""
        return PageRequest(path, {**params, "page": 1, "pagesize": self.page_size(page_name)}, total=total)

    def page_size(self, page_name: str) -> int:
        """The configured page size, capped by the server's `<page_name>_max_page_size` (100 if it says none)."""
        return min(self.integration.page_size, self._page_sizes().get(f"{page_name}_max_page_size", 100))

    def _remember(self, collection: str, records: list[dict]) -> None:
        with self._lock:
            if collection in ("schools", "sections"):
                self._ids.setdefault(collection, []).extend(r["id"] for r in records)
            if collection == "sections":
                self._section_teachers.update((r["id"], r["staff_id"]) for r in records if r.get("staff_id"))

    def _owner_ids(self, collection: str) -> list[str]:
        """School or section ids, from this run's listing of them or, if not listed yet, by listing them now."""
        if collection not in self._ids:
            for _ in self.iter_pages(collection):
                pass
        return self._ids[collection]

    def _teacher_enrollments(self) -> Iterator[list[dict]]:
        """PowerSchool keeps a section's teacher on the section; the canonical model enrols them too."""
        self._owner_ids("sections")
        records = [
            {"id": f"teacher-{section}", "section_id": section, "staff_id": staff, "role": "teacher"}
            for section, staff in self._section_teachers.items()
        ]
        if records:
            yield records

    def _page_sizes(self) -> dict[str, int]:
        if self._max_page_sizes is None:
            metadata = self.client.get_json("/ws/v1/metadata").get("metadata", {})
            self._max_page_sizes = {name: int(value) for name, value in metadata.items() if str(value).isdigit()}
        return self._max_page_sizes
