"""The api's exception hierarchy and the handlers that turn errors into JSON.

Domain code raises ``ApiError`` subclasses; only these handlers know about HTTP responses.
Every error body has the same shape::

    {"error": {"status": 422, "code": "invalid_request", "message": "...", "fields": [...]}}
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

# What PostgreSQL answers when concurrent transactions collide: a retry succeeds.
CONTENTION = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class ApiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class NotAuthenticated(ApiError):
    status = 401
    code = "not_authenticated"


class LoginRequired(NotAuthenticated):
    """A browser without a session: answered with a redirect to the hub's OAuth login."""

    def __init__(self, message: str, login_url: str) -> None:
        super().__init__(message)
        self.login_url = login_url


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class InvalidInput(ApiError):
    """Input that parsed but cannot be used; ``fields`` says where (e.g. ``line 3``)."""

    status = 422
    code = "invalid_request"

    @classmethod
    def at(cls, field: str, message: str) -> InvalidInput:
        """The message, shown at one field of a form."""
        return cls(message, fields=[{"field": field, "message": message}])


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"


class HubUnavailable(ApiError):
    status = 503
    code = "hub_unavailable"


def error_body(status: int, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message, **extra}}


def _json(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        error_body(status, code, message, **extra), status_code=status, headers=headers
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    fields = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            # FastAPI reports the character offset as the "location": say it in words.
            position = [p for p in error.get("loc", ()) if isinstance(p, int)]
            reason = error.get("ctx", {}).get("error", "")
            where = f" at character {position[0]}" if position else ""
            fields.append(
                {
                    "field": "body",
                    "message": f"The request body is not valid JSON ({reason}{where}).",
                }
            )
            continue
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        fields.append({"field": ".".join(location) or "body", "message": message})
    return fields


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.login_url, status_code=302)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        extra = {"fields": exc.fields} if exc.fields else {}
        return _json(exc.status, exc.code, exc.message, **extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = f"Nothing at {request.url.path}. See the API docs under /services/api/docs."
        return _json(exc.status_code, _HTTP_CODES.get(exc.status_code, "error"), message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        fields = _field_errors(exc)
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return _json(422, "invalid_request", f"The request is not valid: {summary}", fields=fields)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        if isinstance(exc.orig, CONTENTION):
            # Two people changed the same rows at once and PostgreSQL stopped one of them;
            # nothing of theirs was kept, and trying again works.
            log.info("%s %s lost a race: %s", request.method, request.url.path, exc.orig)
            return _json(
                503,
                "busy",
                "Someone changed the same thing at the same moment; nothing was saved. Try again.",
            )
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _json(
            500,
            "internal_error",
            "Something went wrong on our side; the error was logged. Try again later.",
        )
