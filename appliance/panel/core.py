"""The panel's request cycle, independent of the web server.

The web adapter (``protocols/web/panel.py``) turns an HTTP request into a
:class:`Request` and writes back the :class:`Response` that
:meth:`Panel.handle` returns. In between: the route and its rights
(:mod:`.rights`), the session (:mod:`.sessions`), the language
(:mod:`.i18n`), the same-origin and CSRF checks of every POST, then one
handler (:mod:`.account`, :mod:`.people`) that calls the services and
renders a template.

Every answer carries ``Content-Security-Policy: default-src 'self';
frame-ancestors 'none'`` and ``Cache-Control: no-store``; the only things
a page loads are the panel's own stylesheet and icon, and the brand's
stylesheet and logo (:mod:`.brand`).
"""

from __future__ import annotations

import hmac
import importlib
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import jinja2

from storage.directory import Actor
from storage.errors import Frozen

from . import forms, i18n, rights
from .operator_login import OperatorLogin
from .operator_sessions import COOKIE as OPERATOR_COOKIE
from .operator_sessions import PLAIN_COOKIE as PLAIN_OPERATOR_COOKIE
from .operator_sessions import OperatorSession, OperatorSessionStore
from .sessions import COOKIE, PLAIN_COOKIE, Session, SessionStore

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
HTML = "text/html; charset=utf-8"
#: The cookie that carries the CSRF token before sign-in, and the language
#: chosen while signed out.
CSRF_COOKIE, PLAIN_CSRF_COOKIE = "__Host-csrf", "csrf"
LANG_COOKIE, PLAIN_LANG_COOKIE = "__Host-lang", "lang"
#: A year, for the language cookie.
LANG_MAX_AGE = 365 * 86400
#: The largest form body the panel reads.
MAX_FORM_BYTES = 64 * 1024
#: Webmail's list posts one field per selected message (a page is 50).
MAX_FORM_FIELDS = 80
#: The longest query string the panel reads (longer ones are ignored).
MAX_QUERY_BYTES = 2048
#: Most files one ``multipart/form-data`` form may carry.
MAX_UPLOAD_FILES = 10


def max_body(path: str) -> int:
    """The largest request body the panel reads for ``path``: its upload
    limit for a route that takes files (``rights.UPLOADS``), else
    :data:`MAX_FORM_BYTES`."""
    upload = rights.UPLOADS.get(path)
    return upload.max_bytes if upload else MAX_FORM_BYTES


@dataclass(frozen=True)
class Upload:
    """One file of a ``multipart/form-data`` form."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Request:
    """One HTTP request as the panel needs it (built by the web adapter)."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    cookies: dict[str, str]
    form: dict[str, list[str]]
    peer: str
    secure: bool
    #: The Host header as sent (name and port): what ``Origin`` must name.
    host: str
    #: The query string's fields (a search form sent with GET).
    query: dict[str, list[str]] = field(default_factory=dict)
    #: The files of a form posted to a route of ``rights.UPLOADS``, by field name.
    files: dict[str, list[Upload]] = field(default_factory=dict)
    #: The body was over the route's limit and not read (a route of
    #: ``rights.UPLOADS`` with ``explained``): ``form`` and ``files`` are
    #: empty, and the handler may only say so.
    too_large: bool = False


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = HTML
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Context:
    """What a handler gets: the request, its session (None when signed
    out), the language, the route's parameters, and rendering helpers."""

    panel: "Panel"
    request: Request
    session: Session | None
    lang: str
    params: dict[str, str]
    csrf: str
    cookies: list[str] = field(default_factory=list)
    #: On the operators' pages: the operator's own session (None signed out).
    operator: OperatorSession | None = None

    @property
    def app(self) -> Any:
        return self.panel.app

    @property
    def sessions(self) -> SessionStore:
        return self.panel.sessions

    @property
    def actor(self) -> Actor:
        """The signed-in user as the audit log names them, with where from."""
        return Actor(self.session.address, self.request.peer)

    def _(self, message: str, **values: Any) -> str:
        text = i18n.CATALOGS[self.lang].gettext(message)
        return text % values if values else text

    def form_data(self) -> forms.FormData:
        return forms.FormData(self.request.form)

    def query_data(self) -> forms.FormData:
        return forms.FormData(self.request.query)

    def render(self, template: str, status: int = 200, *, path: str | None = None, **values: Any) -> Response:
        """``template`` with ``values``; ``path`` is the page's own path as
        the menu and the language switch see it (the request's by default)."""
        page = self.panel.templates[self.lang].get_template(template)
        body = page.render(
            ctx=self, session=self.session, lang=self.lang, csrf=self.csrf,
            path=self.request.path if path is None else path,
            operator=self.operator, plain_http=not self.request.secure, languages=i18n.NAMES,
            brand=self.app.core.brand.current(),
            language_form=forms.language(self._, self.lang), **values,
        )
        return Response(status, body.encode("utf-8"))

    def redirect(self, location: str) -> Response:
        return Response(303, b"", headers=[("location", location)])

    def not_found(self) -> Response:
        """The one 404: the same bytes whatever the path (nothing in it
        tells a missing page from another business's)."""
        return self.render("error.html", 404, path="/", title=self._("Page not found"),
                           message=self._("There is no such page."))

    def forbidden(self, message: str) -> Response:
        return self.render("error.html", 403, title=self._("Not allowed"), message=message)

    def set_cookie(self, name: str, value: str, max_age: int | None = None) -> None:
        parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
        if self.request.secure:
            parts.append("Secure")
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        self.cookies.append("; ".join(parts))

    def cookie_name(self, secure_name: str, plain_name: str) -> str:
        return secure_name if self.request.secure else plain_name

    def start_session(self, session: Session) -> None:
        """Send the cookie of a session just started or given a new id."""
        self.session = session
        self.csrf = session.csrf
        if session.new_token:
            self.set_cookie(self.cookie_name(COOKIE, PLAIN_COOKIE), session.new_token)

    def end_session(self) -> None:
        """Drop the session cookie (the row is ended by the caller)."""
        self.session = None
        self.set_cookie(self.cookie_name(COOKIE, PLAIN_COOKIE), "", max_age=0)


def field_attrs(f: Any, hint: str = "", **extra: str) -> dict[str, str]:
    """ARIA attributes that tie a control to its hint and its errors, with
    the ``extra`` attributes a template gives the control (``data_markdown``
    becomes ``data-markdown``, as WTForms writes it)."""
    described = [f"{f.id}-hint"] if hint else []
    attrs: dict[str, str] = dict(extra)
    if f.errors:
        described.append(f"{f.id}-error")
        attrs["aria-invalid"] = "true"
    if described:
        attrs["aria-describedby"] = " ".join(described)
    return attrs


Handler = Callable[[Context], Awaitable[Response]]


#: Retry-After of a 503 for a business moving to another box.
MOVING_RETRY_SECONDS = 30


def moving(exc: Frozen, path: str) -> Response:
    """The answer to a change refused because the business is moving
    (:class:`storage.errors.Frozen`): once it has moved, a 307 to the same
    path on the box that serves it now; before, 503 with Retry-After (the
    move takes about a minute)."""
    if exc.moved and exc.target:
        return Response(307, b"", headers=[("location", f"https://{exc.target}{path}")])
    return Response(503, MOVING_PAGE, headers=[("retry-after", str(MOVING_RETRY_SECONDS))])


#: The page of that 503, in both of the panel's languages: the request's
#: own is not known where the refusal is caught.
MOVING_PAGE = (
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>Moving to another server</title></head><body><main>"
    "<h1>Moving to another server</h1>"
    "<p>This business is being moved to another server. Nothing was changed: try again in a minute.</p>"
    "<div lang=\"fr\"><h2>Changement de serveur</h2>"
    "<p>Cette entreprise est en cours de transfert vers un autre serveur. Rien n\u2019a été modifié : "
    "réessayez dans une minute.</p></div>"
    "</main></body></html>\n"
).encode("utf-8")


class Panel:
    """The control panel (see module doc); one per daemon."""

    def __init__(self, app: Any, site_published: Callable[[str], None] | None = None):
        self.app = app
        #: Told the slug of a business whose website the panel just published
        #: or rolled back, so the web server serves it from the next request.
        self.site_published = site_published or (lambda slug: None)
        self.sessions = SessionStore(app)
        self.operator_sessions = OperatorSessionStore(app)
        self.operator_login = OperatorLogin(app)
        loader = jinja2.FileSystemLoader(HERE / "templates")
        self.templates: dict[str, jinja2.Environment] = {}
        for lang in i18n.LANGUAGES:
            env = jinja2.Environment(loader=loader, autoescape=True, extensions=["jinja2.ext.i18n"],
                                     undefined=jinja2.StrictUndefined)
            env.install_gettext_translations(i18n.CATALOGS[lang], newstyle=True)
            env.globals["field_attrs"] = field_attrs
            self.templates[lang] = env
        #: The files under /static/: name -> (bytes, content type).
        self.static = {
            "panel.css": ((HERE / "static" / "panel.css").read_bytes(), "text/css; charset=utf-8"),
            "favicon.svg": ((HERE / "static" / "favicon.svg").read_bytes(), "image/svg+xml"),
            "panel.js": ((HERE / "static" / "panel.js").read_bytes(), "text/javascript; charset=utf-8"),
        }
        # The brand is read now, before the first page, so that pages
        # rendered on the event loop find it in memory.
        app.core.brand.current()
        self.handlers: dict[str, Handler] = {}
        for route in rights.ROUTES:
            module, _, name = route.handler.partition(".")
            self.handlers[route.handler] = getattr(importlib.import_module(f"{__package__}.{module}"), name)

    async def handle(self, request: Request) -> Response:
        """Answer one request; never raises (an unexpected error is a 500)."""
        try:
            response, ctx = await self._handle(request)
        except Frozen as exc:
            return self._finish(moving(exc, request.path), [])
        except Exception:  # noqa: BLE001 - logged, answered 500, the daemon goes on
            log.exception("%s: panel %s %s failed", request.peer, request.method, request.path)
            return self._finish(Response(500, b"<!DOCTYPE html><title>Error</title><h1>Error</h1>\n"), [])
        return self._finish(response, ctx.cookies)

    def _finish(self, response: Response, cookies: list[str]) -> Response:
        # A response that brings its own policy (a mail's sandboxed frame,
        # an attachment, an export that must not be kept) keeps it.
        own = {name for name, _ in response.headers}
        defaults = [
            ("content-security-policy", CSP),
            ("x-frame-options", "DENY"),
            ("cache-control", "no-store" if response.content_type == HTML else "max-age=3600"),
        ]
        response.headers += [(name, value) for name, value in defaults if name not in own]
        response.headers += [("set-cookie", c) for c in cookies]
        return response

    async def _handle(self, request: Request) -> tuple[Response, Context]:
        cookies = request.cookies
        session = await self.sessions.load(cookies.get(COOKIE if request.secure else PLAIN_COOKIE, ""))
        chosen = session.language if session and session.language else cookies.get(self._lang_cookie(request))
        lang = i18n.negotiate(chosen, request.headers.get("accept-language", ""))
        anon_csrf = cookies.get(CSRF_COOKIE if request.secure else PLAIN_CSRF_COOKIE, "")
        ctx = Context(self, request, None, lang, {}, anon_csrf)
        if session is not None:
            ctx.start_session(session)
        elif not anon_csrf or len(anon_csrf) > 100:
            ctx.csrf = secrets.token_urlsafe(32)
            ctx.set_cookie(ctx.cookie_name(CSRF_COOKIE, PLAIN_CSRF_COOKIE), ctx.csrf)

        method = "GET" if request.method == "HEAD" else request.method
        matches = rights.match(request.path)
        if not matches:
            return ctx.not_found(), ctx
        route, params = next(((r, p) for r, p in matches if r.method == method), (None, None))
        if route is None:
            allowed = sorted({r.method for r, _ in matches} | ({"HEAD"} if any(r.method == "GET" for r, _ in matches) else set()))
            response = Response(405, b"", headers=[("allow", ", ".join(allowed))])
            return response, ctx
        ctx.params = params
        who = rights.viewer(session)
        csrf = ctx.csrf
        if rights.is_operator_route(route):
            # The operator's own session decides; a business's menu is not
            # shown on these pages.
            ctx.operator = await self.operator_sessions.load(
                cookies.get(OPERATOR_COOKIE if request.secure else PLAIN_OPERATOR_COOKIE, ""))
            who = rights.operator_viewer(ctx.operator, who)
            csrf = ctx.operator.csrf if ctx.operator else ctx.csrf
            if who not in route.who:
                if who in (rights.SIGNED_OUT, rights.OPERATOR_CODE, rights.OPERATOR_SETUP):
                    return ctx.redirect(rights.OPERATOR_AREA), ctx
                ctx.operator = None  # the one 404, whoever asks
                return ctx.not_found(), ctx
            ctx.session = None
        if who not in route.who:
            if who == rights.SIGNED_OUT:
                return ctx.redirect("/"), ctx
            return ctx.forbidden(ctx._("Only the business's owners can do this.")), ctx
        if method == "POST" and not self._same_origin(request, csrf, token=not request.too_large):
            log.info("%s: panel %s refused: no same-origin CSRF token", request.peer, request.path)
            return ctx.forbidden(ctx._("This form is out of date. Go back, reload the page and try again.")), ctx
        return await self.handlers[route.handler](ctx), ctx

    @staticmethod
    def _lang_cookie(request: Request) -> str:
        return LANG_COOKIE if request.secure else PLAIN_LANG_COOKIE

    @staticmethod
    def _same_origin(request: Request, expected_csrf: str, token: bool = True) -> bool:
        """The POST comes from our own page: its ``Origin`` is this scheme and
        host, and it carries the CSRF token of its session (or, signed out,
        of its CSRF cookie). Without ``token`` (a body too large to read,
        whose handler changes nothing) the ``Origin`` alone is checked."""
        origin = request.headers.get("origin", "")
        scheme = "https" if request.secure else "http"
        if origin != f"{scheme}://{request.host}":
            return False
        if not token:
            return True
        sent = (request.form.get("csrf") or [""])[0]
        return bool(expected_csrf) and hmac.compare_digest(sent.encode(), expected_csrf.encode())
