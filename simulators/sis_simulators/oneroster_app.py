"""The OneRoster 1.1 and 1.2 REST API over a simulated district, as a Starlette app.

It behaves like a provider a sync must cope with: OAuth client credentials, offset paging with
`X-Total-Count` and `Link` headers (switchable, since some providers send neither),
`dateLastModified` delta filters and imsx error bodies, and, when an operator switches them on,
the faults of a bad night (faults.py).
"""

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sis_simulators.admin import admin_routes
from sis_simulators.auth import TokenStore, bearer_token, refused_token_request, token_endpoint
from sis_simulators.district import District
from sis_simulators.faults import FaultInjector, reset_connection
from sis_simulators.filters import FilterError, parse_filter
from sis_simulators import infinite_campus
from sis_simulators.overlay import RosterOverlay, UnknownRecord
from sis_simulators.settings import SimulatorSettings

# (list key, single-record key) per collection; /students and /teachers still list under `users`.
ENVELOPES = {
    "orgs": ("orgs", "org"), "schools": ("orgs", "org"),
    "academicSessions": ("academicSessions", "academicSession"), "terms": ("academicSessions", "academicSession"),
    "courses": ("courses", "course"), "classes": ("classes", "class"),
    "users": ("users", "user"), "students": ("users", "user"), "teachers": ("users", "user"),
    "enrollments": ("enrollments", "enrollment"), "demographics": ("demographics", "demographics"),
}


@dataclass
class SimulatorState:
    roster: RosterOverlay
    settings: SimulatorSettings
    tokens: TokenStore = field(default_factory=TokenStore)
    requests: Counter = field(default_factory=Counter)
    faults: FaultInjector = field(default_factory=FaultInjector)


# UTF-8 on the wire as real providers send it (José, not Jos\u00e9); records are trees, never cyclic.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    body = _ENCODER.encode(payload).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def imsx_error(
    status: int, code_minor: str, description: str, field_name: str = "TargetEndSystem", headers: dict | None = None
) -> Response:
    minor = {"imsx_codeMinorFieldName": field_name, "imsx_codeMinorFieldValue": code_minor}
    body = {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {"imsx_codeMinorField": [minor]},
    }
    return json_response(body, status, headers)


def _unauthorised(request: Request, state: SimulatorState) -> Response | None:
    token = bearer_token(request)
    if token is not None and state.tokens.is_valid(token) and state.faults.admits_token(token):
        return None
    challenge = 'Bearer realm="oneroster"' + (', error="invalid_token"' if token else "")
    description = "the access token is invalid or expired" if token else "a Bearer access token is required"
    return imsx_error(401, "unauthorisedrequest", description, "Authorization", {"WWW-Authenticate": challenge})


def _with_faults(state: SimulatorState, endpoint, serves_list: bool):
    """`endpoint` meeting the faults the operator switched on (see faults.py)."""

    async def endpoint_with_faults(request: Request) -> Response:
        planned = state.faults.plan(state.settings.faults, serves_list)
        if planned.refusal is not None:
            status, description, headers = planned.refusal
            return imsx_error(status, "server_busy", description, headers=headers)
        if planned.reset_connection:
            return await reset_connection(request)
        if planned.delay_seconds:
            await asyncio.sleep(planned.delay_seconds)
        response = await endpoint(request)
        if state.faults.answered(response.status_code):
            state.tokens.expire_all()
        if planned.truncate and response.status_code == 200:
            return state.faults.truncate(response)
        return response

    return endpoint_with_faults


def _paging(request: Request, settings: SimulatorSettings) -> tuple[int, int]:
    try:
        limit = int(request.query_params.get("limit", settings.default_limit))
        offset = int(request.query_params.get("offset", 0))
    except ValueError:
        raise ValueError("limit and offset must be integers") from None
    if limit < 1 or offset < 0:
        raise ValueError("limit must be positive and offset not negative")
    return offset, min(limit, settings.max_limit)


def _paging_headers(request: Request, mode: str, total: int, offset: int, limit: int) -> dict[str, str]:
    headers = {}
    if mode in ("all", "total_only"):
        headers["X-Total-Count"] = str(total)
    if mode in ("all", "link_only"):
        links = []
        if offset + limit < total:
            links.append(f'<{request.url.include_query_params(limit=limit, offset=offset + limit)}>; rel="next"')
        last_offset = (total - 1) // limit * limit if total else 0
        links.append(f'<{request.url.include_query_params(limit=limit, offset=last_offset)}>; rel="last"')
        headers["Link"] = ", ".join(links)
    return headers


def _project(records: list[dict], fields: str | None) -> list[dict]:
    if not fields:
        return records
    wanted = [name.strip() for name in fields.split(",") if name.strip()]
    return [{name: record[name] for name in wanted if name in record} for record in records]


def _version_routes(state: SimulatorState, version: str) -> list[Route]:
    root = state.settings.roots()[version]
    campus = state.settings.flavour == "infinite_campus"

    async def list_collection(request: Request) -> Response:
        collection = request.path_params["collection"]
        state.requests[f"{root}/{collection}"] += 1
        if denied := _unauthorised(request, state):
            return denied
        if collection not in ENVELOPES:
            return imsx_error(404, "unknownobject", f"there is no collection {collection!r}")
        try:
            offset, limit = _paging(request, state.settings)
        except ValueError as error:
            return imsx_error(400, "invalid_selection_field", str(error), "limit")
        filter_text = request.query_params.get("filter")
        try:
            record_filter = parse_filter(filter_text) if filter_text else None
        except FilterError as error:
            return imsx_error(400, "invalid_filter_field", str(error), error.field)
        total, records = state.roster.page(collection, offset, limit, version, record_filter)
        if campus:
            records = infinite_campus.present(records, version)
        headers = _paging_headers(request, state.settings.paging_headers, total, offset, limit)
        records = _project(records, request.query_params.get("fields"))
        return json_response({ENVELOPES[collection][0]: records}, headers=headers)

    async def get_record(request: Request) -> Response:
        collection, sourced_id = request.path_params["collection"], request.path_params["sourced_id"]
        if campus:
            sourced_id = infinite_campus.current_id(sourced_id)
        state.requests[f"{root}/{collection}/{{sourcedId}}"] += 1
        if denied := _unauthorised(request, state):
            return denied
        try:
            record = state.roster.find(collection, sourced_id, version)
        except UnknownRecord as error:
            return imsx_error(404, "unknownobject", str(error), "sourcedId")
        if campus:
            record = infinite_campus.present([record], version)[0]
        return json_response({ENVELOPES[collection][1]: record})

    return [
        Route(f"{root}/{{collection}}", _with_faults(state, list_collection, serves_list=True), methods=["GET"]),
        Route(f"{root}/{{collection}}/{{sourced_id}}", _with_faults(state, get_record, serves_list=False), methods=["GET"]),
    ]


def create_oneroster_app(district: District, settings: SimulatorSettings | None = None) -> Starlette:
    """A OneRoster provider serving `district`; `app.state.simulator` holds its live state."""
    state = SimulatorState(RosterOverlay(district), settings or SimulatorSettings())

    async def issue_token(request: Request) -> Response:
        state.requests[state.settings.token_path] += 1
        if refusal := state.faults.plan_token(state.settings.faults):
            return refused_token_request(*refusal)
        if state.settings.flavour == "infinite_campus":
            if refused := await infinite_campus.require_app_name(request, state.settings.app_name):
                return refused
        return await token_endpoint(request, state.settings, state.tokens)

    routes = [Route(state.settings.token_path, issue_token, methods=["POST"]), *admin_routes(state, state.faults)]
    for version in state.settings.roots():
        routes.extend(_version_routes(state, version))
    app = Starlette(routes=routes)
    app.state.simulator = state
    return app
