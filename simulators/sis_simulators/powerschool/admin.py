"""The /admin test harness for the PowerSchool simulator.

Totals, settings, stats, token expiry and reset are the OneRoster simulator's own endpoints over
this simulator's state; only /admin/changes differs, because PowerSchool changes name a table and
a DCID and include withdrawals and DCID changes.
"""

from starlette.routing import Route

from sis_simulators.admin import admin_routes, required_field
from sis_simulators.overlay import InvalidChange
from sis_simulators.powerschool.roster import PowerSchoolRoster

OPS = ("update", "remove", "restore", "add", "withdraw", "reid")


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
        roster.add(required_field(change, "table", str), required_field(change, "record", dict))
        return
    key = str(required_field(change, "id", int))
    if op == "withdraw":
        roster.withdraw(key, required_field(change, "exit_date", str), change.get("enroll_status", "T"))
    elif op == "reid":
        roster.reid(key, required_field(change, "new_id", int))
    elif op == "update":
        roster.update(required_field(change, "table", str), key, required_field(change, "fields", dict))
    elif op == "remove":
        roster.remove(required_field(change, "table", str), key)
    else:
        roster.restore(required_field(change, "table", str), key)


def powerschool_admin_routes(state) -> list[Route]:
    return admin_routes(state, apply=apply_change)
