"""The PowerSchool plugin REST API over a simulated district, as a Starlette app.

/ws/v1 serves schools, students, staff, sections, courses, terms and section rosters in
PowerSchool's envelopes with page/pagesize paging and /count companions; /ws/schema/table serves
table rows with `transaction_date` deltas, or 403 to a plugin without access to them
(`schema_table_access`). Every /ws call needs the plugin's Bearer token except
/ws/v1/time, and may be throttled.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sis_simulators.auth import TokenStore
from sis_simulators.district import District
from sis_simulators.oneroster_app import json_response
from sis_simulators.overlay import UnknownRecord
from sis_simulators.powerschool.access import Throttle, check_token, token_endpoint
from sis_simulators.powerschool.admin import powerschool_admin_routes
from sis_simulators.powerschool.errors import RECORD_NOT_FOUND, ApiError
from sis_simulators.powerschool.local_time import local_now
from sis_simulators.powerschool.roster import PowerSchoolRoster
from sis_simulators.powerschool.schema_tables import change_filter, projection, row, schema_table
from sis_simulators.powerschool.settings import TOKEN_PATH, PowerSchoolSettings
from sis_simulators.powerschool.wire import RESOURCES, Resource, count_body, list_body, render, requested_names

DISTRICT_RESOURCES = ("school", "student")
SCHOOL_RESOURCES = ("student", "section", "staff", "course", "term")
SINGLE_RESOURCES = ("school", "student", "section", "staff")
THROTTLED_STAT = "throttled"
# PowerSchool's answer to a plugin whose plugin.xml lacks the table's access request
SCHEMA_ACCESS_REFUSED = "Request is for a resource the user is not allowed to access"


@dataclass
class PowerSchoolState:
    roster: PowerSchoolRoster
    settings: PowerSchoolSettings
    tokens: TokenStore = field(default_factory=TokenStore)
    throttle: Throttle = field(default_factory=Throttle)
    requests: Counter = field(default_factory=Counter)


Handler = Callable[[Request, PowerSchoolState], dict]


def _paging(request: Request, settings: PowerSchoolSettings, paged_as: str) -> tuple[int, int]:
    """(offset, limit) from 1-based `page` and `pagesize`; a pagesize over the maximum is quietly capped."""
    maximum = settings.max_page_size(paged_as)
    try:
        page = int(request.query_params.get("page", 1))
        size = int(request.query_params.get("pagesize", maximum))
    except ValueError:
        raise ApiError(400, "page and pagesize must be integers", field="pagesize") from None
    if page < 1 or size < 1:
        raise ApiError(400, "page and pagesize must be at least 1", field="pagesize")
    size = min(size, maximum)
    return (page - 1) * size, size


def _path_key(request: Request) -> str:
    return str(request.path_params["id"])


def _list(request: Request, state: PowerSchoolState, resource: Resource, records: list[dict]) -> dict:
    expansions = requested_names(request.query_params.get("expansions"))
    extensions = requested_names(request.query_params.get("extensions"))
    rendered = [render(resource, record, state.settings, expansions, extensions) for record in records]
    return list_body(resource, rendered, state.settings)


def district_page(request: Request, state: PowerSchoolState, resource: Resource) -> dict:
    offset, limit = _paging(request, state.settings, resource.paged_as)
    _, records = state.roster.page(resource.table, offset, limit)
    return _list(request, state, resource, records)


def district_count(request: Request, state: PowerSchoolState, resource: Resource) -> dict:
    return count_body(state.roster.tables[resource.table].count())


def _school_members(request: Request, state: PowerSchoolState, resource: Resource) -> list[int]:
    school = state.roster.position("schools", _path_key(request))
    return state.roster.school_members(resource.table, school)


def _page_of_members(request: Request, state: PowerSchoolState, resource: Resource, members: list[int]) -> dict:
    offset, limit = _paging(request, state.settings, resource.paged_as)
    return _list(request, state, resource, state.roster.records(resource.table, members[offset : offset + limit]))


def school_page(request: Request, state: PowerSchoolState, resource: Resource) -> dict:
    return _page_of_members(request, state, resource, _school_members(request, state, resource))


def school_count(request: Request, state: PowerSchoolState, resource: Resource) -> dict:
    return count_body(len(_school_members(request, state, resource)))


def roster_page(request: Request, state: PowerSchoolState) -> dict:
    members = state.roster.section_members(_path_key(request))
    return _page_of_members(request, state, RESOURCES["section_enrollment"], members)


def roster_count(request: Request, state: PowerSchoolState) -> dict:
    return count_body(len(state.roster.section_members(_path_key(request))))


def single_record(request: Request, state: PowerSchoolState, resource: Resource) -> dict:
    record = state.roster.find(resource.table, _path_key(request))
    expansions = requested_names(request.query_params.get("expansions"))
    extensions = requested_names(request.query_params.get("extensions"))
    return {resource.singular: render(resource, record, state.settings, expansions, extensions)}


def metadata(request: Request, state: PowerSchoolState) -> dict:
    return {"metadata": state.settings.metadata()}


def _check_schema_access(state: PowerSchoolState) -> None:
    if not state.settings.schema_table_access:
        raise ApiError(403, SCHEMA_ACCESS_REFUSED)


def schema_page(request: Request, state: PowerSchoolState) -> dict:
    _check_schema_access(state)
    table = schema_table(request.path_params["table"])
    columns = projection(table, request.query_params.get("projection"))
    record_filter = change_filter(table, request.query_params.get("q"), state.settings)
    offset, limit = _paging(request, state.settings, "schema_table_query")
    _, records = state.roster.page(table.source, offset, limit, record_filter)
    rows = [row(table, record, columns, state.roster, state.settings) for record in records]
    return {"name": table.name, "record": rows}


def schema_count(request: Request, state: PowerSchoolState) -> dict:
    _check_schema_access(state)
    table = schema_table(request.path_params["table"])
    record_filter = change_filter(table, request.query_params.get("q"), state.settings)
    total, _ = state.roster.page(table.source, 0, 0, record_filter)
    return {"count": total}


def unknown_resource(request: Request, state: PowerSchoolState) -> dict:
    raise ApiError(404, f"Resource not found: {request.url.path}")


def api_route(state: PowerSchoolState, template: str, handler: Handler) -> Route:
    """A GET endpoint that needs a valid token and respects the throttle, answering PowerSchool errors."""
    stat = template.replace(":int", "")

    async def endpoint(request: Request) -> Response:
        state.requests[stat] += 1
        try:
            check_token(request, state.tokens)
            state.throttle.admit(state.settings.client_id, state.settings.min_request_interval)
            return json_response(handler(request, state))
        except UnknownRecord:
            return ApiError(404, RECORD_NOT_FOUND).response()
        except ApiError as error:
            if error.status == 429:
                state.requests[THROTTLED_STAT] += 1
            return error.response()

    return Route(template, endpoint, methods=["GET"])


def _api_routes(state: PowerSchoolState) -> list[Route]:
    routes = [api_route(state, "/ws/v1/metadata", metadata)]
    for name in DISTRICT_RESOURCES:
        resource = RESOURCES[name]
        routes.append(api_route(state, f"/ws/v1/district/{name}", partial(district_page, resource=resource)))
        routes.append(api_route(state, f"/ws/v1/district/{name}/count", partial(district_count, resource=resource)))
    for name in SCHOOL_RESOURCES:
        resource = RESOURCES[name]
        routes.append(api_route(state, f"/ws/v1/school/{{id:int}}/{name}", partial(school_page, resource=resource)))
        count_path = f"/ws/v1/school/{{id:int}}/{name}/count"
        routes.append(api_route(state, count_path, partial(school_count, resource=resource)))
    routes.append(api_route(state, "/ws/v1/section/{id:int}/section_enrollment", roster_page))
    routes.append(api_route(state, "/ws/v1/section/{id:int}/section_enrollment/count", roster_count))
    for name in SINGLE_RESOURCES:
        routes.append(api_route(state, f"/ws/v1/{name}/{{id:int}}", partial(single_record, resource=RESOURCES[name])))
    routes.append(api_route(state, "/ws/schema/table/{table}", schema_page))
    routes.append(api_route(state, "/ws/schema/table/{table}/count", schema_count))
    return routes


def create_powerschool_app(district: District, settings: PowerSchoolSettings | None = None) -> Starlette:
    """A PowerSchool server for `district`; `app.state.simulator` holds its live state."""
    state = PowerSchoolState(PowerSchoolRoster(district), settings or PowerSchoolSettings())

    async def issue_token(request: Request) -> Response:
        state.requests[TOKEN_PATH] += 1
        return await token_endpoint(request, state.settings, state.tokens)

    async def server_time(request: Request) -> Response:
        state.requests["/ws/v1/time"] += 1
        return json_response({"time": local_now(state.settings.zone), "timezone": state.settings.timezone})

    routes = [
        Route(TOKEN_PATH, issue_token, methods=["POST"]),
        Route(f"{TOKEN_PATH}/", issue_token, methods=["POST"]),
        Route("/ws/v1/time", server_time, methods=["GET"]),
        *_api_routes(state),
        *powerschool_admin_routes(state),
        api_route(state, "/ws/{path:path}", unknown_resource),
    ]
    app = Starlette(routes=routes)
    app.state.simulator = state
    return app
