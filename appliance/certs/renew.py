"""When certificates are requested and renewed, on the daemon's loop.

One task (:class:`Renewer`) keeps the stored certificates in step with the
names the box should hold (:mod:`.names`), serves them through the SNI
selector (:mod:`.sni`), and runs the orders that are due, one at a time:

* a certificate not yet issued, or whose names changed, is due at once;
* an issued one is due once ``[acme] renew_fraction`` of its lifetime has
  passed, or earlier when the CA's renewal information (ARI, RFC 9773)
  suggests a window that starts sooner;
* a failed attempt waits ``retry_min_seconds``, doubling with each further
  failure up to ``retry_max_seconds``; the certificate held so far (or the
  box certificate) is served meanwhile;
* ``appliance cert renew`` asks for an attempt now, whatever the schedule
  (a request row in the box database, seen through ``app.on_change``).

Nothing here blocks the loop: the database calls are the async ones, the
CA is spoken to in threads (:mod:`.order`).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import TYPE_CHECKING, Any

from storage import box as boxdb
from storage import certs as certdb
from storage.errors import TenantNotFound

from .account import Session, open_session
from .names import Planner, Skipped, Wanted
from .order import Publishers, describe, issue
from .sni import Held, Selector

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger(__name__)

#: The names are worked out again at least this often (delegations and
#: addresses elsewhere change without telling us).
PLAN_SECONDS = 3600.0
#: The task wakes at least this often, and waits at least this long.
MAX_SLEEP, MIN_SLEEP = 3600.0, 0.2
#: How often the CA's renewal information is asked when it gives no hint.
ARI_DEFAULT_SECONDS = 6 * 3600.0


def renewal_due(row: dict, fraction: float) -> float:
    """When ``row``'s certificate should be renewed (Unix time; 0: now)."""
    if not row.get("cert_pem") or row.get("not_before") is None or row.get("not_after") is None:
        return 0.0
    due = row["not_before"] + fraction * (row["not_after"] - row["not_before"])
    if row.get("renew_at") is not None:
        # An earlier time set by ARI, or 0 when the names changed.
        due = min(due, row["renew_at"])
    return due


def next_attempt_time(row: dict, fraction: float) -> float:
    """When the next attempt for ``row`` may run, backoff included."""
    return max(renewal_due(row, fraction), row.get("next_attempt") or 0.0)


def backoff(attempts: int, lowest: float, highest: float) -> float:
    """Seconds to wait after ``attempts`` failures in a row (1, 2, 4... x lowest)."""
    return float(min(highest, lowest * 2 ** max(0, min(attempts, 40) - 1)))


def status(row: dict, fraction: float, now: float | None = None) -> str:
    """``valid``, ``expiring``, ``pending`` or ``failed`` (for the CLI)."""
    now = time.time() if now is None else now
    if not row.get("cert_pem"):
        return "failed" if row.get("last_error") else "pending"
    if row.get("not_after", 0) <= now:
        return "failed" if row.get("last_error") else "expiring"
    if renewal_due(row, fraction) <= now:
        return "failed" if row.get("last_error") else "expiring"
    return "valid"


class Renewer:
    """The certificate task of one daemon. See module doc."""

    def __init__(self, app: App, selector: Selector, publishers: Publishers | None = None):
        self.app = app
        self.selector = selector
        #: Where challenge answers go (the running DNS and web services).
        self.publishers = publishers or Publishers()
        acme = app.settings.acme
        self.active = bool(acme.directory) and acme.enabled
        self.fraction = acme.renew_fraction
        self.retry = (float(acme.retry_min_seconds), float(acme.retry_max_seconds))
        self.timeout = float(acme.order_timeout)
        self.planner = Planner(app) if self.active else None
        self.wake = asyncio.Event()
        self.replan = True
        self.planned_at = 0.0
        self.skipped: list[Skipped] = []
        self.session: Session | None = None
        self.task: asyncio.Task | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="certificates")

    def changed(self) -> None:
        """``app.on_change``: the catalog, a business or a request changed."""
        self.replan = True
        self.wake.set()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass

    # -- storage ---------------------------------------------------------

    def _db(self, slug: str | None) -> Any:
        return self.app.box if slug is None else self.app.tenants.handle(slug)

    async def load(self) -> list[dict]:
        """Every stored certificate row (with its ``slug``; None for the
        box), and serve those issued."""
        rows = [{**r, "slug": None} for r in await self.app.box.read("certificates", certdb.list_certificates)]
        tenants = await self.app.box.read("certificate owners", boxdb.list_tenants)
        for tenant in tenants:
            try:
                found = await self.app.tenants.handle(tenant["slug"]).sweep("certificates", certdb.list_certificates)
            except TenantNotFound:
                continue
            rows += [{**r, "slug": tenant["slug"]} for r in found]
        held = [
            Held(r["name"], tuple(r["names"]), r["cert_pem"].encode("ascii"), r["key_pem"].encode("ascii"))
            for r in rows
            if r["cert_pem"] and r["key_pem"]
        ]
        try:
            self.selector.replace(held)
        except Exception:  # noqa: BLE001 - a broken row must not stop the others
            log.exception("cannot load the stored certificates")
        return rows

    async def _sync(self, wanted: list[Wanted], rows: list[dict]) -> bool:
        """Store the wanted set; True when any file changed."""
        have: dict[str | None, dict[str, tuple[list[str], str]]] = {None: {}}
        for row in rows:
            have.setdefault(row["slug"], {})[row["name"]] = (row["names"], row["challenge"])
        want: dict[str | None, dict[str, tuple[list[str], str]]] = {None: {}}
        for tenant in await self.app.box.read("certificate owners", boxdb.list_tenants):
            want[tenant["slug"]] = {}
        for item in wanted:
            want.setdefault(item.slug, {})[item.key] = (list(item.names), item.challenge)
        changed = False
        for slug, entries in want.items():
            if have.get(slug, {}) != entries:
                try:
                    await self._db(slug).write("certificates wanted", lambda c, e=entries: certdb.want(c, e))
                    changed = True
                except TenantNotFound:
                    continue
        return changed

    # -- the task ----------------------------------------------------------

    async def _run(self) -> None:
        while True:
            sleep = MAX_SLEEP
            try:
                sleep = await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep renewing
                log.exception("certificate round failed")
                sleep = self.retry[0]
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=max(MIN_SLEEP, min(MAX_SLEEP, sleep)))
            except asyncio.TimeoutError:
                pass
            self.wake.clear()

    async def _round(self) -> float:
        """One pass: plan if needed, run what is due; returns seconds to
        the next due time."""
        rows = await self.load()
        if not self.active:
            await self._refuse_requests("ACME is off: [acme] directory is empty or enabled = false")
            return MAX_SLEEP
        now = time.time()
        if self.replan or now - self.planned_at > PLAN_SECONDS:
            self.replan = False
            wanted, self.skipped = await self.planner.plan()
            self.planned_at = time.time()
            for skip in self.skipped:
                log.info("not requesting a certificate for %s: %s", skip.name, skip.reason)
            if await self._sync(wanted, rows):
                rows = await self.load()
        requests = await self.app.box.read("certificate requests", certdb.pending_requests)
        forced: dict[str, list[int]] = {}
        for request in requests:
            keys = [r["name"] for r in rows]
            if request["name"]:
                key, reason = self._match(rows, request["name"])
                if key is None:
                    await self._finish(request["id"], False, reason)
                    continue
                keys = [key]
            elif not keys:
                await self._finish(request["id"], False, "the box holds no certificates: no name resolves to it")
                continue
            for key in keys:
                forced.setdefault(key, []).append(request["id"])
        results: dict[int, list[tuple[bool, str]]] = {}
        for row in sorted(rows, key=lambda r: next_attempt_time(r, self.fraction)):
            now = time.time()
            if row["name"] in forced or next_attempt_time(row, self.fraction) <= now:
                ok, text = await self._attempt(row)
                for request_id in forced.get(row["name"], ()):
                    results.setdefault(request_id, []).append((ok, text))
            elif self._ari_due(row, now):
                await self._check_ari(row)
        for request_id, outcome in results.items():
            await self._finish(request_id, all(ok for ok, _ in outcome), "\n".join(t for _, t in outcome))
        rows = await self.load()
        upcoming = [next_attempt_time(r, self.fraction) for r in rows]
        ari = [r["ari_check_at"] for r in rows if r.get("ari_check_at")]
        return min([*upcoming, *ari], default=time.time() + MAX_SLEEP) - time.time()

    def _match(self, rows: list[dict], name: str) -> tuple[str | None, str]:
        """The row key that holds ``name``, or None and why none does."""
        name = name.lower().rstrip(".")
        for row in rows:
            if name == row["name"] or name in row["names"]:
                return row["name"], ""
        parent = name.split(".", 1)[1] if "." in name else ""
        for row in rows:
            if f"*.{parent}" in row["names"]:
                return row["name"], ""
        for skip in self.skipped:
            if skip.name == name:
                return None, f"{name} is not requested: {skip.reason}"
        return None, f"{name} is not a name this box holds a certificate for"

    async def _finish(self, request_id: int, ok: bool, text: str) -> None:
        await self.app.box.write("certificate request", lambda c: certdb.finish_request(c, request_id, ok, text))

    async def _refuse_requests(self, text: str) -> None:
        for request in await self.app.box.read("certificate requests", certdb.pending_requests):
            await self._finish(request["id"], False, text)

    async def _attempt(self, row: dict) -> tuple[bool, str]:
        wanted = Wanted(row["name"], row["slug"], tuple(row["names"]), row["challenge"] or "http-01")
        db = self._db(row["slug"])
        started = time.monotonic()
        try:
            if self.session is None:
                self.session = await open_session(self.app)
            issued = await asyncio.wait_for(
                issue(self.session, wanted, self.timeout, self.publishers, row.get("key_pem") or None), self.timeout + 30)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried later
            self.session = None  # the CA may have restarted: register again next time
            error = describe(exc)
            wait = backoff(row["attempts"] + 1, *self.retry)
            try:
                await db.write(
                    "certificate failed", lambda c: certdb.record_failure(c, row["name"], error, time.time() + wait)
                )
            except TenantNotFound:
                pass
            log.warning("certificate for %s not issued (attempt %d, next in %.0fs): %s",
                        row["name"], row["attempts"] + 1, wait, error)
            return False, f"{row['name']}: failed: {error}"
        renew_at = issued.not_before + self.fraction * (issued.not_after - issued.not_before)
        await db.write(
            "certificate issued",
            lambda c: certdb.store_issued(
                c, row["name"], list(wanted.names), issued.chain_pem, issued.key_pem,
                issuer=issued.issuer, not_before=issued.not_before, not_after=issued.not_after, renew_at=renew_at,
            ),
        )
        until = datetime.datetime.fromtimestamp(issued.not_after, datetime.timezone.utc).isoformat(timespec="seconds")
        log.info("certificate for %s issued by %s via %s in %.1fs, valid until %s",
                 ", ".join(wanted.names), issued.issuer, wanted.challenge, time.monotonic() - started, until)
        await self.load()
        if issued.key_pem != row.get("key_pem"):
            # A new key: the zones' TLSA records (appliance.tlsa) name it
            # from the next rebuild, which a new generation starts.
            await self.app.box.write("certificate key changed", boxdb.bump_generation)
        return True, f"{row['name']}: issued for {', '.join(wanted.names)} by {issued.issuer}, valid until {until}"

    def _ari_due(self, row: dict, now: float) -> bool:
        return bool(row.get("cert_pem")) and (row.get("ari_check_at") or 0) <= now

    async def _check_ari(self, row: dict) -> None:
        """Ask the CA's renewal information for ``row`` when it is time to
        (only CAs whose directory has ``renewalInfo``)."""
        now = time.time()
        if not self._ari_due(row, now):
            return
        try:
            if self.session is None:
                self.session = await open_session(self.app)
            if not self.session.has_renewal_info:
                suggested, retry_at = None, now + PLAN_SECONDS * 6
            else:
                suggested_dt, retry_dt = await asyncio.to_thread(
                    self.session.client.renewal_time, row["cert_pem"].encode("ascii")
                )
                suggested = suggested_dt.timestamp() if suggested_dt is not None else None
                retry_at = retry_dt.timestamp() if retry_dt is not None else now + ARI_DEFAULT_SECONDS
        except Exception as exc:  # noqa: BLE001 - ARI is advice; the fraction still applies
            self.session = None
            log.info("no renewal information for %s: %s", row["name"], describe(exc))
            suggested, retry_at = None, now + ARI_DEFAULT_SECONDS
        due = renewal_due({**row, "renew_at": None}, self.fraction)
        renew_at = min(due, suggested) if suggested is not None else due
        try:
            await self._db(row["slug"]).write(
                "certificate renewal info", lambda c: certdb.set_renewal_info(c, row["name"], renew_at, retry_at)
            )
        except TenantNotFound:
            pass
