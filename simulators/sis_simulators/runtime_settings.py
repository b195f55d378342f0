"""What every simulator's settings share: change them while it runs (not its credentials), show them without the secret."""

from dataclasses import asdict, fields
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

STARTUP_SETTINGS = ("client_id", "client_secret")


class RuntimeSettings:
    @classmethod
    def runtime_setting_names(cls) -> tuple[str, ...]:
        return tuple(setting.name for setting in fields(cls) if setting.name not in STARTUP_SETTINGS)

    def apply(self, changes: dict) -> None:
        """Change runtime settings all at once, or none if any value is invalid."""
        runtime = self.runtime_setting_names()
        unknown = set(changes) - set(runtime)
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)} at runtime; allowed: {list(runtime)}")
        candidate = type(self)(**{**asdict(self), **changes})
        for name in runtime:
            setattr(self, name, getattr(candidate, name))

    def public(self) -> dict:
        """Settings safe to show: everything but the secret."""
        return {key: value for key, value in asdict(self).items() if key != "client_secret"}


class LocalTimeSettings(RuntimeSettings):
    """Settings of a SIS that speaks in the district's wall-clock time (`timezone`)."""

    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def check_timezone(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"timezone must be an IANA time zone name, got {self.timezone!r}") from None
