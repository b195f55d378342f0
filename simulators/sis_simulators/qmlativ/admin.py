"""The /admin test harness for the Qmlativ simulator.

Totals, settings, stats, token expiry and reset are the OneRoster simulator's own endpoints over
this simulator's state; only /admin/changes differs, because a Qmlativ change names an object
(`Student/Student`) and an integer id.
"""

from starlette.routing import Route

from sis_simulators.admin import admin_routes, required_field
from sis_simulators.overlay import InvalidChange
from sis_simulators.qmlativ.roster import QmlativRoster

OPS = ("update", "remove", "restore", "add")


def apply_change(roster: QmlativRoster, change: dict) -> None:
    """Apply one change, e.g. `{"op": "update", "object": "Student/Student", "id": 3000008, "fields": {...}}`.

    update: object, id, fields (ModifiedTime among them sets the stamp, else now); remove/restore:
    object, id; add: object, record (with its id field).
    """
    if not isinstance(change, dict):
        raise InvalidChange("each change must be a JSON object")
    op = change.get("op")
    if op not in OPS:
        raise InvalidChange(f"unknown op {op!r}; use one of {list(OPS)}")
    object_path = required_field(change, "object", str)
    if op == "add":
        roster.add(object_path, required_field(change, "record", dict))
        return
    record_id = required_field(change, "id", int)
    if op == "update":
        roster.update(object_path, record_id, required_field(change, "fields", dict))
    elif op == "remove":
        roster.remove(object_path, record_id)
    else:
        roster.restore(object_path, record_id)


def qmlativ_admin_routes(state) -> list[Route]:
    return admin_routes(state, apply=apply_change)
