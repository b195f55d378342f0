"""Test-harness endpoints under /admin: totals, changes between syncs, settings, stats.

No token is needed, so they answer only callers on the loopback interface.
"""

import json

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sis_simulators.faults import FaultInjector
from sis_simulators.overlay import InvalidChange, RosterOverlay, UnknownRecord

LOOPBACK_HOSTS = ("127.0.0.1", "::1")


def required_field(change: dict, key: str, kind: type):
    """A change's field, refused unless it has the right type (a JSON true is not an id)."""
    value = change.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidChange(f"{change.get('op')!r} needs {key!r} as a {kind.__name__}")
    return value


def apply_change(roster: RosterOverlay, change: dict) -> None:
    """Apply one `{"op", "collection", "sourcedId", "fields" | "record"}` change."""
    if not isinstance(change, dict):
        raise InvalidChange("each change must be a JSON object")
    op = change.get("op")
    collection = required_field(change, "collection", str)
    if op == "add":
        roster.add(collection, required_field(change, "record", dict))
        return
    sourced_id = required_field(change, "sourcedId", str)
    if op == "update":
        roster.update(collection, sourced_id, required_field(change, "fields", dict))
    elif op == "remove":
        roster.remove(collection, sourced_id)
    elif op == "restore":
        roster.restore(collection, sourced_id)
    elif op == "tobedeleted":
        roster.mark_tobedeleted(collection, sourced_id)
    else:
        raise InvalidChange(f"unknown op {op!r}; use update, remove, restore, tobedeleted or add")


def _loopback_only(handler):
    async def guarded(request: Request):
        if request.client is None or request.client.host not in LOOPBACK_HOSTS:
            return JSONResponse({"error": "the admin API answers loopback callers only"}, status_code=403)
        return await handler(request)

    return guarded


async def _json_body(request: Request):
    try:
        return json.loads(await request.body())
    except json.JSONDecodeError as error:
        raise InvalidChange(f"the body is not JSON: {error}") from None


def admin_routes(state, faults: FaultInjector | None = None, apply=apply_change) -> list[Route]:
    """Routes bound to a simulator's state (roster, settings, tokens, request counts).

    `faults`, where the simulator injects them, adds its counters to /admin/stats and /admin/reset;
    `apply` applies one change in the simulator's own change language (OneRoster's by default).
    """

    async def totals(request: Request) -> JSONResponse:
        return JSONResponse(state.roster.totals())

    async def changes(request: Request) -> JSONResponse:
        applied = 0
        try:
            body = await _json_body(request)
            if not isinstance(body, list):
                raise InvalidChange("the body must be a JSON list of changes")
            for change in body:
                apply(state.roster, change)
                applied += 1
        except UnknownRecord as error:
            return JSONResponse({"error": str(error), "applied": applied}, status_code=404)
        except InvalidChange as error:
            return JSONResponse({"error": str(error), "applied": applied}, status_code=400)
        return JSONResponse({"applied": applied})

    async def settings(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                body = await _json_body(request)
                if not isinstance(body, dict):
                    raise InvalidChange("the body must be a JSON object of settings")
                state.settings.apply(body)
            except ValueError as error:
                return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(state.settings.public())

    async def stats(request: Request) -> JSONResponse:
        body = {"requests": dict(state.requests), "tokens_issued": state.tokens.issued}
        if faults is not None:
            body["faults"] = faults.stats()
        return JSONResponse(body)

    async def expire_tokens(request: Request) -> JSONResponse:
        return JSONResponse({"expired": state.tokens.expire_all()})

    async def reset(request: Request) -> JSONResponse:
        state.roster.reset()
        if faults is not None:
            faults.reset()
        return JSONResponse(state.roster.totals())

    return [
        Route("/admin/totals", _loopback_only(totals), methods=["GET"]),
        Route("/admin/changes", _loopback_only(changes), methods=["POST"]),
        Route("/admin/settings", _loopback_only(settings), methods=["GET", "POST"]),
        Route("/admin/stats", _loopback_only(stats), methods=["GET"]),
        Route("/admin/tokens/expire", _loopback_only(expire_tokens), methods=["POST"]),
        Route("/admin/reset", _loopback_only(reset), methods=["POST"]),
    ]
