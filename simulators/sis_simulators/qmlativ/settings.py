"""What a Qmlativ simulator operator (or a test) can tune: credentials, token expiry, page size, time zone."""

from dataclasses import dataclass, field
from typing import ClassVar

from sis_simulators.runtime_settings import LocalTimeSettings

TOKEN_PATH = "/oauth/token"
EXPIRED_TOKEN_STATUSES = (403, 401)
# Fixed when the server starts; every other setting may change while it runs.


@dataclass
class QmlativSettings(LocalTimeSettings):
    token_path: ClassVar[str] = TOKEN_PATH

    client_id: str = "demo-client"
    client_secret: str = field(default="demo-secret", repr=False)
    token_ttl: int = 3600
    # Qmlativ answers an expired token with 403 "Token has expired"; 401 is what OAuth clients expect.
    expired_token_status: int = 403
    # A larger pageSize is quietly capped; Paging.PageSize and Paging.Next say what was served.
    max_page_size: int = 1000
    # ModifiedTime is the district's wall clock, sent without an offset.
    timezone: str = "America/Chicago"

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for name in ("token_ttl", "max_page_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.expired_token_status not in EXPIRED_TOKEN_STATUSES:
            raise ValueError(f"expired_token_status must be one of {EXPIRED_TOKEN_STATUSES}, got {self.expired_token_status!r}")
        self.check_timezone()


runtime_setting_names = QmlativSettings.runtime_setting_names
