"""The provisioning API: JSON over HTTPS under ``/api/v1/`` on the box host
name, for a reseller's billing system (WHMCS, Blesta, their own).

A thin front end, like the CLI and the panel: each route (one table,
:data:`.routes.ROUTES`, which the server dispatches on and the OpenAPI
description is written from) parses its input, calls one service method in
a thread and renders the result. :class:`Api` does what every route shares:

* ``Authorization: Bearer <token>`` of a key made with ``appliance apikey
  add``; none or a wrong one is 401 with ``WWW-Authenticate: Bearer``, a
  ``read`` key on a route that changes something 403;
* a request rate per key (``[api] requests_per_second`` and ``burst``):
  past it, 429 with ``Retry-After``; callers without a valid key are
  limited the same way by source address;
* ``Idempotency-Key`` on the routes that create: the same key with the same
  body gets the first answer again; with another body, 422;
* errors in one shape, ``{"error": {"code", "message", "field"}}``, mapped
  from the :mod:`appliance.errors` family in one place (:func:`error_answer`).

The web adapter (:mod:`protocols.web.api`) bounds the body
(``[api] max_body_bytes``, 413) and hands :class:`Request` here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from storage import apikeys as keyrows
from storage.errors import Frozen, StorageError, StorageFull

from ..errors import ApplianceError, AuthFailed, Conflict, InvalidInput, LimitExceeded, NotFound, Suspended
from ..services.apikeys import Caller
from ..throttle import TokenBucket, source_key

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger(__name__)

#: Where the API is, on the box host name.
PREFIX = "/api/v1"
JSON_TYPE = "application/json"
#: Retry-After of a 503 for a business that is moving to another box.
MOVING_RETRY_SECONDS = 30
#: The longest Idempotency-Key accepted.
MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True)
class Request:
    """One request as the API sees it: ``path`` is below :data:`PREFIX`
    (``/businesses/bakery``), ``headers`` have lower-case names."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, list[str]]
    body: bytes
    peer: str
    #: A body the web adapter spooled to a file instead (a business file
    #: sent by another box: ``protocols.web.spool``), or None.
    upload: Path | None = None


@dataclass
class Answer:
    """A status and a JSON ``body``, or ``raw`` bytes of ``content_type``
    (a CSV export)."""

    status: int
    body: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    raw: bytes | None = None
    content_type: str = JSON_TYPE

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return b"" if self.body is None else json.dumps(self.body, separators=(",", ":")).encode("utf-8")


class ApiError(Exception):
    """An answer other than success, raised by the API itself (not by a
    service): auth, scope, rate, malformed request."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or []


#: The error family as HTTP: (class, status, code), the first match wins.
ERRORS: tuple[tuple[type[ApplianceError], int, str], ...] = (
    (Frozen, 503, "moving"),
    (StorageFull, 507, "insufficient_storage"),
    (InvalidInput, 422, "invalid_input"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (LimitExceeded, 422, "limit_exceeded"),
    (Suspended, 409, "suspended"),
    (AuthFailed, 401, "unauthorized"),
    (StorageError, 503, "unavailable"),
)


def error_body(code: str, message: str, field: str | None = None) -> dict:
    return {"error": {"code": code, "message": message, "field": field}}


def error_answer(exc: BaseException, fields: dict[str, str] | None = None) -> Answer:
    """The one place an exception becomes an answer. ``fields`` renames a
    service's field names to the route's (``address`` -> ``owner``).
    Anything outside the family is a bug: logged with its traceback,
    answered 500 without details."""
    if isinstance(exc, ApiError):
        return Answer(exc.status, error_body(exc.code, exc.message, exc.field), exc.headers)
    for kind, status, code in ERRORS:
        if isinstance(exc, kind):
            name = getattr(exc, "field", None)
            if name is not None and fields:
                name = fields.get(name, name)
            log.info("api: %s: %s", code, exc)
            # RFC 9110 section 10.2.3: a business moving to another box is
            # writable again (there) within about a minute.
            retry = [("retry-after", str(MOVING_RETRY_SECONDS))] if isinstance(exc, Frozen) else []
            return Answer(status, error_body(code, str(exc), name), retry)
    log.error("api: unexpected error", exc_info=exc)
    return Answer(500, error_body("internal", "internal error"))


@dataclass
class Call:
    """What a route's handler gets: the App, the caller, the path's
    parameters, the query and the JSON body (an object, or None)."""

    app: Any
    caller: Caller | None
    params: dict[str, str]
    query: dict[str, list[str]]
    body: dict | None
    #: ``https://<box host name>[:port]/``: the panel, links to it.
    base: str
    #: The request's lower-case header fields.
    headers: dict[str, str] = field(default_factory=dict)
    #: See :attr:`Request.upload`.
    upload: Path | None = None

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A service method, in a thread (they block)."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    @property
    def core(self) -> Any:
        return self.app.core

    def arg(self, name: str) -> str | None:
        """The last value of query parameter ``name``, or None."""
        values = self.query.get(name)
        return values[-1] if values else None


def match(template: str, path: str) -> dict[str, str] | None:
    """The parameters of ``path`` when it matches ``template``
    (``/businesses/{slug}``), else None."""
    want, got = template.strip("/").split("/"), path.strip("/").split("/")
    if len(want) != len(got):
        return None
    params = {}
    for w, g in zip(want, got):
        if w.startswith("{") and w.endswith("}"):
            if not g:
                return None
            params[w[1:-1]] = urllib.parse.unquote(g)
        elif w != g:
            return None
    return params


class Api:
    """Dispatches :class:`Request` to the routes (see module doc). Lives on
    the event loop; the services run in threads."""

    def __init__(self, app: "App", base: Callable[[], str]):
        """``base`` tells ``https://<box host name>[:port]/``, for links
        (asked each time: the ports are known once bound)."""
        from .routes import ROUTES  # the table imports this module's names

        self.app = app
        self.base = base
        self.routes = ROUTES
        settings = app.settings.api
        self.limits = TokenBucket(float(settings.requests_per_second), settings.burst)
        self.keep_seconds = settings.idempotency_hours * 3600
        #: One lock per (key, Idempotency-Key) being answered, with its users.
        self._creating: dict[tuple[str, str], tuple[asyncio.Lock, list[int]]] = {}

    async def handle(self, request: Request) -> Answer:
        """The answer to ``request``; never raises."""
        fields = None
        try:
            route, params = self._route(request)
            fields = route.fields
            if route.public:
                caller = None
                self._limit(f"source:{source_key(request.peer)}")
            else:
                caller = await self._authenticate(request)
                if route.write and not caller.may_write:
                    raise ApiError(403, "forbidden", f"API key {caller.name} may only read")
            body = _json_body(request) if route.body is not None else None
            call = Call(self.app, caller, params, request.query, body, self.base(), request.headers, request.upload)
            if route.idempotent and "idempotency-key" in request.headers:
                return await self._idempotent(route, call, request)
            return await route.handler(call)
        except Exception as exc:  # noqa: BLE001 - error_answer logs what is unexpected
            return error_answer(exc, fields)

    def _route(self, request: Request) -> tuple[Any, dict[str, str]]:
        allowed = []
        for route in self.routes:
            params = match(route.path, request.path)
            if params is None:
                continue
            if route.method == request.method:
                return route, params
            allowed.append(route.method)
        if allowed:
            raise ApiError(405, "method_not_allowed", f"use {', '.join(allowed)}",
                           headers=[("allow", ", ".join(allowed))])
        raise ApiError(404, "not_found", "no such route")

    async def _authenticate(self, request: Request) -> Caller:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        caller = None
        if scheme.lower() == "bearer" and token.strip():
            caller = await asyncio.to_thread(self.app.core.api_keys.authenticate, token.strip())
        self._limit(f"key:{caller.name}" if caller is not None else f"source:{source_key(request.peer)}")
        if caller is None:
            log.info("api: %s: no valid API key", request.peer)
            raise ApiError(401, "unauthorized", "an API key is needed: Authorization: Bearer <token>",
                           headers=[("www-authenticate", 'Bearer realm="api"')])
        return caller

    def _limit(self, key: str) -> None:
        wait = self.limits.take(key)
        if wait > 0:
            raise ApiError(429, "rate_limited", "too many requests; retry later",
                           headers=[("retry-after", str(max(1, round(wait + 0.5))))])

    async def _idempotent(self, route: Any, call: Call, request: Request) -> Answer:
        """Answer a creation once per (key, Idempotency-Key); replay it for
        the same body, refuse another body (422). Only successes are kept:
        a refused request may be corrected and sent again with its key."""
        idem = request.headers["idempotency-key"].strip()
        if not idem or len(idem) > MAX_IDEMPOTENCY_KEY or not idem.isprintable():
            raise ApiError(422, "invalid_input", f"an Idempotency-Key is 1 to {MAX_IDEMPOTENCY_KEY} printable"
                           " characters", "Idempotency-Key")
        digest = hashlib.sha256(json.dumps(call.body, sort_keys=True).encode("utf-8")).hexdigest()
        box = self.app.core.stores.box
        name = call.caller.name
        lock, users = self._creating.setdefault((name, idem), (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                since = time.time() - self.keep_seconds
                found = await asyncio.to_thread(box.read_sync, "api idempotency",
                                                lambda c: keyrows.answer(c, name, idem, since))
                if found is not None:
                    if found["request_hash"] != digest:
                        raise ApiError(422, "idempotency_mismatch", "this Idempotency-Key was used with another"
                                       " request body", "Idempotency-Key")
                    return Answer(found["status"], json.loads(found["answer"]), [("idempotent-replayed", "true")])
                answer = await route.handler(call)
                if 200 <= answer.status < 300:
                    now = time.time()

                    def keep(conn: Any) -> None:
                        keyrows.forget_answers_before(conn, now - self.keep_seconds)
                        keyrows.keep_answer(conn, name, idem, digest, answer.status, json.dumps(answer.body), now)

                    await asyncio.to_thread(box.write_sync, "api idempotency", keep)
                return answer
        finally:
            users[0] -= 1
            if not users[0]:
                del self._creating[(name, idem)]


def _json_body(request: Request) -> dict:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.body and kind != JSON_TYPE:
        raise ApiError(415, "unsupported_media_type", f"send {JSON_TYPE}")
    try:
        body = json.loads(request.body or b"{}")
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "bad_request", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_input", "the body is a JSON object")
    return body


__all__ = ["Api", "Answer", "ApiError", "Call", "Request", "PREFIX", "error_answer", "match"]
