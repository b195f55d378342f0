"""What a provider says about changes at its SIS: the sensor's cheap question and the watermark's source.

An incremental run asks each collection the provider can filter (`change_filtered`) for records
modified at or after its watermark; `newest_change` reads the modification time off the records so
the warehouse can keep the watermark on the SIS's own clock; `probe_changes` is the change sensor's
question, as cheap as the SIS allows (one record per collection, a count), strictly after the watermark.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo


class ChangeFilterUnavailable(Exception):
    """The SIS refused this collection's change filter (PowerSchool's "Invalid field transaction_date"):
    the collection is read whole instead."""


@dataclass(frozen=True)
class ChangeProbe:
    """The answer to "did anything change after the watermarks?".

    `changed` is None when the SIS gives no signal (the schedule's full sync picks changes up).
    `detail` is one readable line naming collections and counts, never a record's content;
    `token` identifies what was seen (the newest change, a file's fingerprint) for the run key.
    """

    changed: bool | None
    detail: str
    token: str | None = None


NO_SIGNAL = ChangeProbe(None, "this SIS offers no change signal; the scheduled full sync picks changes up")


def newest_iso(records: Iterable[dict], field: str) -> datetime | None:
    """The newest ISO 8601 timestamp under `field` (UTC; a stamp without an offset is read as UTC)."""
    newest = None
    # each distinct stamp parsed once (records loaded together often share one)
    for raw in {stamp for record in records if isinstance(stamp := record.get(field), str) and stamp}:
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
        except ValueError:
            continue  # an unreadable stamp is the normaliser's to reject; it never moves a watermark
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        if newest is None or moment > newest:
            newest = moment
    return newest


def newest_wall_clock(records: Iterable[dict], field: str, zone: tzinfo) -> datetime | None:
    """The newest of `field`'s naive wall-clock times in the district's `zone` (Qmlativ's ModifiedTime,
    PowerSchool's transaction_date), as a UTC instant; a stamp sent with an offset is taken as it says.

    In the repeated hour after DST ends the earlier reading is taken, as the normaliser does
    (values.local_timestamp): the watermark is then at most an hour early, never late.
    """
    newest = None
    for record in records:
        raw = record.get(field)
        if not isinstance(raw, str) or not raw.strip():
            continue
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError:
            continue  # an unreadable stamp is the normaliser's to reject; it never moves a watermark
        moment = (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment).astimezone(UTC)
        if newest is None or moment > newest:
            newest = moment
    return newest


def wall_clock(moment: datetime, zone: tzinfo) -> datetime:
    """A UTC instant as the district's naive wall-clock time, to the second (the SIS's precision), rounded down."""
    return moment.astimezone(zone).replace(tzinfo=None, microsecond=0)


def iso_z(moment: datetime) -> str:
    """A UTC instant as OneRoster writes it, to the millisecond: 2026-11-30T08:15:00.123Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
