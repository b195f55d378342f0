"""What changed at a PowerSchool district: the students table's `transaction_date`, via /ws/schema/table.

/ws/v1 has no modified-since. The schema table API answers `q=transaction_date=ge=<local time>` for
tables that have the column, if the plugin holds an access request for the table (else 403/404); a
table or field it cannot filter on is answered `{"message": "Invalid field transaction_date"}`.
`transaction_date` is a naive wall-clock time of the district (it moves on in-place edits, where
`whenmodified` may not), shown to the second.
"""

from datetime import datetime, timedelta, tzinfo

from sis_pipeline.errors import ClientError
from sis_pipeline.providers.common.changes import ChangeFilterUnavailable, wall_clock

CHANGES_PATH = "/ws/schema/table/students"
CHANGE_COLUMN = "transaction_date"
# How PowerSchool refuses a change filter on a table (or field) it cannot filter on
INVALID_CHANGE_FIELD = f"invalid field {CHANGE_COLUMN}"
# When DST ends the wall clock repeats an hour: a later change can carry an earlier transaction_date.
WALL_CLOCK_REPEAT = timedelta(hours=1)
# The SIS keeps transaction_date to the second: "after w" is "at or after w + 1s" (also exact where a
# server compares finer instants than it shows).
ONE_SECOND = timedelta(seconds=1)


def since_query(since: datetime, zone: tzinfo) -> str:
    """`transaction_date=ge=<wall time>` for changes at or after `since` (UTC).

    Near the end of DST (the wall clock repeated an hour within an hour of `since`) it asks from an
    hour earlier, so no change made in the repeated hour is missed; otherwise it asks from `since`
    itself: each changed student costs a request of its own, so the delta is kept tight.
    """
    offsets = [(since + step).astimezone(zone).utcoffset() for step in (-WALL_CLOCK_REPEAT, timedelta(0), WALL_CLOCK_REPEAT)]
    fell_back = offsets[0] > offsets[1] or offsets[1] > offsets[2]
    start = since - WALL_CLOCK_REPEAT if fell_back else since
    return f"{CHANGE_COLUMN}=ge={wall_clock(start, zone).strftime('%Y-%m-%d %H:%M:%S')}"


def after_query(watermark: datetime, zone: tzinfo) -> str:
    """`transaction_date` strictly after the watermark, to PowerSchool's precision (whole seconds)."""
    return f"{CHANGE_COLUMN}=ge={wall_clock(watermark + ONE_SECOND, zone).strftime('%Y-%m-%d %H:%M:%S')}"


def refused_filter(error: ClientError) -> bool:
    """Whether a 400 is PowerSchool saying this table (or this plugin) has no transaction_date to filter on."""
    return INVALID_CHANGE_FIELD in str(error).lower()


def unavailable(error: ClientError) -> ChangeFilterUnavailable:
    return ChangeFilterUnavailable(f"{CHANGES_PATH} cannot filter on {CHANGE_COLUMN}: {error}")
