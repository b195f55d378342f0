"""Infinite Campus's OneRoster: its URL layout, its token endpoint, and the ids that change on the 1.2 upgrade.

In 1.1 Campus ids carry role prefixes (`s+0000123`, `t+0000045`); 1.2 gives every user a new
sourcedId and keeps the old one in `metadata.ic.legacysourceId`. A consumer keyed only on sourcedId
duplicates every person on the upgrade, which is what this flavour lets tests prove we do not.
"""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

TOKEN_PATH = "/campus/oauth2/token"
_LEGACY_PREFIX = {"stu-": "s+", "tch-": "t+"}
_CURRENT_PREFIX = {legacy: current for current, legacy in _LEGACY_PREFIX.items()}


def campus_roots(app_name: str) -> dict[str, str]:
    return {
        "1.1": f"/campus/api/oneroster/v1p1/{app_name}/ims/oneroster/v1p1",
        "1.2": f"/campus/api/oneroster/v1p2/{app_name}/ims/oneroster/rostering/v1p2",
    }


def legacy_id(sourced_id: str) -> str | None:
    """The 1.1 id of a person, or None for records whose id did not change."""
    prefix = sourced_id[:4]
    return _LEGACY_PREFIX[prefix] + sourced_id[4:] if prefix in _LEGACY_PREFIX else None


def current_id(sourced_id: str) -> str:
    """The simulator's own id for a 1.1 Campus id (ids of other records pass through)."""
    prefix = sourced_id[:2]
    return _CURRENT_PREFIX[prefix] + sourced_id[2:] if prefix in _CURRENT_PREFIX else sourced_id


def present(records: list[dict], version: str) -> list[dict]:
    """Records as Campus serves them in `version`: legacy person ids in 1.1, the legacy id as metadata in 1.2."""
    return [_present(record, version, top=True) for record in records]


def _present(value, version: str, top: bool = False):
    if isinstance(value, list):
        return [_present(item, version) for item in value]
    if not isinstance(value, dict):
        return value
    shown = {key: _present(item, version) for key, item in value.items()}
    old = legacy_id(value["sourcedId"]) if isinstance(value.get("sourcedId"), str) else None
    if old is None:
        return shown
    if version == "1.1":
        shown["sourcedId"] = old
        if "href" in shown:
            shown["href"] = shown["href"].replace(value["sourcedId"], old)
    elif top:
        shown["metadata"] = {**shown.get("metadata", {}), "ic": {"legacysourceId": old}}
    return shown


async def require_app_name(request: Request, app_name: str) -> Response | None:
    """Campus answers a token request without the right `appName` like this."""
    if request.query_params.get("appName") != app_name:
        return JSONResponse({"error": "invalid_request", "error_description": "No Campus Application selected"}, 400)
    return None
