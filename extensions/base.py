"""What the extensions that call the platform api share: the app's one client, and the REST
handlers' request bodies, error shape and relaying.

Errors have the platform api's shape, ``{"error": {"status", "code", "message"}}``: a handler
raises :class:`HandlerError` (or lets :class:`ApiAnswer` pass the api's own error on) and
:meth:`PlatformHandler.write_error` writes it; so does every other error of the request,
including the 403 of ``@authorized`` and the 500 of a bug (without its traceback).

Every REST handler is ``@web.authenticated`` and ``@authorized`` with its ``auth_resource``
(jupyter_server's extension example, ``examples/simple/simple_ext1/handlers.py``); the
README's "Permissions" table lists each resource.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http.client import responses
from typing import Any, ClassVar, NamedTuple, TypeVar, cast

import httpx
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.extension.handler import ExtensionHandlerMixin
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError
from tornado import web
from traitlets import Float

from .platform_client import ApiUnavailable, PlatformApi

Body = TypeVar("Body", bound="RequestBody")
Method = TypeVar("Method", bound=Callable[..., Any])


def authorized_for(action: str, resource: str | None = None) -> Callable[[Method], Method]:
    """``@authorized(action, resource)`` (the handler's ``auth_resource`` when None), typed:
    for a second permission a handler needs, or an action its HTTP method does not imply."""
    return cast("Callable[[Method], Method]", authorized(action, resource=resource))


class PlatformExtensionApp(ExtensionApp):
    """A server extension with one client to the platform api, closed with the server."""

    api_timeout = Float(
        30.0, config=True, help="Seconds to wait for the platform api before answering 504."
    )

    def initialize_settings(self) -> None:
        self.platform = PlatformApi(timeout=self.api_timeout)
        self.log.info("%s: api %s", self.name, self.platform.describe())

    async def stop_extension(self) -> None:
        await self.platform.aclose()


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message}}


class HandlerError(web.HTTPError):
    """Answer the request with this error, in the platform's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, "%s", message)
        self.code = code
        self.message = message


class ApiAnswer(web.HTTPError):
    """The api answered with an error: pass its status and body on unchanged."""

    def __init__(self, status: int, payload: Any) -> None:
        super().__init__(status, "the platform api answered %s", status)
        self.payload = payload


class BodyProblem(NamedTuple):
    """How to answer a request body that is wrong in one way."""

    status: int
    code: str
    message: str

    def error(self) -> HandlerError:
        return HandlerError(self.status, self.code, self.message)


def body_problem(status: int, code: str, message: str) -> PydanticCustomError:
    """Raise this from a validator for an answer of its own (e.g. 413 for a long prompt)."""
    return PydanticCustomError(code, message, {"status": status})


class RequestBody(BaseModel):
    """A JSON request body, checked by pydantic (strict types: ``"3"`` is no number).

    ``problems`` says how to answer a wrong field, with a message a person can act on; a
    field missing from it gets ``invalid_status`` and pydantic's own words.
    """

    model_config = ConfigDict(strict=True)

    problems: ClassVar[dict[str, BodyProblem]] = {}
    invalid_status: ClassVar[int] = 400

    @classmethod
    def parse(cls: type[Body], raw: bytes) -> Body:
        """The body, or :class:`HandlerError` saying the first thing wrong with it."""
        try:
            return cls.model_validate_json(raw or b"null")
        except ValidationError as exc:
            raise cls.problem_of(exc.errors()[0]).error() from None

    @classmethod
    def problem_of(cls, error: ErrorDetails) -> BodyProblem:
        kind, location, context = error["type"], error["loc"], error.get("ctx", {})
        if kind == "json_invalid":
            detail = context.get("error") or error["msg"]
            message = f"The request body is not valid JSON: {detail}."
            return BodyProblem(400, "invalid_json", message)
        if not location:
            return BodyProblem(400, "invalid_body", "The request body must be a JSON object.")
        if isinstance(context.get("status"), int):  # from body_problem()
            return BodyProblem(context["status"], kind, error["msg"])
        field = str(location[0])
        if field in cls.problems:
            return cls.problems[field]
        where = ".".join(str(part) for part in location)
        return BodyProblem(cls.invalid_status, "invalid_body", f"{where}: {error['msg']}.")


class PlatformHandler(ExtensionHandlerMixin, APIHandler):
    """A REST handler of an extension that calls the platform api as the server's user."""

    @property
    def platform(self) -> PlatformApi:
        return cast("PlatformExtensionApp", self.extensionapp).platform

    def body(self, model: type[Body]) -> Body:
        return model.parse(self.request.body)

    def answer(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))

    def api_unavailable(self, exc: ApiUnavailable) -> HandlerError:
        """The error to raise when the api gave no answer (subclasses also note it)."""
        return HandlerError(exc.status, exc.code, exc.message)

    async def call_api(
        self, method: str, path: str, *, json: Any = None, seconds: float | None = None
    ) -> httpx.Response:
        try:
            return await self.platform.request(method, path, json=json, seconds=seconds)
        except ApiUnavailable as exc:
            raise self.api_unavailable(exc) from exc

    async def api_json(
        self, method: str, path: str, *, json: Any = None, seconds: float | None = None
    ) -> Any:
        """The api's JSON answer on success; its error answers the request otherwise."""
        response = await self.call_api(method, path, json=json, seconds=seconds)
        payload = api_payload(response)
        if response.status_code >= 400:
            raise ApiAnswer(response.status_code, payload)
        return payload

    async def relay(
        self, method: str, path: str, *, json: Any = None, seconds: float | None = None
    ) -> None:
        """Pass the api's answer on as it is: status and JSON body (or no body for 204)."""
        self.relay_response(await self.call_api(method, path, json=json, seconds=seconds))

    def relay_response(self, response: httpx.Response) -> None:
        if response.status_code == 204:
            self.set_status(204)
            self.finish()
            return
        self.answer(api_payload(response), response.status_code)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiAnswer):
            payload = exc.payload
        elif isinstance(exc, HandlerError):
            payload = error_body(status_code, exc.code, exc.message)
        elif isinstance(exc, web.HTTPError):
            reason = responses.get(status_code, "error")
            message = (exc.log_message % exc.args) if exc.log_message else reason
            payload = error_body(status_code, reason.lower().replace(" ", "_"), message)
        else:
            payload = error_body(
                status_code,
                "internal_error",
                "The server could not answer this request; its log says why.",
            )
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))


def api_payload(response: httpx.Response) -> Any:
    """The api's JSON; an answer without JSON is an error of its own (502)."""
    try:
        return response.json()
    except ValueError:
        raise HandlerError(
            502,
            "bad_api_response",
            f"The platform api answered {response.status_code} without JSON.",
        ) from None
