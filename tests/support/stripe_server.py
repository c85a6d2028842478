"""A Stripe for the tests: localstripe, and a stand-in in front of it for what it lacks.

``stripe_servers()`` starts two aiohttp servers on loopback in one background thread
(each with its own port, both on that thread's event loop):

* **localstripe** (the real package, its own app and routes) keeps customers, products,
  legacy plans, subscriptions, invoices, payment methods, payment intents, charges and
  refunds. Its command line binds every interface, so its app runs here on 127.0.0.1.
* **the stand-in** is the one address the platform is given (``api_base``). It speaks
  Stripe's real request and response shapes (form-encoded bodies as stripe-python sends
  them, JSON objects with ``object``, ``id``, ``livemode`` and ``created``, errors as
  ``{"error": {"type": "invalid_request_error", "message": ..., "param": ...}}``) for
  exactly the endpoints localstripe lacks, and forwards every other request (method, path,
  query, body, ``Authorization``) to localstripe, answering what localstripe answered:

  - Prices: ``POST/GET /v1/prices``, ``GET/POST /v1/prices/<id>``. A recurring price is
    also made a localstripe Plan with the same id, so localstripe's subscriptions can use
    it; a one-off price lives in the stand-in only.
  - Checkout: ``POST/GET /v1/checkout/sessions``, ``GET /v1/checkout/sessions/<id>``,
    ``.../line_items`` and ``.../expire``; the hosted page ``GET/POST /checkout/<id>``
    pays (a card payment method, then a subscription or a payment intent in localstripe),
    sends ``checkout.session.completed`` and only then redirects to ``success_url``.
  - The customer portal: ``POST /v1/billing_portal/sessions`` and the page
    ``/portal/<id>`` (cancel at period end, resume, cancel now, change plan, quantity).
  - Meter events: ``POST /v1/billing/meter_events``, kept once per ``identifier``.
  - The events localstripe never sends: ``customer.subscription.updated`` after every
    subscription update (through the API or the portal, with ``previous_attributes``),
    ``charge.refunded`` after every refund (the charge re-fetched).
  - Stripe's modern subscription shape on everything forwarded: each item carries
    ``price`` (the stand-in's price for its plan) and ``current_period_start/end``;
    ``items[i][price]`` is accepted where localstripe wants ``items[i][plan]``.
  - ``Idempotency-Key`` on every write, the stand-in's and the forwarded ones: a repeat
    answers the first answer and does nothing again.

Every webhook the platform receives comes from the stand-in, signed with
``webhook_secret`` in Stripe's ``t=...,v1=...`` header (stripe-python's own
``WebhookSignature``): its own events, and localstripe's, which localstripe delivers to
the stand-in and the stand-in relays with the subscription shape above. ``deliveries()``
lists them with the HTTP status the receiver answered.

Where localstripe differs from Stripe and the stand-in corrects it: a subscription
created with ``trial_period_days`` stays ``incomplete`` without a trial end in
localstripe; the stand-in makes it ``trialing`` with ``trial_start``/``trial_end`` and the
trial as its current period, as Stripe does.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import secrets
import socket
import string
import threading
import time
import urllib.parse
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import aiohttp
import stripe
from aiohttp import web
from multidict import MultiDict

with warnings.catch_warnings():
    # localstripe registers plain-function handlers, which aiohttp deprecates, on import.
    warnings.simplefilter("ignore", DeprecationWarning)
    import localstripe.resources as localstripe_resources  # type: ignore[import-untyped]
    import localstripe.server as localstripe_server  # type: ignore[import-untyped]
    import localstripe.webhooks as localstripe_webhooks  # type: ignore[import-untyped]

HOST = "127.0.0.1"
API_VERSION = str(stripe.api_version)
RELAY_PATH = "/_standin/localstripe-events"
# Stripe accepts a meter event up to 35 days old and up to 5 minutes ahead.
METER_PAST_SECONDS = 35 * 86400
METER_FUTURE_SECONDS = 300
# The fields localstripe's Subscription._update takes; others would crash it (a 500).
_LOCALSTRIPE_UPDATE_FIELDS = {
    "metadata",
    "items",
    "trial_end",
    "default_tax_rates",
    "tax_percent",
    "plan",
    "quantity",
    "prorate",
    "proration_date",
    "cancel_at_period_end",
    "cancel_at",
    "enable_incomplete_payments",
    "expand",
}
# Stripe parameters about invoicing a change that localstripe has no notion of.
_IGNORED_UPDATE_FIELDS = {"proration_behavior", "payment_behavior"}
_ALNUM = string.ascii_letters + string.digits
T = TypeVar("T")
Json = dict[str, Any]
Pairs = list[tuple[str, str]]

_one_at_a_time = threading.Lock()


def _random_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def _now() -> int:
    return int(time.time())


class StripeError(Exception):
    """An error answered in Stripe's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"error": {"type": type, "message": message}}
        if param is not None:
            self.body["error"]["param"] = param
        if code is not None:
            self.body["error"]["code"] = code

    def response(self) -> web.Response:
        return _json(self.body, status=self.status)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, indent=2) + "\n",
        status=status,
        content_type="application/json",
        headers={"Request-Id": _random_id("req_", 14)},
    )


def _missing(param: str) -> StripeError:
    return StripeError(400, f"Missing required param: {param}.", param=param)


def _no_such(kind: str, value: str, param: str | None) -> StripeError:
    return StripeError(
        404 if param is None else 400,
        f"No such {kind}: '{value}'",
        param=param,
        code="resource_missing",
    )


def _pairs(raw: bytes) -> Pairs:
    return urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True)


def _tree(pairs: Pairs) -> Json:
    """Stripe's ``a[b][0][c]=v`` form, nested (localstripe's own decoder)."""
    if not pairs:
        return {}
    return cast(Json, localstripe_server.unflatten_data(MultiDict(pairs)))


def _encode(params: Mapping[str, Any], prefix: str = "") -> Pairs:
    """``params`` as the form pairs stripe-python would send."""
    out: Pairs = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            out += _encode(value, name)
        elif isinstance(value, list | tuple):
            for index, entry in enumerate(value):
                if isinstance(entry, Mapping):
                    out += _encode(entry, f"{name}[{index}]")
                else:
                    out.append((f"{name}[{index}]", _scalar(entry)))
        else:
            out.append((name, _scalar(value)))
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Stripe's boolean parameters among those localstripe keeps.
_BOOLEAN_PARAMS = {
    "active",
    "cancel_at_period_end",
    "capture",
    "confirm",
    "enable_incomplete_payments",
    "off_session",
    "prorate",
    "shippable",
    "success",
    "trial_from_plan",
}


def _with_booleans(value: Any, key: str = "") -> Any:
    """A decoded form with ``true``/``false`` as booleans where Stripe means a flag."""
    if isinstance(value, dict):
        if key == "metadata":
            return value
        return {k: _with_booleans(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_booleans(v, key) for v in value]
    if key in _BOOLEAN_PARAMS and value in ("true", "false"):
        return value == "true"
    return value


def _as_bool(value: Any, param: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise StripeError(400, f"Invalid boolean: {value}", param=param)


def _as_int(value: Any, param: str, minimum: int | None = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {value}", param=param) from None
    if minimum is not None and number < minimum:
        raise StripeError(
            400, f"This value must be greater than or equal to {minimum}.", param=param
        )
    return number


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):  # {"0": ..., "2": ...} with gaps
        return [value[key] for key in sorted(value, key=int)]
    return [value]


def _merge_metadata(current: Json, update: Any, param: str = "metadata") -> Json:
    if update is None:
        return current
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise StripeError(400, "Invalid object", param=param)
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def _list(data: list[Json], url: str, has_more: bool = False) -> Json:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _page(items: list[Json], query: Json, url: str) -> Json:
    limit = _as_int(query.get("limit", 10), "limit", minimum=1)
    if limit > 100:
        raise StripeError(400, "This value must be less than or equal to 100.", param="limit")
    after = query.get("starting_after")
    before = query.get("ending_before")
    ids = [item["id"] for item in items]
    if after:
        if after not in ids:
            raise _no_such("object", str(after), "starting_after")
        items = items[ids.index(after) + 1 :]
    elif before:
        if before not in ids:
            raise _no_such("object", str(before), "ending_before")
        items = items[: ids.index(before)][-limit:]
    return _list(items[:limit], url, has_more=len(items) > limit)


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:,.2f} {currency.upper()}"


def _every(recurring: Json | None) -> str:
    if not recurring:
        return ""
    count = int(recurring.get("interval_count") or 1)
    interval = str(recurring["interval"])
    return f" / {interval}" if count == 1 else f" every {count} {interval}s"


def _page_html(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;"
        "padding:0 1rem}label{display:block;margin-top:1rem}input,select{font-size:1rem}"
        "button{margin-top:1rem;font-size:1rem}section{border-top:1px solid #ccc;"
        "padding:.5rem 0}.error{color:#b00020}</style></head>\n"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


@dataclass
class _Checkout:
    """What a session keeps beyond its public object."""

    line_items: list[Json]
    subscription_data: Json
    payment_intent_data: Json
    customer_creation: str | None


@dataclass
class _Replay:
    fingerprint: tuple[str, str, bytes]
    status: int
    body: bytes
    content_type: str


class StandIn:
    """The stand-in's state and its aiohttp app; lives on the servers' event loop."""

    def __init__(self, localstripe_base: str, secret_key: str, webhook_secret: str) -> None:
        self.localstripe_base = localstripe_base
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.api_base = ""
        self.webhook_url: str | None = None
        self.webhook_events: set[str] | None = None
        self._lock = threading.Lock()
        self._http: aiohttp.ClientSession | None = None
        self._clear()

    def _clear(self) -> None:
        with self._lock:
            self.prices: dict[str, Json] = {}
            self.sessions: dict[str, Json] = {}
            self.checkouts: dict[str, _Checkout] = {}
            self.portals: dict[str, Json] = {}
            self.meter_events: list[Json] = []
            self.meter_identifiers: dict[str, Json] = {}
            self.events: dict[str, Json] = {}
            self.deliveries: list[Json] = []
            self.replays: dict[tuple[str, str], _Replay] = {}
            self.replay_locks: dict[tuple[str, str], asyncio.Lock] = {}

    # -- the app --------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors, self._idempotency])
        add = app.router.add_route
        add("POST", "/v1/prices", self.create_price)
        add("GET", "/v1/prices", self.list_prices)
        add("GET", "/v1/prices/{id}", self.retrieve_price)
        add("POST", "/v1/prices/{id}", self.update_price)
        add("POST", "/v1/checkout/sessions", self.create_session)
        add("GET", "/v1/checkout/sessions", self.list_sessions)
        add("GET", "/v1/checkout/sessions/{id}", self.retrieve_session)
        add("GET", "/v1/checkout/sessions/{id}/line_items", self.session_line_items)
        add("POST", "/v1/checkout/sessions/{id}/expire", self.expire_session)
        add("POST", "/v1/billing_portal/sessions", self.create_portal)
        add("POST", "/v1/billing/meter_events", self.create_meter_event)
        add("POST", "/v1/subscriptions", self.create_subscription)
        add("POST", "/v1/customers/{customer}/subscriptions", self.create_subscription)
        add("POST", "/v1/subscriptions/{id}", self.update_subscription)
        add("POST", "/v1/customers/{customer}/subscriptions/{id}", self.update_subscription)
        add("POST", "/v1/refunds", self.create_refund)
        add("GET", "/v1/events/{id}", self.retrieve_event)
        add("GET", "/checkout/{id}", self.checkout_page)
        add("POST", "/checkout/{id}", self.checkout_submit)
        add("GET", "/portal/{id}", self.portal_page)
        add("POST", "/portal/{id}/subscriptions/{subscription}", self.portal_action)
        add("POST", RELAY_PATH, self.relay)
        add("*", "/{tail:.*}", self.forward)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, app: web.Application) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))

    async def _close(self, app: web.Application) -> None:
        if self._http is not None:
            await self._http.close()

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "the stand-in is not running"
        return self._http

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except StripeError as exc:
            return exc.response()

    @web.middleware
    async def _idempotency(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if not key or request.method not in ("POST", "DELETE"):
            return await handler(request)
        if not request.path.startswith("/v1/"):
            return await handler(request)
        scope = (request.headers.get("Authorization", ""), key)
        fingerprint = (request.method, request.path_qs, await request.read())
        lock = self.replay_locks.setdefault(scope, asyncio.Lock())
        async with lock:
            replay = self.replays.get(scope)
            if replay is not None:
                if replay.fingerprint != fingerprint:
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                        type="idempotency_error",
                    )
                return web.Response(
                    body=replay.body,
                    status=replay.status,
                    content_type=replay.content_type,
                    headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
                )
            try:
                response = await handler(request)
            except StripeError as exc:
                response = exc.response()
            if isinstance(response, web.Response) and response.status < 500:
                body = response.body
                self.replays[scope] = _Replay(
                    fingerprint,
                    response.status,
                    body if isinstance(body, bytes) else b"",
                    response.content_type,
                )
            return response

    # -- talking to localstripe -----------------------------------------------------

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: bytes = b"",
        authorization: str | None = None,
    ) -> tuple[int, bytes, str]:
        """One raw request to localstripe: its status, body and content type.

        A form body goes as JSON with Stripe's boolean flags as booleans: localstripe
        stores an updated ``active=false`` as the (true) string "false" otherwise."""
        url = self.localstripe_base + path + (f"?{query}" if query else "")
        headers = {"Authorization": authorization or f"Bearer {self.secret_key}"}
        if body and not path.startswith("/_config/"):
            body = json.dumps(_with_booleans(_tree(_pairs(body)))).encode()
            headers["Content-Type"] = "application/json"
        elif body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with self.http.request(method, url, data=body or None, headers=headers) as reply:
            return reply.status, await reply.read(), reply.content_type

    async def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | Pairs | None = None,
        authorization: str | None = None,
    ) -> Json:
        """A localstripe request that must succeed; its object, in the modern shape."""
        status, body = await self.try_call(method, path, params, authorization)
        if status >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise StripeError(
                status,
                str(error.get("message") or f"localstripe answered {status}"),
                param=error.get("param"),
                code=error.get("code"),
                type=str(error.get("type") or "invalid_request_error"),
            )
        return body

    async def try_call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | Pairs | None = None,
        authorization: str | None = None,
    ) -> tuple[int, Json]:
        pairs = _encode(params) if isinstance(params, Mapping) else (params or [])
        encoded = urllib.parse.urlencode(pairs)
        if method == "GET":
            status, raw, _ = await self.send(
                method, path, query=encoded, authorization=authorization
            )
        else:
            status, raw, _ = await self.send(
                method, path, body=encoded.encode(), authorization=authorization
            )
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"error": {"type": "api_error", "message": raw.decode(errors="replace")}}
        return status, self.modern(body)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        """Any request the stand-in does not answer itself: localstripe's answer."""
        return await self._forward(request, await request.read())

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        status, raw, content_type = await self.send(
            request.method,
            request.path,
            query=request.query_string,
            body=body,
            authorization=request.headers.get("Authorization"),
        )
        if content_type != "application/json":
            return web.Response(body=raw, status=status, content_type=content_type)
        expand = [str(path) for path in _as_list(_tree(list(request.query.items())).get("expand"))]
        if body:
            expand += [str(path) for path in _as_list(_tree(_pairs(body)).get("expand"))]
        return _json(self.modern(json.loads(raw), expand), status=status)

    def _authorized(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        key = credentials
        if scheme == "Basic":
            import base64

            key = base64.b64decode(credentials).decode().partition(":")[0]
        if scheme not in ("Bearer", "Basic") or not key.startswith("sk_") or len(key) <= 5:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth.",
            )
        return header

    async def _form(self, request: web.Request) -> Json:
        self._authorized(request)
        return _tree(_pairs(await request.read()))

    # -- Stripe's modern shape on localstripe's objects --------------------------------

    def modern(self, value: Any, expand: list[str] | None = None) -> Any:
        """localstripe's objects with what Stripe's carry today (in place; returned)."""
        if isinstance(value, list):
            for entry in value:
                self.modern(entry, expand)
        elif isinstance(value, dict):
            for entry in value.values():
                self.modern(entry, expand)
            kind = value.get("object")
            if kind == "subscription":
                self._modern_subscription(value)
            plan = value.get("plan")
            if (
                kind in ("subscription_item", "line_item", "invoiceitem")
                and isinstance(plan, dict)
                and plan.get("object") == "plan"
                and "price" not in value
            ):
                value["price"] = self.price_of_plan(plan)
            charge = value.get("latest_charge")
            unexpanded = "latest_charge" not in (expand or [])
            if kind == "payment_intent" and isinstance(charge, dict) and unexpanded:
                value["latest_charge"] = charge["id"]
        return value

    def _modern_subscription(self, sub: Json) -> None:
        days = sub.get("trial_period_days")
        if days:
            start = int(sub.get("trial_start") or sub.get("start_date") or sub["created"])
            if sub.get("trial_end") is None:
                sub["trial_start"] = start
                sub["trial_end"] = start + int(days) * 86400
            # localstripe leaves a trial without an invoice "incomplete".
            if sub.get("status") == "incomplete" and not sub.get("latest_invoice"):
                sub["status"] = "trialing"
        if sub.get("status") == "trialing" and sub.get("trial_end"):
            sub["current_period_start"] = sub.get("trial_start") or sub.get("start_date")
            sub["current_period_end"] = sub["trial_end"]
        items = sub.get("items")
        if isinstance(items, dict):
            for item in items.get("data") or []:
                item.setdefault("subscription", sub["id"])
                item.setdefault("current_period_start", sub.get("current_period_start"))
                item.setdefault("current_period_end", sub.get("current_period_end"))
                if sub.get("status") == "trialing":
                    item["current_period_start"] = sub.get("current_period_start")
                    item["current_period_end"] = sub.get("current_period_end")

    def price_of_plan(self, plan: Json) -> Json:
        """The stand-in's price with the plan's id, or the price a plan is in Stripe."""
        with self._lock:
            price = self.prices.get(str(plan.get("id")))
            if price is not None:
                return json.loads(json.dumps(price))  # type: ignore[no-any-return]
        return {
            "id": plan["id"],
            "object": "price",
            "active": plan.get("active", True),
            "billing_scheme": plan.get("billing_scheme", "per_unit"),
            "created": plan.get("created"),
            "currency": plan.get("currency"),
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": plan.get("metadata") or {},
            "nickname": plan.get("nickname"),
            "product": plan.get("product"),
            "recurring": {
                "interval": plan.get("interval"),
                "interval_count": plan.get("interval_count", 1),
                "meter": None,
                "trial_period_days": plan.get("trial_period_days"),
                "usage_type": plan.get("usage_type", "licensed"),
            },
            "tax_behavior": "unspecified",
            "tiers_mode": plan.get("tiers_mode"),
            "transform_quantity": None,
            "type": "recurring",
            "unit_amount": plan.get("amount"),
            "unit_amount_decimal": str(plan.get("amount")),
        }

    # -- prices -----------------------------------------------------------------------

    async def create_price(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        product = form.get("product")
        product_data = form.get("product_data")
        if product and product_data:
            raise StripeError(
                400, "You may only specify one of these parameters: product, product_data."
            )
        if isinstance(product_data, dict):
            product = (await self.call("POST", "/v1/products", product_data))["id"]
        if not product:
            raise _missing("product")
        status, _ = await self.try_call("GET", f"/v1/products/{product}")
        if status == 404:
            raise _no_such("product", str(product), "product")
        currency = form.get("currency")
        if not currency:
            raise _missing("currency")
        if "unit_amount" in form:
            unit_amount = _as_int(form["unit_amount"], "unit_amount")
        elif "unit_amount_decimal" in form:
            unit_amount = _as_int(float(form["unit_amount_decimal"]), "unit_amount_decimal")
        else:
            raise _missing("unit_amount")
        recurring = form.get("recurring")
        if recurring is not None:
            if not isinstance(recurring, dict) or recurring.get("interval") not in (
                "day",
                "week",
                "month",
                "year",
            ):
                raise StripeError(
                    400,
                    "Invalid recurring[interval]: must be one of day, week, month, or year",
                    param="recurring[interval]",
                )
            usage_type = recurring.get("usage_type", "licensed")
            if usage_type not in ("licensed", "metered"):
                raise StripeError(
                    400,
                    "Invalid recurring[usage_type]: must be one of licensed or metered",
                    param="recurring[usage_type]",
                )
            recurring = {
                "interval": recurring["interval"],
                "interval_count": _as_int(
                    recurring.get("interval_count", 1), "recurring[interval_count]", 1
                ),
                "meter": recurring.get("meter"),
                "trial_period_days": None,
                "usage_type": usage_type,
            }
        lookup_key = form.get("lookup_key") or None
        transfer = _as_bool(form.get("transfer_lookup_key", False), "transfer_lookup_key")
        price: Json = {
            "id": _random_id("price_"),
            "object": "price",
            "active": _as_bool(form.get("active", True), "active"),
            "billing_scheme": "per_unit",
            "created": _now(),
            "currency": str(currency).lower(),
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": _merge_metadata({}, form.get("metadata")),
            "nickname": form.get("nickname") or None,
            "product": product,
            "recurring": recurring,
            "tax_behavior": form.get("tax_behavior", "unspecified"),
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        self._claim_lookup_key(price, lookup_key, transfer)
        if recurring:
            await self.call(
                "POST",
                "/v1/plans",
                {
                    "id": price["id"],
                    "amount": unit_amount,
                    "currency": price["currency"],
                    "interval": recurring["interval"],
                    "interval_count": recurring["interval_count"],
                    "product": product,
                    "nickname": price["nickname"],
                    "usage_type": recurring["usage_type"],
                    "active": price["active"],
                    "metadata": price["metadata"] or None,
                },
            )
        with self._lock:
            if lookup_key:
                for other in self.prices.values():
                    if other["lookup_key"] == lookup_key:
                        other["lookup_key"] = None
            price["lookup_key"] = lookup_key
            self.prices[price["id"]] = price
        return _json(await self._expand_price(price, form))

    def _claim_lookup_key(self, price: Json, lookup_key: str | None, transfer: bool) -> None:
        if not lookup_key:
            return
        with self._lock:
            holder = next(
                (
                    other
                    for other in self.prices.values()
                    if other["lookup_key"] == lookup_key and other["id"] != price["id"]
                ),
                None,
            )
        if holder is not None and not transfer:
            raise StripeError(
                400,
                f"A price (`{holder['id']}`) already uses that lookup key.",
                param="lookup_key",
            )

    async def _expand_price(self, price: Json, form: Json) -> Json:
        price = json.loads(json.dumps(price))
        paths = {str(path) for path in _as_list(form.get("expand"))}
        if "product" in paths or "data.product" in paths:
            price["product"] = await self.call("GET", f"/v1/products/{price['product']}")
        return price

    def _price(self, price_id: str, param: str | None = None) -> Json:
        with self._lock:
            price = self.prices.get(price_id)
        if price is None:
            raise _no_such("price", price_id, param)
        return price

    async def retrieve_price(self, request: web.Request) -> web.StreamResponse:
        form = {**(await self._form(request)), **_tree(list(request.query.items()))}
        return _json(await self._expand_price(self._price(request.match_info["id"]), form))

    async def update_price(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        price = self._price(request.match_info["id"])
        unknown = set(form) - {
            "active",
            "metadata",
            "nickname",
            "lookup_key",
            "transfer_lookup_key",
            "tax_behavior",
            "expand",
        }
        if unknown:
            name = sorted(unknown)[0]
            raise StripeError(400, f"Received unknown parameter: {name}", param=name)
        transfer = _as_bool(form.get("transfer_lookup_key", False), "transfer_lookup_key")
        lookup_key = form.get("lookup_key")
        if lookup_key:
            self._claim_lookup_key(price, lookup_key, transfer)
        with self._lock:
            if "active" in form:
                price["active"] = _as_bool(form["active"], "active")
            if "nickname" in form:
                price["nickname"] = form["nickname"] or None
            if "tax_behavior" in form:
                price["tax_behavior"] = form["tax_behavior"]
            price["metadata"] = _merge_metadata(price["metadata"], form.get("metadata"))
            if lookup_key is not None:
                for other in self.prices.values():
                    if lookup_key and other["lookup_key"] == lookup_key:
                        other["lookup_key"] = None
                price["lookup_key"] = lookup_key or None
        if price["recurring"] and ("active" in form or "nickname" in form):
            await self.call(
                "POST",
                f"/v1/plans/{price['id']}",
                {"active": price["active"], "nickname": price["nickname"] or ""},
            )
        return _json(await self._expand_price(price, form))

    async def list_prices(self, request: web.Request) -> web.StreamResponse:
        self._authorized(request)
        query = _tree(list(request.query.items()))
        with self._lock:
            prices = sorted(self.prices.values(), key=lambda p: p["created"], reverse=True)
        if "active" in query:
            active = _as_bool(query["active"], "active")
            prices = [p for p in prices if p["active"] == active]
        if query.get("product"):
            prices = [p for p in prices if p["product"] == query["product"]]
        if query.get("currency"):
            prices = [p for p in prices if p["currency"] == str(query["currency"]).lower()]
        if query.get("type"):
            prices = [p for p in prices if p["type"] == query["type"]]
        if "lookup_keys" in query:
            keys = {str(key) for key in _as_list(query["lookup_keys"])}
            prices = [p for p in prices if p["lookup_key"] in keys]
        recurring = query.get("recurring")
        if isinstance(recurring, dict):
            for name in ("interval", "usage_type", "meter"):
                if name in recurring:
                    prices = [
                        p
                        for p in prices
                        if p["recurring"] and p["recurring"].get(name) == recurring[name]
                    ]
        page = _page(prices, query, "/v1/prices")
        expand = {str(path) for path in _as_list(query.get("expand"))}
        if "data.product" in expand:
            page["data"] = [
                await self._expand_price(p, {"expand": ["product"]}) for p in page["data"]
            ]
        else:
            page["data"] = json.loads(json.dumps(page["data"]))
        return _json(page)

    # -- checkout sessions --------------------------------------------------------------

    async def create_session(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        mode = form.get("mode")
        if not mode:
            raise _missing("mode")
        if mode not in ("payment", "subscription"):
            raise StripeError(
                400,
                f"Invalid mode: the stand-in supports payment and subscription, not {mode}",
                param="mode",
            )
        if not form.get("success_url"):
            raise _missing("success_url")
        customer = form.get("customer") or None
        customer_email = form.get("customer_email") or None
        if customer and customer_email:
            raise StripeError(
                400, "You may only specify one of these parameters: customer, customer_email."
            )
        email = None
        if customer:
            status, found = await self.try_call("GET", f"/v1/customers/{customer}")
            if status == 404:
                raise _no_such("customer", str(customer), "customer")
            email = found.get("email")
        entries = _as_list(form.get("line_items"))
        if not entries:
            raise _missing("line_items")
        line_items: list[Json] = []
        for index, entry in enumerate(entries):
            param = f"line_items[{index}][price]"
            if not isinstance(entry, dict) or not entry.get("price"):
                raise _missing(param)
            price = self._price(str(entry["price"]), param)
            if not price["active"]:
                raise StripeError(
                    400, f"The price specified is inactive: {price['id']}", param=param
                )
            if mode == "payment" and price["recurring"]:
                raise StripeError(
                    400,
                    "You specified `payment` mode but passed a recurring price. Either switch "
                    "to `subscription` mode or use only one-time prices.",
                    param=param,
                )
            quantity = _as_int(entry.get("quantity", 1), f"line_items[{index}][quantity]", 1)
            product = await self.call("GET", f"/v1/products/{price['product']}")
            subtotal = int(price["unit_amount"]) * quantity
            line_items.append(
                {
                    "id": _random_id("li_"),
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": subtotal,
                    "amount_tax": 0,
                    "amount_total": subtotal,
                    "currency": price["currency"],
                    "description": product.get("name"),
                    "price": json.loads(json.dumps(price)),
                    "quantity": quantity,
                }
            )
        currencies = {item["currency"] for item in line_items}
        if len(currencies) > 1:
            raise StripeError(400, "All prices must be in the same currency.", param="line_items")
        recurring = [item for item in line_items if item["price"]["recurring"]]
        if mode == "subscription" and not recurring:
            raise StripeError(
                400,
                "You must specify at least one recurring price in `subscription` mode.",
                param="line_items",
            )
        if mode == "subscription" and len(line_items) != 1:
            raise StripeError(
                400,
                "localstripe keeps one item per subscription: pass one line item.",
                param="line_items",
            )
        subscription_data = form.get("subscription_data") or {}
        payment_intent_data = form.get("payment_intent_data") or {}
        if mode != "subscription" and subscription_data:
            raise StripeError(
                400,
                "You can not pass `subscription_data` in `payment` mode.",
                param="subscription_data",
            )
        if mode != "payment" and payment_intent_data:
            raise StripeError(
                400,
                "You can not pass `payment_intent_data` in `subscription` mode.",
                param="payment_intent_data",
            )
        trial_days = subscription_data.get("trial_period_days")
        if trial_days is not None:
            trial_days = _as_int(trial_days, "subscription_data[trial_period_days]", 1)
            subscription_data["trial_period_days"] = trial_days
        subtotal = sum(int(item["amount_subtotal"]) for item in line_items)
        created = _now()
        session_id = _random_id("cs_test_", 58)
        session: Json = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": _as_bool(
                form.get("allow_promotion_codes", False), "allow_promotion_codes"
            ),
            "amount_subtotal": subtotal,
            "amount_total": 0 if trial_days else subtotal,
            "billing_address_collection": form.get("billing_address_collection"),
            "cancel_url": form.get("cancel_url"),
            "client_reference_id": form.get("client_reference_id"),
            "created": created,
            "currency": line_items[0]["currency"],
            "customer": customer,
            "customer_creation": None if customer else form.get("customer_creation"),
            "customer_details": {"email": email or customer_email}
            if (email or customer_email)
            else None,
            "customer_email": customer_email,
            "expires_at": created + 86400,
            "invoice": None,
            "livemode": False,
            "locale": form.get("locale"),
            "metadata": _merge_metadata({}, form.get("metadata")),
            "mode": mode,
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "submit_type": form.get("submit_type"),
            "subscription": None,
            "success_url": form["success_url"],
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"{self.api_base}/checkout/{session_id}",
        }
        with self._lock:
            self.sessions[session_id] = session
            self.checkouts[session_id] = _Checkout(
                line_items,
                subscription_data,
                payment_intent_data,
                form.get("customer_creation"),
            )
        return _json(session)

    def _session(self, session_id: str) -> Json:
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None:
                raise _no_such("checkout.session", session_id, None)
            return cast(Json, json.loads(json.dumps(session)))

    async def retrieve_session(self, request: web.Request) -> web.StreamResponse:
        self._authorized(request)
        session = self._session(request.match_info["id"])
        expand = {str(p) for p in _as_list(_tree(list(request.query.items())).get("expand"))}
        for name, path in (
            ("subscription", "/v1/subscriptions/"),
            ("payment_intent", "/v1/payment_intents/"),
            ("customer", "/v1/customers/"),
        ):
            if name in expand and session.get(name):
                session[name] = await self.call("GET", path + session[name])
        if "line_items" in expand:
            session["line_items"] = self._line_items(session["id"], {})
        return _json(session)

    def _line_items(self, session_id: str, query: Json) -> Json:
        with self._lock:
            items = json.loads(json.dumps(self.checkouts[session_id].line_items))
        return _page(items, query, f"/v1/checkout/sessions/{session_id}/line_items")

    async def session_line_items(self, request: web.Request) -> web.StreamResponse:
        self._authorized(request)
        session = self._session(request.match_info["id"])
        return _json(self._line_items(session["id"], _tree(list(request.query.items()))))

    async def list_sessions(self, request: web.Request) -> web.StreamResponse:
        self._authorized(request)
        query = _tree(list(request.query.items()))
        with self._lock:
            sessions = sorted(
                json.loads(json.dumps(list(self.sessions.values()))),
                key=lambda s: s["created"],
                reverse=True,
            )
        for name in ("customer", "payment_intent", "subscription", "status"):
            if query.get(name):
                sessions = [s for s in sessions if s.get(name) == query[name]]
        return _json(_page(sessions, query, "/v1/checkout/sessions"))

    async def expire_session(self, request: web.Request) -> web.StreamResponse:
        self._authorized(request)
        session_id = request.match_info["id"]
        self._session(session_id)
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] != "open":
                raise StripeError(
                    400,
                    f'Only Checkout Sessions with a status in ["open"] can be expired. '
                    f'This Checkout Session has a status of "{session["status"]}".',
                )
            session["status"] = "expired"
        return _json(self._session(session_id))

    async def checkout_page(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            session = self.sessions.get(request.match_info["id"])
        if session is None:
            raise web.HTTPNotFound(text="This checkout does not exist.")
        return self._checkout_html(self._session(session["id"]))

    def _checkout_html(
        self, session: Json, error: str | None = None, status: int = 200
    ) -> web.Response:
        with self._lock:
            checkout = self.checkouts[session["id"]]
        trial_days = checkout.subscription_data.get("trial_period_days")
        lines = []
        for item in checkout.line_items:
            price = item["price"]
            quantity = f" x {item['quantity']}" if item["quantity"] != 1 else ""
            product = html.escape(str(item["description"]))
            lines.append(
                f'<li class="line-item"><span class="product">{product}</span>'
                f'{html.escape(quantity)} — <span class="price">'
                f"{_money(int(price['unit_amount']), price['currency'])}"
                f"{html.escape(_every(price['recurring']))}</span></li>"
            )
        total = _money(int(session["amount_subtotal"]), session["currency"])
        body = [f"<h1>{html.escape(str(checkout.line_items[0]['description']))}</h1>"]
        body.append(f'<ul id="line-items">{"".join(lines)}</ul>')
        if trial_days:
            body.append(
                f'<p id="trial">{trial_days}-day free trial: nothing is charged today, then '
                f"{total}{html.escape(_every(checkout.line_items[0]['price']['recurring']))}.</p>"
            )
        else:
            body.append(f'<p id="total">Total due today: {total}</p>')
        if error:
            body.append(f'<p class="error" id="error" role="alert">{html.escape(error)}</p>')
        if session["status"] != "open":
            body.append(f'<p id="closed">This checkout is {html.escape(session["status"])}.</p>')
        else:
            fields = []
            if not session["customer"]:
                email = session["customer_email"] or ""
                fields.append(
                    '<label for="email">Email</label>'
                    f'<input id="email" name="email" type="email" value="{html.escape(email)}"'
                    f"{' readonly' if email else ''}>"
                )
            fields.append(
                '<label for="card-number">Card number</label>'
                '<input id="card-number" name="card_number" inputmode="numeric" '
                'autocomplete="cc-number" value="4242 4242 4242 4242">'
                '<label for="card-expiry">Expiry</label>'
                '<input id="card-expiry" name="card_expiry" value="12 / 34">'
                '<label for="card-cvc">CVC</label><input id="card-cvc" name="card_cvc" value="123">'
            )
            label = "Start trial" if trial_days else f"Pay {total}"
            body.append(
                f'<form id="payment-form" method="post" action="/checkout/{session["id"]}">'
                f'{"".join(fields)}<button id="pay" type="submit">{label}</button></form>'
            )
        if session.get("cancel_url"):
            body.append(
                f'<p><a id="cancel" href="{html.escape(session["cancel_url"])}">Cancel</a></p>'
            )
        return web.Response(
            text=_page_html("Checkout", "\n".join(body)), status=status, content_type="text/html"
        )

    async def checkout_submit(self, request: web.Request) -> web.StreamResponse:
        session_id = request.match_info["id"]
        with self._lock:
            known = session_id in self.sessions
        if not known:
            raise web.HTTPNotFound(text="This checkout does not exist.")
        session = self._session(session_id)
        if session["status"] == "complete":
            raise web.HTTPSeeOther(self._success_url(session))
        if session["status"] != "open":
            return self._checkout_html(session, f"This checkout is {session['status']}.", 410)
        form = await request.post()
        number = "".join(ch for ch in str(form.get("card_number", "")) if ch.isdigit())
        if len(number) != 16:
            return self._checkout_html(session, "Your card number is incomplete.", 400)
        try:
            if session["mode"] == "subscription":
                await self._complete_subscription(session, number, str(form.get("email") or ""))
            else:
                await self._complete_payment(session, number, str(form.get("email") or ""))
        except StripeError as exc:
            message = str(exc.body["error"].get("message") or "Your card was declined.")
            return self._checkout_html(self._session(session_id), message, 402)
        completed = self._session(session_id)
        await self.deliver("checkout.session.completed", completed)
        raise web.HTTPSeeOther(self._success_url(completed))

    def _success_url(self, session: Json) -> str:
        return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])

    async def _customer_for(self, session: Json, email: str, always: bool) -> str | None:
        if session["customer"]:
            return str(session["customer"])
        email = session["customer_email"] or email
        if not always:
            return None
        customer = await self.call("POST", "/v1/customers", {"email": email or None})
        return str(customer["id"])

    async def _card(self, number: str, customer: str | None) -> str:
        method = await self.call(
            "POST",
            "/v1/payment_methods",
            {
                "type": "card",
                "card": {
                    "number": number,
                    "exp_month": 12,
                    "exp_year": datetime.now(UTC).year + 5,
                    "cvc": "123",
                },
            },
        )
        if customer:
            await self.call(
                "POST", f"/v1/payment_methods/{method['id']}/attach", {"customer": customer}
            )
        return str(method["id"])

    async def _complete_subscription(self, session: Json, number: str, email: str) -> None:
        with self._lock:
            checkout = self.checkouts[session["id"]]
        customer = await self._customer_for(session, email, always=True)
        assert customer is not None
        method = await self._card(number, customer)
        await self.call(
            "POST",
            f"/v1/customers/{customer}",
            {"invoice_settings": {"default_payment_method": method}},
        )
        item = checkout.line_items[0]
        data = checkout.subscription_data
        subscription = await self.call(
            "POST",
            "/v1/subscriptions",
            {
                "customer": customer,
                "items": [{"plan": item["price"]["id"], "quantity": item["quantity"]}],
                "trial_period_days": data.get("trial_period_days"),
                "metadata": data.get("metadata") or None,
                "payment_behavior": "error_if_incomplete",
            },
        )
        self._start_trial(subscription)
        found = await self.call("GET", f"/v1/customers/{customer}")
        invoice = subscription.get("latest_invoice")
        with self._lock:
            stored = self.sessions[session["id"]]
            stored.update(
                status="complete",
                payment_status="no_payment_required" if not stored["amount_total"] else "paid",
                customer=customer,
                customer_details={"email": found.get("email")},
                subscription=subscription["id"],
                invoice=invoice["id"] if isinstance(invoice, dict) else invoice,
            )

    async def _complete_payment(self, session: Json, number: str, email: str) -> None:
        with self._lock:
            checkout = self.checkouts[session["id"]]
        customer = await self._customer_for(session, email, checkout.customer_creation == "always")
        method = await self._card(number, customer)
        intent = await self.call(
            "POST",
            "/v1/payment_intents",
            {
                "amount": session["amount_total"],
                "currency": session["currency"],
                "customer": customer,
                "payment_method": method,
                "confirm": True,
                "metadata": checkout.payment_intent_data.get("metadata") or None,
            },
        )
        if intent.get("status") != "succeeded":
            raise StripeError(402, "Your card was declined.", code="card_declined")
        with self._lock:
            self.sessions[session["id"]].update(
                status="complete",
                payment_status="paid",
                customer=customer,
                customer_details={"email": session["customer_email"] or email or None},
                payment_intent=intent["id"],
            )

    # -- subscriptions ------------------------------------------------------------------

    def _start_trial(self, subscription: Json) -> None:
        """Make localstripe's kept subscription trialing, as Stripe's is."""
        days = subscription.get("trial_period_days")
        kept = localstripe_resources.store.get(f"subscription:{subscription['id']}")
        if not days or kept is None or kept.status != "incomplete" or kept.latest_invoice:
            return
        kept.status = "trialing"
        kept.trial_start = kept.start_date
        kept.trial_end = kept.start_date + int(days) * 86400
        subscription.update(
            status="trialing", trial_start=kept.trial_start, trial_end=kept.trial_end
        )
        self.modern(subscription)

    @staticmethod
    def _plan_pairs(pairs: Pairs) -> Pairs:
        """Stripe's ``items[i][price]`` as localstripe's ``items[i][plan]``."""
        out = []
        for key, value in pairs:
            if key.startswith("items[") and key.endswith("][price]"):
                key = key[: -len("[price]")] + "[plan]"
            out.append((key, value))
        return out

    async def create_subscription(self, request: web.Request) -> web.StreamResponse:
        self._authorized(request)
        pairs = self._plan_pairs(_pairs(await request.read()))
        response = await self._forward(request, urllib.parse.urlencode(pairs).encode())
        if response.status == 200 and isinstance(response.text, str):
            subscription = json.loads(response.text)
            self._start_trial(subscription)
            return _json(subscription)
        return response

    async def update_subscription(self, request: web.Request) -> web.StreamResponse:
        authorization = self._authorized(request)
        pairs = _pairs(await request.read())
        return _json(
            await self.change_subscription(
                request.match_info["id"],
                pairs,
                authorization,
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        )

    async def change_subscription(
        self,
        subscription_id: str,
        pairs: Pairs,
        authorization: str | None = None,
        idempotency_key: str | None = None,
    ) -> Json:
        """Update a subscription in localstripe, then send ``customer.subscription.updated``."""
        status, before = await self.try_call(
            "GET", f"/v1/subscriptions/{subscription_id}", authorization=authorization
        )
        if status == 404:
            raise _no_such("subscription", subscription_id, None)
        pairs = [
            (k, v)
            for k, v in self._plan_pairs(pairs)
            if k.split("[")[0] not in _IGNORED_UPDATE_FIELDS
        ]
        for key, _ in pairs:
            name = key.split("[")[0]
            if name not in _LOCALSTRIPE_UPDATE_FIELDS:
                raise StripeError(
                    400,
                    f"localstripe cannot update `{name}` on a subscription.",
                    param=name,
                )
        tree = _tree(pairs)
        items = _as_list(tree.get("items"))
        current = {item["id"]: item for item in before["items"]["data"]}
        for index, item in enumerate(items):
            # localstripe resets a missing quantity to 1; Stripe keeps it.
            if isinstance(item, dict) and "quantity" not in item and item.get("id") in current:
                pairs.append((f"items[{index}][quantity]", str(current[item["id"]]["quantity"])))
            if isinstance(item, dict) and item.get("id") and item["id"] not in current:
                raise _no_such("subscription item", str(item["id"]), f"items[{index}][id]")
        after = await self.call(
            "POST", f"/v1/subscriptions/{subscription_id}", pairs, authorization
        )
        previous = {key: value for key, value in before.items() if after.get(key) != value}
        await self.deliver(
            "customer.subscription.updated",
            after,
            previous_attributes=previous,
            idempotency_key=idempotency_key,
        )
        return after

    # -- refunds ------------------------------------------------------------------------

    async def create_refund(self, request: web.Request) -> web.StreamResponse:
        authorization = self._authorized(request)
        body = await request.read()
        form = _tree(_pairs(body))
        charge_id = form.get("charge")
        if not charge_id and form.get("payment_intent"):
            status, intent = await self.try_call(
                "GET", f"/v1/payment_intents/{form['payment_intent']}", authorization=authorization
            )
            charge_id = intent.get("latest_charge") if status == 200 else None
        before: Json = {}
        if charge_id:
            status, before = await self.try_call(
                "GET", f"/v1/charges/{charge_id}", authorization=authorization
            )
        response = await self._forward(request, body)
        if response.status == 200 and charge_id:
            charge = await self.call("GET", f"/v1/charges/{charge_id}", authorization=authorization)
            previous: Json = {
                key: before[key]
                for key in ("amount_refunded", "refunded", "refunds")
                if key in before and before[key] != charge.get(key)
            }
            await self.deliver(
                "charge.refunded",
                charge,
                previous_attributes=previous,
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        return response

    # -- the customer portal ----------------------------------------------------------------

    async def create_portal(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        customer = form.get("customer")
        if not customer:
            raise _missing("customer")
        status, _ = await self.try_call("GET", f"/v1/customers/{customer}")
        if status == 404:
            raise _no_such("customer", str(customer), "customer")
        portal_id = _random_id("bps_")
        portal: Json = {
            "id": portal_id,
            "object": "billing_portal.session",
            "configuration": "bpc_standin",
            "created": _now(),
            "customer": customer,
            "flow": None,
            "livemode": False,
            "locale": form.get("locale"),
            "on_behalf_of": None,
            "return_url": form.get("return_url"),
            "url": f"{self.api_base}/portal/{portal_id}",
        }
        with self._lock:
            self.portals[portal_id] = portal
        return _json(portal)

    def _portal(self, portal_id: str) -> Json:
        with self._lock:
            portal = self.portals.get(portal_id)
        if portal is None:
            raise web.HTTPNotFound(text="This billing portal session does not exist.")
        return portal

    async def portal_page(self, request: web.Request) -> web.StreamResponse:
        portal = self._portal(request.match_info["id"])
        subscriptions = (
            await self.call(
                "GET", "/v1/subscriptions", {"customer": portal["customer"], "limit": 100}
            )
        )["data"]
        with self._lock:
            plans = [p for p in self.prices.values() if p["recurring"] and p["active"]]
        products: dict[str, str] = {}
        for product in {p["product"] for p in plans} | {
            s["items"]["data"][0]["price"]["product"] for s in subscriptions
        }:
            products[product] = str((await self.call("GET", f"/v1/products/{product}"))["name"])

        def label(price: Json) -> str:
            name = products.get(price["product"], price["product"])
            nickname = f" — {price['nickname']}" if price.get("nickname") else ""
            amount = _money(int(price["unit_amount"] or 0), price["currency"])
            return f"{name}{nickname} ({amount}{_every(price['recurring'])})"

        action_base = f"/portal/{portal['id']}/subscriptions"
        sections = []
        for sub in subscriptions:
            item = sub["items"]["data"][0]
            price = item["price"]
            ends = datetime.fromtimestamp(int(item["current_period_end"]), UTC).strftime("%d %b %Y")
            action = f"{action_base}/{sub['id']}"

            def form(name: str, button: str, fields: str = "", sub_id: str = sub["id"]) -> str:
                return (
                    f'<form method="post" action="{action_base}/{sub_id}">'
                    f'<input type="hidden" name="action" value="{name}">{fields}'
                    f'<button id="{name.replace("_", "-")}-{sub_id}" data-action="{name}" '
                    f'type="submit">{button}</button></form>'
                )

            notes = []
            if sub["cancel_at_period_end"]:
                notes.append(f'<p class="cancels">Cancels on {ends}.</p>')
            options = "".join(
                f'<option value="{p["id"]}">{html.escape(label(p))}</option>'
                for p in plans
                if p["id"] != price["id"]
            )
            controls = [
                form("resume", "Don't cancel")
                if sub["cancel_at_period_end"]
                else form("cancel_at_period_end", "Cancel at period end"),
                form("cancel_now", "Cancel now"),
            ]
            if options:
                controls.append(
                    form(
                        "change_plan",
                        "Change plan",
                        f'<label>New plan <select name="price">{options}</select></label>',
                    )
                )
            controls.append(
                form(
                    "quantity",
                    "Update quantity",
                    '<label>Quantity <input type="number" name="quantity" min="1" '
                    f'value="{int(item["quantity"])}"></label>',
                )
            )
            sections.append(
                f'<section class="subscription" id="{sub["id"]}" data-status="{sub["status"]}" '
                f'data-action="{action}">'
                f"<h2>{html.escape(label(price))}</h2>"
                f'<p>Status: <span class="status">{html.escape(sub["status"])}</span></p>'
                f'<p>Quantity: <span class="quantity">{int(item["quantity"])}</span></p>'
                f'<p>Current period ends: <span class="period-end">{ends}</span></p>'
                f"{''.join(notes)}{''.join(controls)}</section>"
            )
        if not sections:
            sections.append('<p id="no-subscriptions">No subscriptions.</p>')
        back = ""
        if portal.get("return_url"):
            back = f'<p><a id="return" href="{html.escape(portal["return_url"])}">Return</a></p>'
        return web.Response(
            text=_page_html("Billing", "<h1>Billing</h1>\n" + "\n".join(sections) + back),
            content_type="text/html",
        )

    async def portal_action(self, request: web.Request) -> web.StreamResponse:
        portal = self._portal(request.match_info["id"])
        subscription_id = request.match_info["subscription"]
        status, sub = await self.try_call("GET", f"/v1/subscriptions/{subscription_id}")
        if status != 200 or sub.get("customer") != portal["customer"]:
            raise web.HTTPNotFound(text="This subscription is not this customer's.")
        form = await request.post()
        action = form.get("action")
        item = sub["items"]["data"][0]
        if action == "cancel_now":
            await self.call("DELETE", f"/v1/subscriptions/{subscription_id}")
        elif action in ("cancel_at_period_end", "resume"):
            await self.change_subscription(
                subscription_id,
                [("cancel_at_period_end", "true" if action == "cancel_at_period_end" else "false")],
            )
        elif action == "change_plan":
            self._price(str(form.get("price")))
            await self.change_subscription(
                subscription_id,
                [
                    ("items[0][id]", item["id"]),
                    ("items[0][price]", str(form.get("price"))),
                    ("items[0][quantity]", str(item["quantity"])),
                ],
            )
        elif action == "quantity":
            quantity = _as_int(form.get("quantity"), "quantity", 1)
            await self.change_subscription(
                subscription_id,
                [("items[0][id]", item["id"]), ("items[0][quantity]", str(quantity))],
            )
        else:
            raise web.HTTPBadRequest(text=f"Unknown action {action!r}.")
        raise web.HTTPSeeOther(f"/portal/{portal['id']}")

    # -- meter events ----------------------------------------------------------------------

    async def create_meter_event(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        event_name = form.get("event_name")
        if not event_name:
            raise _missing("event_name")
        payload = form.get("payload")
        if not isinstance(payload, dict):
            raise _missing("payload")
        if not payload.get("stripe_customer_id"):
            raise _missing("payload[stripe_customer_id]")
        if "value" not in payload:
            raise _missing("payload[value]")
        try:
            float(payload["value"])
        except (TypeError, ValueError):
            raise StripeError(400, "The value must be a number.", param="payload[value]") from None
        now = _now()
        timestamp = _as_int(form.get("timestamp", now), "timestamp")
        if timestamp < now - METER_PAST_SECONDS or timestamp > now + METER_FUTURE_SECONDS:
            raise StripeError(
                400,
                "Timestamp must be within the past 35 days and not more than 5 minutes in "
                "the future.",
                param="timestamp",
            )
        identifier = str(form.get("identifier") or _random_id("mev_", 20))
        with self._lock:
            first = self.meter_identifiers.get(identifier)
            if first is None:
                first = {
                    "object": "billing.meter_event",
                    "created": now,
                    "event_name": event_name,
                    "identifier": identifier,
                    "livemode": False,
                    "payload": {str(k): str(v) for k, v in payload.items()},
                    "timestamp": timestamp,
                }
                self.meter_identifiers[identifier] = first
                self.meter_events.append(first)
            answer = json.loads(json.dumps(first))
        return _json(answer)

    # -- events and webhooks ------------------------------------------------------------------

    def event(
        self,
        type: str,
        obj: Json,
        previous_attributes: Json | None = None,
        idempotency_key: str | None = None,
    ) -> Json:
        data: Json = {"object": json.loads(json.dumps(obj))}
        if previous_attributes:
            data["previous_attributes"] = json.loads(json.dumps(previous_attributes))
        return {
            "id": _random_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": _now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {
                "id": _random_id("req_", 14) if idempotency_key is not None else None,
                "idempotency_key": idempotency_key,
            },
            "type": type,
        }

    async def deliver(
        self,
        type: str,
        obj: Json,
        previous_attributes: Json | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        await self.send_event(
            self.event(type, obj, previous_attributes, idempotency_key), "stand-in"
        )

    async def send_event(self, event: Json, origin: str) -> None:
        """Keep ``event`` (``GET /v1/events/<id>``) and POST it, signed, to the webhook."""
        with self._lock:
            self.events[event["id"]] = event
            url = self.webhook_url
            wanted = self.webhook_events
        if url is None or (wanted is not None and event["type"] not in wanted):
            return
        payload = json.dumps(event, indent=2)
        signature = str(
            stripe.WebhookSignature.generate_signature_header(payload, self.webhook_secret)
        )
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            async with self.http.post(url, data=payload.encode(), headers=headers) as reply:
                await reply.read()
                status = reply.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        with self._lock:
            self.deliveries.append({"event": event, "status": status, "origin": origin, "url": url})

    async def relay(self, request: web.Request) -> web.StreamResponse:
        """localstripe's own events, in the modern shape, to the webhook."""
        raw = await request.read()
        try:
            stripe.WebhookSignature.verify_header(
                raw.decode(), request.headers.get("Stripe-Signature"), self.webhook_secret, None
            )
        except stripe.SignatureVerificationError:
            raise web.HTTPBadRequest(text="bad signature") from None
        event = self.modern(json.loads(raw))
        event.update(api_version=API_VERSION, livemode=False)
        event.setdefault("pending_webhooks", 1)
        event.setdefault("request", {"id": None, "idempotency_key": None})
        await self.send_event(event, "localstripe")
        return web.Response(text="ok")

    async def retrieve_event(self, request: web.Request) -> web.StreamResponse:
        self._authorized(request)
        with self._lock:
            event = self.events.get(request.match_info["id"])
        if event is None:
            return await self.forward(request)
        return _json(event)


def _localstripe_app() -> web.Application:
    """A fresh app with localstripe's routes and middlewares (its own object is single-use);
    without the middleware that pickles its store to /tmp after every write."""
    app = web.Application(
        middlewares=[localstripe_server.error_middleware, localstripe_server.auth_middleware]
    )
    for route in localstripe_server.app.router.routes():
        app.router.add_route(route.method, route.resource.canonical, _awaitable(route.handler))
    return app


def _awaitable(handler: Any) -> Any:
    """localstripe's plain-function handlers as coroutines (aiohttp deprecates the former)."""
    if asyncio.iscoroutinefunction(handler):
        return handler

    async def handle(request: web.Request) -> Any:
        return handler(request)

    return handle


class _LoopThread:
    """An event loop in a daemon thread; coroutines are run on it from other threads."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="stripe-servers", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def stop(self) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


def _loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    return sock


@dataclass
class StripeServers:
    """The running pair; ``api_base`` is the address to give the platform."""

    api_base: str
    secret_key: str
    webhook_secret: str
    localstripe_base: str
    _standin: StandIn = field(repr=False)
    _loop: _LoopThread = field(repr=False)

    def client(self, **options: Any) -> stripe.StripeClient:
        """stripe-python's client for this server (extra ``options`` go to StripeClient)."""
        options.setdefault("max_network_retries", 0)
        return stripe.StripeClient(
            self.secret_key, base_addresses={"api": self.api_base}, **options
        )

    def set_webhook_url(self, url: str | None, events: list[str] | None = None) -> None:
        """Where every webhook goes from now on (None: nowhere); ``events``: only these types."""
        with self._standin._lock:
            self._standin.webhook_url = url
            self._standin.webhook_events = set(events) if events is not None else None

    def checkout_url(self, session_id: str) -> str:
        return f"{self.api_base}/checkout/{session_id}"

    def portal_url(self, portal_session_id: str) -> str:
        return f"{self.api_base}/portal/{portal_session_id}"

    def meter_events(self) -> list[dict[str, Any]]:
        """The meter events kept, in order (each identifier once)."""
        with self._standin._lock:
            return cast(list[Json], json.loads(json.dumps(self._standin.meter_events)))

    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook sent: ``{"event", "status", "origin", "url"}``; ``status`` is the
        receiver's HTTP status (0: unreachable); ``origin`` is "stand-in" or "localstripe"."""
        with self._standin._lock:
            return cast(list[Json], json.loads(json.dumps(self._standin.deliveries)))

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """The events delivered (status 2xx), optionally of one ``type``."""
        return [
            d["event"]
            for d in self.deliveries()
            if 200 <= d["status"] < 300 and (type is None or d["event"]["type"] == type)
        ]

    def reset(self) -> None:
        """Forget everything: localstripe's objects (``DELETE /_config/data``), its pending
        webhooks, and the stand-in's prices, sessions, meter events, keys and deliveries."""

        async def flush() -> None:
            for task in asyncio.all_tasks():
                if getattr(task.get_coro(), "__qualname__", "") == "_send_webhook":
                    task.cancel()
            status, _, _ = await self._standin.send("DELETE", "/_config/data")
            assert status == 200, f"localstripe did not reset: {status}"

        self._loop.run(flush())
        self._standin._clear()


@contextmanager
def stripe_servers(webhook_url: str | None = None) -> Iterator[StripeServers]:
    """localstripe and the stand-in in front of it, on loopback, for the block's duration.

    ``webhook_url`` (or ``set_webhook_url`` later) receives every event, signed with
    ``webhook_secret``. One pair per process at a time: localstripe keeps its objects and
    webhooks in module globals."""
    if not _one_at_a_time.acquire(blocking=False):
        raise RuntimeError("stripe_servers() is already running in this process")
    store = localstripe_resources.store
    loop = _LoopThread()
    runners: list[web.AppRunner] = []
    try:
        store.dump_to_disk = lambda: None  # no pickles in /tmp
        store.clear()
        localstripe_webhooks._webhooks.clear()
        secret_key = _random_id("sk_test_")
        webhook_secret = _random_id("whsec_", 32)
        localstripe_socket = _loopback_socket()
        standin_socket = _loopback_socket()
        localstripe_base = f"http://{HOST}:{localstripe_socket.getsockname()[1]}"
        api_base = f"http://{HOST}:{standin_socket.getsockname()[1]}"
        standin = StandIn(localstripe_base, secret_key, webhook_secret)
        standin.api_base = api_base
        standin.webhook_url = webhook_url

        async def start(app: web.Application, sock: socket.socket) -> None:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            runners.append(runner)
            await web.SockSite(runner, sock).start()

        loop.run(start(_localstripe_app(), localstripe_socket))
        loop.run(start(standin.app(), standin_socket))
        servers = StripeServers(
            api_base, secret_key, webhook_secret, localstripe_base, standin, loop
        )

        async def register_relay() -> None:
            status, body, _ = await standin.send(
                "POST",
                "/_config/webhooks/standin",
                body=urllib.parse.urlencode(
                    {"url": api_base + RELAY_PATH, "secret": webhook_secret}
                ).encode(),
            )
            assert status == 200, f"localstripe refused the webhook: {status} {body!r}"

        loop.run(register_relay())
        yield servers
    finally:
        with contextlib.suppress(Exception):

            async def cleanup() -> None:
                for runner in reversed(runners):
                    await runner.cleanup()

            loop.run(cleanup())
        loop.stop()
        store.clear()
        localstripe_webhooks._webhooks.clear()
        with contextlib.suppress(AttributeError):
            del store.dump_to_disk
        _one_at_a_time.release()
