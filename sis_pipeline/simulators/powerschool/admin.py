"""The /admin test harness for the PowerSchool simulator.

Totals, settings, stats, token expiry and reset are the OneRoster simulator's own endpoints over
this simulator's state; only /admin/changes differs, because PowerSchool changes name a table and
a DCID and include withdrawals and DCID changes.
"""

from starlette.routing import Route

from sis_pipeline.simulators.admin import admin_routes
from sis_pipeline.simulators.overlay import InvalidChange
from sis_pipeline.simulators.powerschool.roster import PowerSchoolRoster

OPS = ("update", "remove", "restore", "add", "withdraw", "reid")


def _required(change: dict, key: str, kind: type):
    value = change.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidChange(f"{change.get('op')!r} needs {key!r} as {kind.__name__}")
    return value


def apply_change(roster: PowerSchoolRoster, change: dict) -> None:
    """Apply one change, e.g. `{"op": "withdraw", "id": 1000005, "exit_date": "2026-11-02"}`.

    update/remove/restore: table, id (and fields); add: table, record; withdraw: id, exit_date,
    optional enroll_status (default T); reid: id, new_id. withdraw and reid apply to students.
    """
    if not isinstance(change, dict):
        raise InvalidChange("each change must be a JSON object")
    op = change.get("op")
    if op not in OPS:
        raise InvalidChange(f"unknown op {op!r}; use one of {list(OPS)}")
    if op == "add":
        roster.add(_required(change, "table", str), _required(change, "record", dict))
        return
    key = str(_required(change, "id", int))
    if op == "withdraw":
        roster.withdraw(key, _required(change, "exit_date", str), change.get("enroll_status", "T"))
    elif op == "reid":
        roster.reid(key, _required(change, "new_id", int))
    elif op == "update":
        roster.update(_required(change, "table", str), key, _required(change, "fields", dict))
    elif op == "remove":
        roster.remove(_required(change, "table", str), key)
    else:
        roster.restore(_required(change, "table", str), key)


def powerschool_admin_routes(state) -> list[Route]:
    return admin_routes(state, apply=apply_change)
