"""Messages visitors send with a site's contact form, into the business's mailbox.

A published page's contact form (``sitegen.model.ContactForm``) posts its
page name, its number on that page and the visitor's name, e-mail address
and message. :meth:`ContactForms.receive` looks the form up in the
business's own file, as the version being served published it
(``storage.sitegen.published_form``: the address it goes to is never in
the page, and later edits of the draft do not change it), checks
the values, builds an RFC 5322 message (From the business's no-reply
address on the mailbox's domain, Reply-To the visitor, the subject "Message
from your website: NAME") and files it into the mailbox through the
daemon's local delivery (:meth:`appliance.delivery.Router.deliver`, the
path SMTP's MX takes, mail rules included), so it is in IMAP at once. It
answers with the page to show - the thank-you page only once the message
is committed.

Limits, all in memory and bounded (:class:`appliance.throttle.FailureCounter`):
:data:`PER_SOURCE` posts per :data:`SOURCE_WINDOW` seconds from one
address (IPv6 per /64), :data:`PER_SITE_DAY` messages a day per business;
the fields' sizes (:data:`MAX_NAME`, :data:`MAX_EMAIL`,
:data:`MAX_MESSAGE`). The request body itself is bounded by the web
listener (:data:`MAX_BODY`). A post with the trap field filled (robots fill
every field) gets the thank-you page and is dropped.
"""

from __future__ import annotations

import asyncio
import datetime
import email.policy
import email.utils
import logging
import sqlite3
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any, Mapping

from sitegen import build, model, strings
from storage import directory, names
from storage import sitegen as store
from storage.sitegen import Sources

from ..errors import InvalidInput, LimitExceeded, NotFound, Suspended
from ..throttle import FailureCounter, source_key
from .base import Stores

log = logging.getLogger(__name__)

#: Largest body a post to a form may have, in bytes (the listener answers
#: 413 past it before reading it).
MAX_BODY = 64 * 1024
MAX_NAME = 100
MAX_EMAIL = 254
MAX_MESSAGE = 5000
#: Posts one source address may make in SOURCE_WINDOW seconds.
PER_SOURCE = 5
SOURCE_WINDOW = 600
#: Messages one business's forms may deliver in a day.
PER_SITE_DAY = 200
#: The field a robot fills and a person never sees.
TRAP = "website"


@dataclass(frozen=True)
class Answer:
    """What to show the visitor: ``outcome`` is ``sent`` (also for a
    dropped trap post), ``form`` (bad input: ``page`` has the form again
    with the errors), ``busy`` (a limit) or ``failed`` (not delivered)."""

    outcome: str
    page: bytes


@dataclass(frozen=True)
class _Form:
    """A form found in the business's file, with what its pages need."""

    sources: Sources
    form: model.ContactForm
    site: str  # the site's host name, for the message


def business_addresses(conn: sqlite3.Connection) -> list[str]:
    """The addresses of the business a form may send to: its people's and
    its aliases' (not a catch-all), sorted."""
    found = {u["address"] for u in directory.list_users(conn)}
    found |= {a["address"] for a in directory.list_aliases(conn) if not a["address"].startswith("@")}
    return sorted(found)


def check(fields: Mapping[str, str], texts: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(values, errors) of a visitor's ``name``, ``email`` and ``message``:
    each required, within its limit, the name on one line without control
    characters, the address one a mail server takes. ``errors`` maps a
    field to its message in the site's language (``texts``)."""
    values = {key: (fields.get(key) or "") for key in ("name", "email", "message")}
    values["name"] = " ".join(values["name"].split())
    values["email"] = values["email"].strip()
    values["message"] = values["message"].replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = texts["name_missing"]
    elif len(values["name"]) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in values["name"]):
        errors["name"] = texts["name_long"].format(max=MAX_NAME)
    if not values["email"]:
        errors["email"] = texts["email_missing"]
    else:
        try:
            names.address(values["email"])
        except InvalidInput:
            errors["email"] = texts["email_bad"]
    if not values["message"]:
        errors["message"] = texts["message_missing"]
    elif len(values["message"]) > MAX_MESSAGE:
        errors["message"] = texts["message_long"].format(max=MAX_MESSAGE)
    return values, errors


def message(*, mailbox: str, business: str, site: str, page_url: str, values: Mapping[str, str],
            texts: Mapping[str, str], now: datetime.datetime | None = None) -> bytes:
    """The message for ``mailbox`` (RFC 5322, CRLF lines): From
    ``no-reply@`` the mailbox's domain named after the business, Reply-To
    the visitor, the subject naming them, the text saying where it came
    from. ``values`` must have passed :func:`check`."""
    domain = mailbox.rpartition("@")[2]
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = Address(display_name=f"{business} ({site})", addr_spec=f"no-reply@{domain}")
    msg["To"] = mailbox
    msg["Reply-To"] = Address(display_name=values["name"], addr_spec=values["email"])
    msg["Subject"] = texts["subject"].format(name=values["name"])
    msg["Date"] = email.utils.format_datetime(now or datetime.datetime.now(datetime.timezone.utc))
    msg["Message-ID"] = email.utils.make_msgid(domain=domain)
    # RFC 3834: made by a program, so vacation replies leave it alone.
    msg["Auto-Submitted"] = "auto-generated"
    intro = texts["mail_intro"].format(name=values["name"], email=values["email"], page=page_url)
    msg.set_content(f"{intro}\n{texts['mail_reply']}\n\n{values['message']}\n")
    return msg.as_bytes()


def _read_form(page: str, number: int):
    """A read of the form ``number`` of ``page`` as the live version
    published it, with what its answers show: the draft's theme, profile
    and menu (pictures other than the logo without their bytes)."""

    def read(conn: sqlite3.Connection) -> _Form:
        published = store.published_form(conn, page, number) if store.exists(conn) else None
        if published is None:
            raise NotFound(f"the published site has no contact form {number} on page {page}")
        profile = store.get_profile(conn)
        rows = store.list_pages(conn)
        nav = [r["name"] for r in rows if r["nav"] is not None]
        images = {r["name"]: (r["type"], r["width"], r["height"], b"") for r in store.list_images(conn)
                  if r["name"] == profile.get("logo")}
        sources = Sources(store.get_theme(conn), profile, {r["name"]: r["source"] for r in rows}, nav, images)
        domains = directory.list_domains(conn)
        own = [d["name"] for d in domains if d["kind"] == "own"] or [d["name"] for d in domains]
        return _Form(sources, model.ContactForm(*published), own[0] if own else "")

    return read


class ContactForms:
    """See module doc. One per daemon: the limits are counted here."""

    def __init__(self, stores: Stores):
        self.stores = stores
        self._sources = FailureCounter(SOURCE_WINDOW)
        self._sites = FailureCounter(24 * 3600, max_keys=100_000)

    async def receive(self, router: Any, slug: str, peer: str, fields: Mapping[str, str]) -> Answer:
        """Take one post to a form of ``slug``'s site from ``peer``.

        ``fields`` are the form's (``page``, ``form``, ``name``, ``email``,
        ``message``, the trap). Raises NotFound when the business has no
        such form (a bad page name or number included). Otherwise answers
        (:class:`Answer`): ``busy`` past :data:`PER_SOURCE` posts from the
        source (every post counts) or :data:`PER_SITE_DAY` messages;
        ``sent`` without delivering anything when the trap is filled;
        ``form`` with the errors of :func:`check`; ``failed`` when the
        mailbox cannot take it (full, gone, or not this business's);
        ``sent`` once :meth:`Router.deliver` has committed the message.
        """
        try:
            page = model.page_name(fields.get("page") or "")
            number = int(fields.get("form") or "")
        except (InvalidInput, ValueError):
            raise NotFound("no such form") from None
        if not 1 <= number <= model.MAX_BLOCKS:
            raise NotFound("no such form")
        try:
            found: _Form = await self.stores.handle(slug).read("contact form", _read_form(page, number))
        except InvalidInput:
            raise NotFound("no such form") from None
        texts = strings.texts(str(found.sources.profile.get("language") or "en"))

        async def answer(outcome: str, values: Mapping[str, str] | None = None,
                         errors: Mapping[str, str] | None = None) -> Answer:
            body = await asyncio.to_thread(
                build.form_page, found.sources, page=page, number=number, form=found.form,
                year=datetime.date.today().year,
                outcome=outcome, values=values, errors=errors)
            return Answer(outcome, body)

        source = source_key(peer)
        if self._sources.count(source) >= PER_SOURCE:
            log.info("%s: %s: contact form refused: %d posts within %ds", slug, peer, PER_SOURCE, SOURCE_WINDOW)
            return await answer("busy")
        self._sources.add(source)
        if (fields.get(TRAP) or "").strip():
            log.info("%s: %s: contact form post with the trap filled; dropped", slug, peer)
            return await answer("sent")
        values, errors = check(fields, texts)
        if errors:
            return await answer("form", values, errors)
        if self._sites.count(slug) >= PER_SITE_DAY:
            log.warning("%s: contact form refused: %d messages today", slug, PER_SITE_DAY)
            return await answer("busy")

        mailbox = found.form.mailbox
        raw = message(mailbox=mailbox, business=str(found.sources.profile.get("name") or slug), site=found.site,
                      page_url=f"https://{found.site}{model.page_path(page)}", values=values, texts=texts)
        try:
            recipient = await router.recipient(mailbox, len(raw))
            if recipient.slug != slug:
                # The block names an address of another business: never deliver across.
                raise NotFound(f"{mailbox} is not an address of {slug}")
            await router.deliver(raw, [recipient], mail_from=f"no-reply@{mailbox.rpartition('@')[2]}")
        except (NotFound, LimitExceeded, Suspended) as exc:
            log.warning("%s: contact form message for %s not delivered: %s", slug, mailbox, exc)
            return await answer("failed")
        self._sites.add(slug)
        log.info("%s: %s: contact form message delivered to %s (%d bytes)", slug, peer, mailbox, len(raw))
        return await answer("sent")


__all__ = ["Answer", "ContactForms", "business_addresses", "check", "message"]
