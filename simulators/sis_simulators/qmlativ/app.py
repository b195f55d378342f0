"""Skyward Qmlativ's Generic API over a simulated district, as a Starlette app.

`/Generic/{entityId}/{Module}/{Object}/{page}/{pageSize}` lists one object's records, numbered
pages from 1, with `Paging.Next` while pages come back full (so a list whose size is a multiple
of the page size ends with an empty page, as real clients must expect). A POST body searches on
ModifiedTime; repeated `searchFields` choose the fields. Entity 1, the district, is served.
"""

import json
from collections import Counter
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sis_simulators.auth import TokenStore
from sis_simulators.district import District
from sis_simulators.oneroster_app import json_response
from sis_simulators.qmlativ.access import refused, token_endpoint
from sis_simulators.qmlativ.admin import qmlativ_admin_routes
from sis_simulators.qmlativ.objects import DISTRICT_ENTITY_ID
from sis_simulators.qmlativ.roster import QmlativRoster
from sis_simulators.qmlativ.search import SearchError, parse_search
from sis_simulators.qmlativ.settings import TOKEN_PATH, QmlativSettings

LIST_PATH = "/Generic/{entity}/{module}/{object}/{page}/{page_size}"


@dataclass
class QmlativState:
    roster: QmlativRoster
    settings: QmlativSettings
    tokens: TokenStore = field(default_factory=TokenStore)
    requests: Counter = field(default_factory=Counter)


class ApiError(Exception):
    """A refused list request: its HTTP status and the `Message` Qmlativ would send."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _message(status: int, message: str) -> Response:
    return json_response({"Message": message}, status)


def _positive(text: str, name: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ApiError(400, f"{name} must be a positive integer, got {text!r}")
    return int(text)


def _page_path(entity: int, object_path: str, page: int, size: int) -> str:
    return f"/Generic/{entity}/{object_path}/{page}/{size}"


async def _search(request: Request, settings: QmlativSettings):
    if request.method != "POST":
        return None
    body = await request.body()
    if not body.strip():
        return None
    try:
        return parse_search(json.loads(body), settings)
    except json.JSONDecodeError as error:
        raise ApiError(400, f"the body is not JSON: {error}") from None
    except SearchError as error:
        raise ApiError(400, str(error)) from None


def _selected_fields(request: Request, known: tuple[str, ...]) -> list[str]:
    wanted = request.query_params.getlist("searchFields")
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ApiError(400, f"unknown searchFields {unknown}; fields: {list(known)}")
    return wanted


def create_qmlativ_app(district: District, settings: QmlativSettings | None = None) -> Starlette:
    """A Qmlativ Generic API serving `district`; `app.state.simulator` holds its live state."""
    settings = settings or QmlativSettings()
    state = QmlativState(QmlativRoster(district, settings), settings)

    async def issue_token(request: Request) -> Response:
        state.requests[TOKEN_PATH] += 1
        return await token_endpoint(request, state.settings, state.tokens)

    async def list_objects(request: Request) -> Response:
        params = request.path_params
        object_path = f"{params['module']}/{params['object']}"
        state.requests[f"/Generic/{object_path}"] += 1
        if denied := refused(request, state.settings, state.tokens):
            return denied
        try:
            entity = _positive(params["entity"], "entityId")
            if entity != DISTRICT_ENTITY_ID:
                raise ApiError(404, f"entity {entity} is not served; entity {DISTRICT_ENTITY_ID} is the district")
            if object_path not in state.roster.generated:
                raise ApiError(404, f"there is no object {object_path!r}")
            page = _positive(params["page"], "page")
            size = min(_positive(params["page_size"], "pageSize"), state.settings.max_page_size)
            wanted = _selected_fields(request, state.roster.field_names(object_path))
            records = state.roster.page(object_path, (page - 1) * size, size, await _search(request, state.settings))
        except ApiError as error:
            return _message(error.status, str(error))
        if wanted:
            records = [{name: record.get(name) for name in wanted} for record in records]
        paging = {
            "Next": _page_path(entity, object_path, page + 1, size) if len(records) == size else None,
            "Previous": _page_path(entity, object_path, page - 1, size) if page > 1 else None,
            "Page": page,
            "PageSize": size,
        }
        return json_response({"Objects": records, "Paging": paging})

    routes = [
        Route(TOKEN_PATH, issue_token, methods=["GET", "POST"]),
        Route(LIST_PATH, list_objects, methods=["GET", "POST"]),
        *qmlativ_admin_routes(state),
    ]
    app = Starlette(routes=routes)
    app.state.simulator = state
    return app
