"""The fixed pages and small resources every route shares: the neutral 404,
the placeholder of a business without a site, redirects, and the headers
sent on every response.
"""

from __future__ import annotations

from twisted.web import resource, server

NOT_FOUND = b"<!DOCTYPE html><title>Not found</title><h1>Not found</h1>\n"
BAD_REQUEST = b"<!DOCTYPE html><title>Bad request</title><h1>Bad request</h1>\n"
#: What a business's domain shows before anything is published. It names
#: nobody: the same bytes for every business.
PLACEHOLDER = (
    b"<!DOCTYPE html><html lang=\"en\"><meta charset=\"utf-8\">"
    b"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    b"<title>Coming soon</title><h1>Coming soon</h1><p>This website has not been published yet.</p></html>\n"
)
UNAVAILABLE = b"<!DOCTYPE html><title>Unavailable</title><h1>Temporarily unavailable</h1>\n"
HTML = b"text/html; charset=utf-8"

#: Sent on every response: a static host's minimum (no MIME sniffing, no
#: full URLs leaked to other sites).
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
)


def fixed(request: server.Request, code: int, body: bytes, ctype: bytes = HTML) -> bytes:
    """Answer ``code`` with ``body``; HEAD gets the headers only."""
    request.setResponseCode(code)
    request.setHeader(b"content-type", ctype)
    if request.method == b"HEAD":
        request.setHeader(b"content-length", b"%d" % len(body))
        return b""
    return body


#: The methods a read-only resource answers.
READ = (b"GET", b"HEAD")


def refuse_method(request: server.Request, allowed: tuple[bytes, ...] = READ) -> bytes | None:
    """405 with ``Allow`` when ``request`` uses a method not in ``allowed``;
    None when the method is fine."""
    if request.method in allowed:
        return None
    request.setHeader(b"allow", b", ".join(allowed))
    return fixed(request, 405, b"")


class Fixed(resource.Resource):
    """A leaf that always answers the same status and body."""

    isLeaf = True

    def __init__(self, code: int, body: bytes, ctype: bytes = HTML):
        super().__init__()
        self.code, self.body, self.ctype = code, body, ctype

    def render(self, request: server.Request) -> bytes:
        return fixed(request, self.code, self.body, self.ctype)


class NotFound(Fixed):
    """The one 404 for unknown hosts and missing pages alike."""

    def __init__(self) -> None:
        super().__init__(404, NOT_FOUND)


class Redirect(resource.Resource):
    """A permanent redirect to a fixed location."""

    isLeaf = True

    def __init__(self, location: bytes, code: int = 301):
        super().__init__()
        self.location = location
        self.code = code

    def render(self, request: server.Request) -> bytes:
        request.setResponseCode(self.code)
        request.setHeader(b"location", self.location)
        return b""


NOT_FOUND_RESOURCE = NotFound()
BAD_REQUEST_RESOURCE = Fixed(400, BAD_REQUEST)
