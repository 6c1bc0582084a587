"""The outbound queue runner: delivers queued mail to other servers.

Queued messages live in the sending business's file (``storage.queue``).
The runner keeps, per business, when its next message is due; submission
wakes it (:meth:`QueueRunner.wake`), the catalog watcher and a periodic
rescan catch what another process (``appliance queue retry``) changed.

One attempt of one message: its still-queued recipients are grouped by
route - the static transport map (``[smtp] transport``), else the
smarthost (``[smtp] smarthost``) for everything, else the MX hosts of the
recipient's domain looked up through the configured resolver - and each
group is sent in one SMTP session with opportunistic STARTTLS, by the
``send`` callable the SMTP service hands the runner (:data:`Send`; the
service passes its client, ``protocols.smtp.client.send``: this module
never imports a protocol). Every recipient gets its own result: ``2xx`` sent,
``5xx`` bounced, anything else retried later on ``[smtp] retry_schedule``
until ``[smtp] queue_lifetime`` has passed, when the rest bounce. Bounced
recipients are reported to the sender by a delivery status notification
(RFC 3464) - never for a null sender. A user's own message gets it filed in
their INBOX. Mail the box sent on for someone else (a redirect, a bounce
returned through an SRS address) gets it queued back to the original
sender - the address its SRS return address stands for - from
``MAILER-DAEMON`` at the business's domain and DKIM-signed by that domain,
so the sender's server sees an aligned, verifiable report.

A domain reached by its MX records may publish an MTA-STS policy (RFC
8461, found by :mod:`appliance.stspolicy` when ``[smtp] mta_sts`` is on).
Under ``enforce`` only the MX hosts the policy names are used, each over
STARTTLS with a certificate valid for the MX host's name (``[smtp]
tls_ca`` or the system's CAs); a host that fails that is skipped like an
unreachable one, and with none left the message stays queued (never sent
in clear text). ``testing`` delivers as without a policy and logs what
``enforce`` would have refused.

With ``[smtp] dane`` on, the resolver's AD bit is trusted (it must be a
validating resolver of the box's own): an MX RRset and host address found
secure lead to the host's TLSA records (RFC 7672, :mod:`appliance.dane`),
and a host with usable ones is only used over STARTTLS with a certificate
those records match. DANE takes precedence over MTA-STS for such a domain
(RFC 8461 section 2); a failed TLSA lookup makes the host unusable.
"""

from __future__ import annotations

import asyncio
import email
import email.generator
import email.message
import email.policy
import email.utils
import io
import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol

import dns.exception
import dns.flags
import dns.resolver

from storage import box as boxdb
from storage import directory
from storage import dkim as dkimdb
from storage import mail as maildb
from storage import freeze
from storage import queue as queuedb
from storage.errors import TenantNotFound

from . import brandrules, dane, mailauth, mime, stspolicy
from . import srs as srsmod
from .errors import LimitExceeded, NotFound

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

#: A message with more Received: headers than this is looping.
MAX_HOPS = 50
#: Messages attempted at once, box-wide.
CONCURRENCY = 16
#: Every business's queue is looked at again this often regardless.
RESCAN_SECONDS = 300.0

class TryNextHost(Exception):
    """Raised by :data:`Send`: the host could not be talked to at all
    (connect, greeting, TLS); the next host of the route is tried."""


class TlsFailed(TryNextHost):
    """Raised by :data:`Send`: the STARTTLS handshake failed; in
    ``opportunistic`` mode the same host is tried again without TLS (as
    Postfix's ``may`` level)."""


class Send(Protocol):
    """One SMTP session that sends one message to ``host:port``.

    Returns ``{recipient: (code, reply text)}`` with an entry for every
    recipient once a session was established; raises :class:`TryNextHost`
    (or :class:`TlsFailed`) when the server could not be used at all.
    ``tls`` is ``opportunistic``, ``starttls``, ``tls`` or ``none``; in the
    verified modes the certificate must name ``server_name`` (``host`` when
    None: ``host`` may be an address found for that name). ``dane``
    requires STARTTLS and a certificate matching ``tlsa``.
    """

    def __call__(
        self, host: str, port: int, *, helo: str, mail_from: str, recipients: list[str], body: bytes,
        tls: str, auth: tuple[str, str] | None, cafile: str | None, smtputf8: bool, timeout: float,
        server_name: str | None = None, tlsa: tuple[dane.Tlsa, ...] = (),
    ) -> Awaitable[dict[str, tuple[int, str]]]: ...


@dataclass(frozen=True)
class Route:
    """Where a group of recipients is sent."""

    hosts: tuple[tuple[str, int], ...]
    tls: str  # smtpclient TLS mode
    auth: tuple[str, str] | None = None
    #: CA file that verifies the host's certificate (None: the system's).
    cafile: str | None = None
    #: Set when no host can exist (null MX, NXDOMAIN): bounce with it.
    permanent_error: str | None = None
    #: The name each host's certificate must carry in a verified mode
    #: (the MX name its address was found for), in the order of ``hosts``.
    names: tuple[str, ...] = ()
    #: Each host's usable TLSA records when DANE applies to it (then it is
    #: used over ``dane`` TLS only), None otherwise; in the order of ``hosts``.
    dane: tuple[tuple[dane.Tlsa, ...] | None, ...] = ()
    #: Set when no host may be used now (an MTA-STS policy names none of
    #: the MX hosts): stay queued with it.
    temporary_error: str | None = None


class QueueRunner:
    def __init__(self, app: App, send: Send, publish: Callable[[str, int, int], Any] | None = None,
                 srs: Any = None):
        s = app.settings.smtp
        self.app = app
        self.send = send
        #: The box's :class:`appliance.srs.Srs`: reads the original sender
        #: of forwarded mail that bounced (None: sent to the sender as is).
        self.srs = srs
        #: Told of every bounce filed (slug, user_id, mailbox_id), after commit.
        self.publish = publish
        self.hostname = app.settings.box.hostname
        # Parsed and checked when the settings were loaded.
        self.schedule = list(s.retry_schedule)
        self.transport = dict(s.transport)
        self.smarthost = None
        if s.smarthost is not None:
            host, port = s.smarthost
            self.smarthost = (host, port or (465 if s.smarthost_tls == "tls" else 587))
        self.smarthost_tls = s.smarthost_tls
        self.smarthost_auth = (s.smarthost_user, s.smarthost_password) if s.smarthost_user else None
        self.smarthost_ca = s.smarthost_ca or None
        self.mx_port = s.mx_port
        self.timeout = float(s.dns_timeout)
        self.resolver = mailauth.make_resolver(s.resolver, self.timeout, asynchronous=True) if s.resolver else None
        self.policies = None
        if self.resolver is not None and s.mta_sts:
            self.policies = stspolicy.Policies(app.box, self.resolver, port=s.mta_sts_port, cafile=s.tls_ca or None)
        self.tls_ca = s.tls_ca or None
        self.dane = bool(s.dane and self.resolver is not None)
        if self.dane:
            # RFC 6840 section 5.7: ask for the AD bit; a validating resolver sets it.
            self.resolver.flags = dns.flags.RD | dns.flags.AD
        self._next: dict[str, float] = {}
        self._inflight: set[tuple[str, int]] = set()
        self._tasks: set[asyncio.Task] = set()
        self._event = asyncio.Event()
        self._sem = asyncio.Semaphore(CONCURRENCY)
        self._main: asyncio.Task | None = None
        self._last_scan = 0.0

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self._main = asyncio.get_running_loop().create_task(self._run(), name="smtp-queue")

    async def stop(self) -> None:
        """Stop; attempts in flight are cancelled and stay queued."""
        tasks = [t for t in (self._main, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        if self.policies is not None:
            self.policies.close()

    def wake(self, slug: str | None = None) -> None:
        """A message was queued (or made due) for ``slug``; None: rescan all."""
        if slug is None:
            self._last_scan = 0.0
        else:
            self._next[slug] = 0.0
        self._event.set()

    # -- the loop ----------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                now = time.time()
                if now - self._last_scan > RESCAN_SECONDS:
                    await self._scan()
                    self._last_scan = now
                for slug, when in list(self._next.items()):
                    if when <= now:
                        await self._start_due(slug, now)
                wait = min([RESCAN_SECONDS, *(max(0.0, t - time.time()) for t in self._next.values())])
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the runner must keep running
                log.exception("queue runner pass failed")
                wait = 5.0
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), timeout=max(wait, 0.05))
            except asyncio.TimeoutError:
                pass

    async def _scan(self) -> None:
        slugs = await self.app.box.read("queue scan", lambda c: [t["slug"] for t in boxdb.list_tenants(c)])
        for slug in slugs:
            try:
                when, count, oldest = await self.app.tenants.handle(slug).sweep("queue summary", queuedb.summary)
            except TenantNotFound:
                continue
            self.app.metrics.queue_seen(slug, count, oldest)
            if when is None:
                self._next.pop(slug, None)
            else:
                self._next[slug] = when

    async def _start_due(self, slug: str, now: float) -> None:
        try:
            handle = self.app.tenants.handle(slug)
            # A frozen business's queue moves with it: the new box sends it
            # (sending here too could deliver a message twice).
            ids = await handle.read("queue due", lambda c: [] if freeze.marker(c) else queuedb.due(c, now))
            when, count, oldest = await handle.read("queue summary", queuedb.summary)
        except TenantNotFound:
            self._next.pop(slug, None)
            self.app.metrics.queue_seen(slug, 0, None)
            return
        self.app.metrics.queue_seen(slug, count, oldest)
        started = False
        for message_id in ids:
            if (slug, message_id) in self._inflight:
                continue
            self._inflight.add((slug, message_id))
            task = asyncio.get_running_loop().create_task(self._attempt_guarded(slug, message_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started = True
        if when is None:
            self._next.pop(slug, None)
        elif started or when <= now:
            # Re-read once these attempts have rescheduled their messages.
            self._next[slug] = now + 1.0
        else:
            self._next[slug] = when

    async def _attempt_guarded(self, slug: str, message_id: int) -> None:
        try:
            async with self._sem:
                await self.attempt(slug, message_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - retried on the next pass
            log.exception("%s: delivery attempt of queued message %d failed", slug, message_id)
        finally:
            self._inflight.discard((slug, message_id))
            self._next[slug] = 0.0
            self._event.set()

    # -- one attempt -------------------------------------------------------------

    async def attempt(self, slug: str, message_id: int) -> None:
        handle = self.app.tenants.handle(slug)
        try:
            msg, rcpts = await handle.read("queue get", lambda c: queuedb.get(c, message_id))
        except NotFound:
            return
        body = bytes(msg["body"])
        queued = [r for r in rcpts if r["state"] == "queued"]
        results: list[tuple[int, str, int, str]] = []
        if _hops(body) > MAX_HOPS:
            results = [(r["id"], "bounced", 554, "554 5.4.6 Too many hops (mail loop)") for r in queued]
        else:
            groups: dict[Route, list[sqlite3.Row]] = {}
            for rcpt in queued:
                route = await self.route(rcpt["domain"])
                groups.setdefault(route, []).append(rcpt)
            outcomes = await asyncio.gather(
                *(self._send_group(route, msg, group, body) for route, group in groups.items())
            )
            results = [item for group in outcomes for item in group]
        now = time.time()
        attempts = msg["attempts"] + 1
        delay = self.schedule[min(attempts - 1, len(self.schedule) - 1)]
        expired = now + delay > msg["expires"]

        def record(conn: sqlite3.Connection) -> tuple[int, int, tuple[int, int] | None]:
            queuedb.record_results(conn, message_id, results)
            _msg, rows = queuedb.get(conn, message_id)
            left = [r for r in rows if r["state"] == "queued"]
            if left and expired:
                queuedb.record_results(
                    conn, message_id,
                    [(r["id"], "bounced", r["code"] or 0, r["reply"] or "could not be delivered within the queue lifetime") for r in left],
                )
                rows = queuedb.get(conn, message_id)[1]
                left = []
            if left:
                errors = "; ".join(f"{r['address']}: {r['reply']}" for r in left)
                queuedb.reschedule(conn, message_id, now + delay, errors)
                return len(left), 0, None
            bounced = [r for r in rows if r["state"] == "bounced"]
            filed = None
            if bounced and msg["mail_from"] and msg["user_id"] is not None:
                filed = _file_dsn(conn, self.hostname, msg, bounced, self.app.core.brand.current().name)
            elif bounced and msg["mail_from"]:
                _return_dsn(conn, self.hostname, msg, bounced, self.app.core.brand.current().name, self.srs,
                            float(self.app.settings.smtp.queue_lifetime))
            queuedb.remove(conn, message_id)
            return 0, len(bounced), filed

        left, bounced, filed = await handle.write("queue record", record)
        self.app.metrics.outbound(results, bounced, left)
        if filed is not None and self.publish is not None:
            try:
                self.publish(slug, *filed)
            except Exception:  # noqa: BLE001 - the bounce is filed regardless
                log.exception("%s: new-mail event for a bounce failed", slug)
        log.info(
            "%s: queued message %d attempt %d: %d sent, %d bounced, %d deferred",
            slug, message_id, attempts, sum(1 for r in results if r[1] == "sent"), bounced, left,
        )

    async def _send_group(self, route: Route, msg: sqlite3.Row, group: list[sqlite3.Row], body: bytes) -> list[tuple[int, str, int, str]]:
        if route.permanent_error is not None:
            return [(r["id"], "bounced", 550, route.permanent_error) for r in group]
        if route.temporary_error is not None:
            return [(r["id"], "queued", 451, route.temporary_error) for r in group]
        if not route.hosts:
            return [(r["id"], "queued", 451, "451 4.4.3 No route to the recipient's domain") for r in group]
        addresses = [r["address"] for r in group]
        last_error = "451 4.4.1 No answer from host"
        for index, (host, port) in enumerate(route.hosts):
            tls = route.tls
            name = route.names[index] if index < len(route.names) else None
            tlsa = route.dane[index] if index < len(route.dane) else None
            if tlsa is not None:
                tls = "dane"
            replies = None
            while replies is None:
                try:
                    replies = await self.send(
                        host, port,
                        helo=self.hostname, mail_from=msg["mail_from"], recipients=addresses, body=body,
                        tls=tls, auth=route.auth, cafile=route.cafile, smtputf8=bool(msg["smtputf8"]), timeout=60.0,
                        server_name=name, tlsa=tlsa or (),
                    )
                except TlsFailed as exc:
                    last_error = f"451 4.4.1 {host}: {exc}"
                    log.info("%s:%d: %s", host, port, exc)
                    if tls != "opportunistic":
                        break
                    tls = "none"  # RFC 7435: opportunistic TLS falls back to clear text
                except TryNextHost as exc:
                    last_error = f"451 4.4.1 {host}: {exc}"
                    log.info("%s:%d: %s", host, port, exc)
                    break
            if replies is None:
                continue
            out = []
            for rcpt in group:
                code, text = replies[rcpt["address"]]
                state = "sent" if 200 <= code < 300 else "bounced" if 500 <= code < 600 else "queued"
                out.append((rcpt["id"], state, code, text))
            return out
        return [(r["id"], "queued", 451, last_error) for r in group]

    async def route(self, domain: str) -> Route:
        """How mail for ``domain`` leaves: transport map, smarthost or MX."""
        if domain in self.transport:
            return Route((self.transport[domain],), "opportunistic")
        if self.smarthost is not None:
            mode = {"starttls": "starttls", "tls": "tls", "none": "none"}[self.smarthost_tls]
            return Route((self.smarthost,), mode, self.smarthost_auth, self.smarthost_ca)
        if self.resolver is None:
            return Route((), "opportunistic")
        return await self._mx_route(domain)

    async def _mx_route(self, domain: str) -> Route:
        try:
            answer = await self.resolver.resolve(domain, "MX", search=False)
            mxs = sorted((r.preference, r.exchange.to_text(omit_final_dot=True)) for r in answer)
            secure = self.dane and bool(answer.response.flags & dns.flags.AD)
        except dns.resolver.NXDOMAIN:
            return Route((), "opportunistic", permanent_error="550 5.1.2 Recipient domain does not exist")
        except dns.resolver.NoAnswer:
            mxs = [(0, domain)]  # RFC 5321 section 5.1: the implicit MX
            secure = False
        except (dns.exception.Timeout, dns.resolver.NoNameservers):
            return Route((), "opportunistic")
        if len(mxs) == 1 and mxs[0][1] in ("", "."):
            # RFC 7505: a null MX says the domain accepts no mail.
            return Route((), "opportunistic", permanent_error="556 5.1.10 Recipient domain accepts no mail (null MX)")
        addresses = {name: await self._addresses(name) for _pref, name in mxs}
        tlsa: dict[str, tuple[dane.Tlsa, ...] | None] = {}
        if secure:
            for _pref, name in mxs:
                if addresses[name][1]:
                    tlsa[name] = await self._tlsa(name)
        if any(tlsa.values()):
            return self._dane_route(domain, mxs, addresses, tlsa)
        tls = "opportunistic"
        policy = await self.policies.policy_for(domain) if self.policies is not None else None
        if policy is not None:
            unlisted = [name for _pref, name in mxs if not any(stspolicy.mx_matches(p, name) for p in policy.mx)]
            if policy.mode == "testing":
                if unlisted:
                    log.warning("%s: MTA-STS (testing): MX %s not in policy %s", domain, ", ".join(unlisted), policy.id)
            else:
                # RFC 8461 section 5: only the hosts the policy names, each
                # with a certificate valid for its name.
                mxs = [(pref, name) for pref, name in mxs if name not in unlisted]
                if not mxs:
                    log.warning("%s: MTA-STS policy %s names none of its MX hosts; mail stays queued", domain, policy.id)
                    return Route((), "starttls", temporary_error=(
                        f"451 4.7.5 MTA-STS policy of {domain} names none of its MX hosts"))
                tls = "starttls"
        hosts = [(address, self.mx_port) for _pref, name in mxs for address in addresses[name][0]]
        names = [name for _pref, name in mxs for _address in addresses[name][0]]
        cafile = self.tls_ca if tls == "starttls" else None
        return Route(tuple(hosts), tls, cafile=cafile, names=tuple(names))

    def _dane_route(self, domain: str, mxs: list[tuple[int, str]],
                    addresses: dict[str, tuple[list[str], bool]],
                    tlsa: dict[str, tuple[dane.Tlsa, ...] | None]) -> Route:
        """The route of a domain with DANE: hosts whose TLSA lookup failed
        are left out (RFC 7672 section 2.2), the others each over ``dane``
        TLS when they have usable records, opportunistic TLS otherwise."""
        hosts: list[tuple[str, int]] = []
        names: list[str] = []
        records: list[tuple[dane.Tlsa, ...] | None] = []
        for _pref, name in mxs:
            if name in tlsa and tlsa[name] is None:
                log.warning("%s: TLSA lookup for MX %s failed; host not used", domain, name)
                continue
            for address in addresses[name][0]:
                hosts.append((address, self.mx_port))
                names.append(name)
                records.append(tlsa.get(name) or None)
        if not hosts:
            return Route((), "dane", temporary_error=f"451 4.7.5 TLSA records of {domain}'s MX hosts not found")
        return Route(tuple(hosts), "opportunistic", names=tuple(names), dane=tuple(records))

    async def _addresses(self, name: str) -> tuple[list[str], bool]:
        """``name``'s IPv4 then IPv6 addresses, and whether every answer found was secure (AD)."""
        found: list[str] = []
        secure = True
        for qtype in ("A", "AAAA"):
            try:
                answer = await self.resolver.resolve(name, qtype, search=False)
            except (dns.exception.DNSException,):
                continue
            found.extend(r.address for r in answer)
            secure = secure and bool(answer.response.flags & dns.flags.AD)
        return found, secure and bool(found)

    async def _tlsa(self, name: str) -> tuple[dane.Tlsa, ...] | None:
        """The usable TLSA records of MX ``name`` from a secure answer; ()
        when it has none (or they are not secure); None when the lookup failed."""
        try:
            answer = await self.resolver.resolve(f"_{self.mx_port}._tcp.{name}", "TLSA", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return ()
        except dns.exception.DNSException:
            return None
        if not answer.response.flags & dns.flags.AD:
            return ()
        return dane.usable([dane.Tlsa(r.usage, r.selector, r.mtype, r.cert) for r in answer])


def _hops(body: bytes) -> int:
    end = body.find(b"\r\n\r\n")
    return len(re.findall(rb"^received:", body if end < 0 else body[:end], re.IGNORECASE | re.MULTILINE))


def build_dsn(
    hostname: str, mail_from: str, original: bytes, bounced: list[Any], arrival: float, *, smtputf8: bool = False,
    brand: str = "", from_domain: str = "",
) -> bytes:
    """A delivery status notification (RFC 3464) for ``bounced`` recipients,
    built with the stdlib ``email`` package (CRLF line ends).

    The human-readable part declares its charset and transfer encoding. For
    a message sent with SMTPUTF8 the report is the RFC 6533 form:
    ``message/global-delivery-status`` with ``utf-8;`` address types and
    the original's header in ``message/global-headers``.

    ``brand`` (the box's brand name) is named in the human-readable part
    only; the machine-readable parts keep their standard form. The report
    comes from ``MAILER-DAEMON`` at ``from_domain`` (default: ``hostname``).
    """
    out_policy = email.policy.SMTPUTF8 if smtputf8 else email.policy.SMTP
    address_type = "utf-8" if smtputf8 else "rfc822"
    end = original.find(b"\r\n\r\n")
    headers = original if end < 0 else original[: end + 2]

    report = email.message.EmailMessage(policy=out_policy)
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{from_domain or hostname}>"
    report["To"] = f"<{mail_from}>"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = email.utils.formatdate()
    report["Message-ID"] = email.utils.make_msgid(domain=hostname)
    report["Auto-Submitted"] = "auto-replied"
    report["MIME-Version"] = "1.0"
    report.set_type("multipart/report")
    # RFC 6522 section 3: report-type names the subtype of the second part.
    report.set_param("report-type", "global-delivery-status" if smtputf8 else "delivery-status")

    human = [brandrules.mail_system(brand, hostname), "", "This message could not be delivered to:", ""]
    blocks = [f"Reporting-MTA: dns; {hostname}\r\nArrival-Date: {email.utils.formatdate(arrival)}\r\n"]
    for r in bounced:
        reply = _one_line(r["reply"] or "")
        status = re.search(r"\b([245]\.\d{1,3}\.\d{1,3})\b", reply)
        blocks.append(
            f"Final-Recipient: {address_type}; {_one_line(r['address'])}\r\n"
            "Action: failed\r\n"
            f"Status: {status.group(1) if status else '5.0.0'}\r\n"
            f"Diagnostic-Code: smtp; {reply}\r\n"
        )
        human.append(f"  <{r['address']}>: {reply}")
    text = "\r\n".join(human) + "\r\n"
    notice = email.message.EmailMessage(policy=out_policy)
    notice.set_content(text, subtype="plain", charset="utf-8", cte="7bit" if text.isascii() else "quoted-printable")
    del notice["MIME-Version"]

    status_part = email.message.Message(policy=out_policy)
    headers_part = email.message.Message(policy=out_policy)
    if smtputf8:
        # RFC 6533 section 3: the UTF-8 forms hold raw UTF-8, sent as 8bit.
        status_part["Content-Type"] = "message/global-delivery-status"
        status_part["Content-Transfer-Encoding"] = "8bit"
        status_part.set_payload(_raw("\r\n".join(blocks)))
        headers_part["Content-Type"] = "message/global-headers"
        headers_part["Content-Transfer-Encoding"] = "8bit"
    else:
        # The generator writes message/delivery-status from one header
        # block per Message (RFC 3464 section 2.1).
        status_part["Content-Type"] = "message/delivery-status"
        status_part.set_payload(
            [email.message_from_string(b, policy=email.policy.compat32) for b in blocks]
        )
        headers_part["Content-Type"] = "text/rfc822-headers"
    headers_part.set_payload(headers.decode("ascii", "surrogateescape"))
    for part in (notice, status_part, headers_part):
        report.attach(part)
    out = io.BytesIO()
    _DsnGenerator(out, policy=out_policy.clone(linesep="\r\n")).flatten(report)
    return out.getvalue()


class _DsnGenerator(email.generator.BytesGenerator):
    """The stdlib generator, taught the RFC 6533 types: their 8bit UTF-8
    bodies are written byte for byte (it would encode them as ASCII)."""

    def _handle_message_global_delivery_status(self, msg: email.message.Message) -> None:
        self.write(msg._payload)  # get_payload() would decode the surrogates

    _handle_message_global_headers = _handle_message_global_delivery_status


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def _raw(text: str) -> str:
    """``text`` as the generator writes it byte for byte (UTF-8 kept)."""
    return text.encode("utf-8").decode("ascii", "surrogateescape")


def _file_dsn(conn: sqlite3.Connection, hostname: str, msg: sqlite3.Row, bounced: list[Any],
              brand: str = "") -> tuple[int, int] | None:
    """File the bounce in the sender's INBOX; returns (user_id, mailbox_id) or None."""
    dsn = build_dsn(
        hostname, msg["mail_from"], bytes(msg["body"]), bounced, msg["created"], smtputf8=bool(msg["smtputf8"]),
        brand=brand,
    )
    # RFC 3464 section 2: a DSN is sent with a null reverse-path.
    dsn = b"Return-Path: <>\r\n" + dsn
    conn.execute("SAVEPOINT dsn")
    try:
        # Built and parsed here, inside the write, because the bounce is made
        # from the queue row this transaction reads; it is our own few-KB
        # text, so parsing it costs the writer thread next to nothing.
        body_id = maildb.store_body(conn, dsn, mime.for_storage(dsn))
        mailbox_id, _uid = maildb.deliver(conn, msg["user_id"], body_id)
    except (LimitExceeded, NotFound) as exc:
        conn.execute("ROLLBACK TO dsn")
        conn.execute("RELEASE dsn")
        log.warning("bounce for queued message %d not filed: %s", msg["id"], exc)
        return None
    conn.execute("RELEASE dsn")
    return msg["user_id"], mailbox_id



def _return_dsn(conn: sqlite3.Connection, hostname: str, msg: sqlite3.Row, bounced: list[Any], brand: str,
                srs: Any, lifetime: float) -> bool:
    """Queue the bounce of mail sent on for someone else (see module doc)
    in this business's queue; returns whether one was queued.

    The report goes to the address the SRS return address stands for (to
    the return address itself when it is not one of this business's), with
    a null sender so it can never bounce again; it is signed with the key
    of the return address's domain, else of the business's free domain."""
    mail_from = msg["mail_from"]
    domain = mail_from.rpartition("@")[2].lower()
    ours = directory.has_domain(conn, domain)
    to = mail_from
    if ours and srs is not None and srsmod.looks_like(mail_from):
        try:
            to = srs.reverse(mail_from)
        except srsmod.SrsInvalid as exc:
            log.info("queued message %d: no bounce for return address <%s>: %s", msg["id"], mail_from, exc)
            return False
    if not ours:
        domain = directory.domain_names(conn)[0]  # the free one
    key = dkimdb.key_for(conn, domain)
    dsn = build_dsn(hostname, to, bytes(msg["body"]), bounced, msg["created"], smtputf8=bool(msg["smtputf8"]),
                    brand=brand, from_domain=domain)
    if key is not None:
        # Small (the original's header only): signed in this transaction.
        dsn = mailauth.sign_message(dsn, key)
    queuedb.enqueue(conn, "", [to], dsn, user_id=None, lifetime=lifetime, smtputf8=not dsn.isascii())
    log.info("queued message %d: bounce queued for <%s>", msg["id"], to)
    return True
