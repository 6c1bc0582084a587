"""The provisioning API on twisted.web: a thin adapter over
:class:`appliance.api.Api`, at ``/api/`` of the box host name.

It answers HTTPS only (plain HTTP gets a 403 telling to use HTTPS: a
redirect would send the key in the clear twice), bounds the body (``[api]
max_body_bytes``, 413 before reading when the length says so), hands the
request to the API on the event loop and writes its JSON answer.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any, Callable

from twisted.web import resource, server

from appliance.api import PREFIX, Answer, Api, ApiError, Request, error_answer

#: Query strings longer than this are refused (400).
MAX_QUERY_BYTES = 2048


class ApiResource(resource.Resource):
    """Every path under ``/api/`` (see module doc)."""

    isLeaf = True

    def __init__(self, app: Any, base: Callable[[], str]):
        super().__init__()
        self.api = Api(app, base)
        self.max_body = app.settings.api.max_body_bytes

    def render(self, request: server.Request) -> Any:
        answer = self._refusal(request)
        if answer is not None:
            return self._write(request, answer)
        parsed = self._parse(request)
        if isinstance(parsed, Answer):
            return self._write(request, parsed)
        future = asyncio.ensure_future(self.api.handle(parsed))
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))

        def done(fut: asyncio.Future) -> None:
            if not gone:
                request.write(self._write(request, fut.result()))  # Api.handle never raises
                request.finish()

        future.add_done_callback(done)
        return server.NOT_DONE_YET

    def _refusal(self, request: server.Request) -> Answer | None:
        if not request.isSecure():
            return error_answer(ApiError(403, "https_required", "the API answers over HTTPS only"))
        if getattr(request, "spool", None) is not None:
            return None  # a business file: the channel bounded it ([fleet] max_move_bytes)
        length = request.getHeader(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return error_answer(ApiError(413, "too_large", f"the body is larger than {self.max_body} bytes"))
        return None

    def _parse(self, request: server.Request) -> Request | Answer:
        try:
            path = request.path.decode("ascii")
            if not (path + "/").startswith(PREFIX + "/"):
                raise ApiError(404, "not_found", "no such route")
            spool = getattr(request, "spool", None)
            if spool is not None:
                body = b""
            else:
                body = request.content.read(self.max_body + 1) if request.content is not None else b""
            if len(body) > self.max_body:
                raise ApiError(413, "too_large", f"the body is larger than {self.max_body} bytes")
            raw_query = request.uri.partition(b"?")[2]
            if len(raw_query) > MAX_QUERY_BYTES:
                raise ApiError(400, "bad_request", "the query string is too long")
            query = urllib.parse.parse_qs(raw_query.decode("ascii"), keep_blank_values=True, max_num_fields=20)
            headers = {k.decode("latin-1").lower(): v[-1].decode("latin-1")
                       for k, v in request.requestHeaders.getAllRawHeaders()}
        except ApiError as exc:
            return error_answer(exc)
        except (UnicodeDecodeError, ValueError):
            return error_answer(ApiError(400, "bad_request", "malformed request"))
        return Request(request.method.decode("ascii", "replace"), path[len(PREFIX):] or "/", headers, query, body,
                       request.getClientAddress().host, spool)

    @staticmethod
    def _write(request: server.Request, answer: Answer) -> bytes:
        body = answer.encoded()
        request.setResponseCode(answer.status)
        request.setHeader(b"cache-control", b"no-store")
        if body:
            request.setHeader(b"content-type", answer.content_type.encode("ascii"))
        for name, value in answer.headers:
            request.setHeader(name.encode("ascii"), value.encode("utf-8"))
        request.setHeader(b"content-length", b"%d" % len(body))
        return b"" if request.method == b"HEAD" else body
