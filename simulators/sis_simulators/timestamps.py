"""OneRoster timestamps (`YYYY-MM-DDTHH:MM:SS.sssZ`) as integer milliseconds since the epoch.

Generated records were all last modified inside a fixed summer window ending at
BASE_MODIFIED_END; every admin change is stamped after it. A delta filter at or after that instant
can therefore only match changed records, which is what keeps delta syncs cheap to serve.
"""

from datetime import UTC, datetime, timedelta

BASE_MODIFIED_START = datetime(2026, 6, 1, tzinfo=UTC)
BASE_MODIFIED_END = datetime(2026, 8, 1, tzinfo=UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


BASE_START_MS = to_ms(BASE_MODIFIED_START)
BASE_END_MS = to_ms(BASE_MODIFIED_END)
_DAY_MS = 86_400_000
# Day prefixes of the base window, so formatting a generated timestamp is integer arithmetic only.
_WINDOW_DAYS = tuple(
    (BASE_MODIFIED_START.date() + timedelta(days=day)).isoformat() + "T"
    for day in range((BASE_END_MS - BASE_START_MS) // _DAY_MS)
)


def format_ms(ms: int) -> str:
    if BASE_START_MS <= ms < BASE_END_MS:
        day, in_day = divmod(ms - BASE_START_MS, _DAY_MS)
        seconds, millis = divmod(in_day, 1000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return f"{_WINDOW_DAYS[day]}{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ms(text: str) -> int:
    """Milliseconds for an ISO date or datetime; naive values are taken as UTC. Raises ValueError."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_ms(moment)
