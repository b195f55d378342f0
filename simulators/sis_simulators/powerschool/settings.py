"""What a PowerSchool simulator operator (or a test) can tune: credentials, page sizes, quirks, throttling.

Every quirk PowerSchool is known for is a switch here, on by default, so a client can be tested
against the awkward wire format and, one switch at a time, against a tidy one.
"""

from dataclasses import dataclass, field, fields
from typing import ClassVar

from sis_simulators.runtime_settings import LocalTimeSettings

TOKEN_PATH = "/oauth/access_token"
# Resources whose page size PowerSchool caps; /ws/v1/metadata reports `<name>_max_page_size` for each.
PAGED_RESOURCES = (
    "student", "section", "staff", "course", "term", "school", "section_enrollment", "schema_table_query",
)
# Fixed when the server starts; every other setting may change while it runs.
THIRTY_DAYS_SECONDS = 30 * 24 * 3600


@dataclass
class PowerSchoolSettings(LocalTimeSettings):
    token_path: ClassVar[str] = TOKEN_PATH

    client_id: str = "demo-client"
    client_secret: str = field(default="demo-secret", repr=False)
    token_ttl: int = THIRTY_DAYS_SECONDS
    timezone: str = "America/Chicago"
    student_max_page_size: int = 100
    section_max_page_size: int = 100
    staff_max_page_size: int = 100
    course_max_page_size: int = 100
    term_max_page_size: int = 100
    school_max_page_size: int = 100
    section_enrollment_max_page_size: int = 100
    schema_table_query_max_page_size: int = 100
    # A list of one arrives as the bare element: `"student": {...}`, `"school_affiliation": {...}`.
    single_item_lists_as_objects: bool = True
    # A requested expansion with nothing in it arrives as "" instead of {}.
    empty_expansions_as_strings: bool = True
    # Records whose id is a multiple of 7 carry `id` and `local_id` as strings.
    mixed_id_types: bool = True
    # Schema-table timestamps are naive local times ("2026-11-01 14:30:00"), not UTC ISO 8601.
    naive_local_timestamps: bool = True
    # `whenmodified` keeps its old value on in-place updates; only `transaction_date` moves.
    whenmodified_lags: bool = True
    # Minimum seconds between API requests of the plugin; 0 switches throttling off.
    min_request_interval: float = 0.0
    # Whether the plugin's plugin.xml holds access requests for /ws/schema/table; without them PowerSchool
    # answers those queries 403 while /ws/v1 keeps working.
    schema_table_access: bool = True

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for setting in fields(self):
            value = getattr(self, setting.name)
            if setting.type is bool and not isinstance(value, bool):
                raise ValueError(f"{setting.name} must be true or false, got {value!r}")
            if setting.type is int and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{setting.name} must be a positive integer, got {value!r}")
        interval = self.min_request_interval
        if not isinstance(interval, int | float) or isinstance(interval, bool) or interval < 0:
            raise ValueError(f"min_request_interval must be a number of seconds >= 0, got {interval!r}")
        self.check_timezone()

    def max_page_size(self, resource: str) -> int:
        return getattr(self, f"{resource}_max_page_size")

    def metadata(self) -> dict[str, int]:
        return {f"{resource}_max_page_size": self.max_page_size(resource) for resource in PAGED_RESOURCES}


runtime_setting_names = PowerSchoolSettings.runtime_setting_names
