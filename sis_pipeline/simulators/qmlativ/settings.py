"""What a Qmlativ simulator operator (or a test) can tune: credentials, token expiry, page size, time zone."""

from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TOKEN_PATH = "/oauth/token"
EXPIRED_TOKEN_STATUSES = (403, 401)
# Fixed when the server starts; every other setting may change while it runs.
STARTUP_SETTINGS = ("client_id", "client_secret")


@dataclass
class QmlativSettings:
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
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"timezone must be an IANA time zone name, got {self.timezone!r}") from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def apply(self, changes: dict) -> None:
        """Change runtime settings all at once, or none if any value is invalid."""
        runtime = runtime_setting_names()
        unknown = set(changes) - set(runtime)
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)} at runtime; allowed: {list(runtime)}")
        candidate = QmlativSettings(**{**asdict(self), **changes})
        for name in runtime:
            setattr(self, name, getattr(candidate, name))

    def public(self) -> dict:
        """Settings safe to show: everything but the secret."""
        return {key: value for key, value in asdict(self).items() if key != "client_secret"}


def runtime_setting_names() -> tuple[str, ...]:
    return tuple(setting.name for setting in fields(QmlativSettings) if setting.name not in STARTUP_SETTINGS)
