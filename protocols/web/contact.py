"""``POST /_contact`` on a business's site: its contact forms' messages.

A thin adapter over :class:`appliance.services.contactform.ContactForms`:
it takes POST only (405 otherwise), an ``application/x-www-form-urlencoded``
body only (415 otherwise), reads the fields (the listener has already
refused a body over ``contactform.MAX_BODY`` with 413 before reading it,
:func:`protocols.web.limits_of`), and hands them, the business and the
client's address to the service, with the daemon's local delivery (the
router the SMTP service owns). The service's answer becomes the status:
200 for the thank-you page, 400 for the form again with its errors, 429
(with ``Retry-After``) past a limit, 503 when the message could not be
delivered, and the site-wide 404 for a form the business does not have.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import TYPE_CHECKING, Any

from twisted.web import resource, server

from appliance.errors import NotFound
from appliance.services.contactform import MAX_BODY, SOURCE_WINDOW

from . import pages
from .clients import respond_later

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

PATH = b"_contact"
FORM_TYPE = b"application/x-www-form-urlencoded"
#: A form has seven fields; anything past this many is not ours.
MAX_FIELDS = 20
UNSUPPORTED = b"<!DOCTYPE html><title>Unsupported</title><h1>Send the form as a web form</h1>\n"
STATUS = {"sent": 200, "form": 400, "busy": 429, "failed": 503}


def parse_form(body: bytes) -> dict[str, str]:
    """The first value of each field of an urlencoded ``body``; ValueError
    when it is not UTF-8 or has more than :data:`MAX_FIELDS` fields."""
    text = body.decode("utf-8")
    pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields


class ContactPost(resource.Resource):
    """One post to a form of business ``slug`` (see module doc)."""

    isLeaf = True

    def __init__(self, app: App, slug: str):
        super().__init__()
        self.app, self.slug = app, slug

    def render(self, request: server.Request) -> Any:
        refused = pages.refuse_method(request, (b"POST",))
        if refused is not None:
            return refused
        ctype = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
        if ctype != FORM_TYPE:
            return pages.fixed(request, 415, UNSUPPORTED)
        request.content.seek(0)
        body = request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:  # the listener refuses these first; never read on
            return pages.fixed(request, 413, b"")
        try:
            fields = parse_form(body)
        except ValueError:
            return pages.fixed(request, 400, pages.BAD_REQUEST)
        peer = request.getClientAddress()
        return respond_later(request, self._answer(getattr(peer, "host", str(peer)), fields))

    async def _answer(self, peer: str, fields: dict[str, str]) -> tuple[int, bytes, bytes, dict]:
        submission = self.app.submission
        if submission is None:  # the SMTP service (and its delivery) is not running
            return 503, pages.HTML, pages.UNAVAILABLE, {}
        try:
            answer = await self.app.core.contact_forms.receive(submission.router, self.slug, peer, fields)
        except NotFound as exc:
            log.info("%s: %s: contact form post refused: %s", self.slug, peer, exc)
            return 404, pages.HTML, pages.NOT_FOUND, {}
        extra = {b"retry-after": b"%d" % SOURCE_WINDOW} if answer.outcome == "busy" else {}
        extra[b"cache-control"] = b"no-store"
        return STATUS[answer.outcome], pages.HTML, answer.page, extra
