"""PowerSchool's error body: `{"message": ...}`, sometimes naming the `resource` and `field` at fault."""

from starlette.responses import Response

from sis_simulators.oneroster_app import json_response

RECORD_NOT_FOUND = "Record not found"


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, *, resource: str | None = None, field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.resource, self.field, self.headers = status, message, resource, field, headers

    def response(self) -> Response:
        body = {"message": self.message}
        if self.resource:
            body["resource"] = self.resource
        if self.field:
            body["field"] = self.field
        return json_response(body, self.status, self.headers)
