"""Pages of PowerSchool's plugin REST API (/ws/v1), every record with its quirks undone (quirks.py)."""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.providers.common.api_provider import ApiProvider
from sis_pipeline.providers.common.contract import refuse_unknown_options
from sis_pipeline.providers.common.http import describe_json_error
from sis_pipeline.providers.common.paging import PageNumberPaginator, PageRequest
from sis_pipeline.providers.powerschool.quirks import as_list, clean

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
CHANGES_PATH = "/ws/schema/table/students"


class PowerSchoolApi(ApiProvider):
    required_fields = ("base_url", "client_id_env", "client_secret_env")
    # per-school and per-section lists need the schools and sections listed before them
    collections = ("schools", "students", "student_changes", "staff", "courses", "terms", "sections", "section_enrollments")
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

    def iter_pages(self, collection: str, since: datetime | None = None) -> Iterator[list[dict]]:
        if collection == "student_changes":
            yield from self._student_changes()
            return
        path, _, _, _, scope = RESOURCES[collection]
        if scope == "district":
            yield from self._list(collection, path)
            return
        owners = self._owner_ids("schools" if scope == "school" else "sections")
        seen: set[str] = set()
        with ThreadPoolExecutor(self.client.limiter.max_concurrency, thread_name_prefix=f"ps-{collection}") as pool:
            for owner, records in zip(owners, pool.map(lambda o: list(self._list(collection, path.format(id=o))), owners)):
                page = []
                for record in (r for chunk in records for r in chunk):
                    if scope == "school":
                        record.setdefault("school_id", owner)  # courses do not say which school lists them
                    if record["id"] not in seen:  # staff with two schools are listed by both
                        seen.add(record["id"])
                        page.append(record)
                if page:
                    yield page
        if collection == "section_enrollments":
            yield from self._teacher_enrollments()

    def _list(self, collection: str, path: str) -> Iterator[list[dict]]:
        """Every page of one list, each record in one shape."""
        _, envelope, key, page_name, _ = RESOURCES[collection]
        params = {"expansions": STUDENT_EXPANSIONS} if collection == "students" else {}
        if collection == "students" and self.integration.options.get("extensions"):
            params["extensions"] = self.integration.options["extensions"]
        if collection == "staff":
            params["expansions"] = STAFF_EXPANSIONS

        def records_of(body, response) -> list[dict]:
            return [clean(r) for r in as_list((body.get(envelope) or {}).get(key))]

        total = int(self.client.get_json(f"{path}/count")["resource"]["count"])
        for records in self.pages(self._first_page(path, params, page_name, total), records_of, collection):
            self._remember(collection, records)
            yield records

    def _student_changes(self) -> Iterator[list[dict]]:
        """Each student's last change (`transaction_date`, a naive local time) from the schema table API."""

        def records_of(body, response) -> list[dict]:
            rows = [row.get("tables", {}).get("students", {}) for row in as_list(body.get("record"))]
            return [{"id": row.get("dcid"), "transaction_date": row.get("transaction_date")} for row in rows]

        total = int(self.client.get_json(f"{CHANGES_PATH}/count")["count"])
        first = self._first_page(CHANGES_PATH, {"projection": "dcid,transaction_date"}, "schema_table_query", total)
        return self.pages(first, records_of, "student_changes")

    def _first_page(self, path: str, params: dict, page_name: str, total: int) -> PageRequest:
        """Page 1 of a list of `total` records (as `{path}/count` said), in pages as large as the server allows."""
        size = min(self.integration.page_size, self._page_sizes().get(f"{page_name}_max_page_size", 100))
        return PageRequest(path, {**params, "page": 1, "pagesize": size}, total=total)

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
