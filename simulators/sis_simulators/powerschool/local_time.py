"""PowerSchool keeps naive local times: the district's wall clock, with no offset on the wire."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sis_simulators.timestamps import to_ms

NAIVE_FORMAT = "%Y-%m-%d %H:%M:%S"


def wire_timestamp(utc_iso: str, zone: ZoneInfo, naive_local: bool) -> str:
    """A stored UTC instant as sent: "2026-11-01 14:30:00" local, or "2026-11-01T20:30:00Z" when tidy."""
    moment = datetime.fromisoformat(utc_iso)
    if naive_local:
        return moment.astimezone(zone).strftime(NAIVE_FORMAT)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_ms(text: str, zone: ZoneInfo) -> int:
    """Epoch milliseconds of a local "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS". Raises ValueError."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return to_ms(moment)


def local_now(zone: ZoneInfo) -> str:
    return datetime.now(zone).strftime(NAIVE_FORMAT)
