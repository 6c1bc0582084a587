"""The daemon's Prometheus metrics: one registry, owned by the App, and every
named metric in it.

Protocols and services record through the :class:`Metrics` the App hands
them (``app.metrics``), one line where the thing happens. Figures that are
cheaper to read than to track (files open, disk, certificates, the loop's
largest lag) are read at scrape time by :class:`_Snapshot`, which touches
no database: the scrape runs on the event loop.

The registry is the instance's own (no prometheus-client default
registry), so two Apps in one process (tests, the CLI) never share counts.
"""

from __future__ import annotations

import gc
import re
import shutil
import time
from typing import TYPE_CHECKING, Iterable, Iterator

from cryptography import x509
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

if TYPE_CHECKING:
    from .app import App
    from .sieve.evaluate import Outcome

#: Content type of :meth:`Metrics.render`.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: DNS RCODE numbers (RFC 1035 4.1.1, RFC 6895) -> the label exported.
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 9: "NOTAUTH"}

#: Buckets of the loop lag: milliseconds are healthy, seconds a bug.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Buckets of DAV request durations.
DAV_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Buckets of rspamd scans: tens of milliseconds normally, up to the timeout.
SCAN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: What a scan decided (``appliance_spam_scans``): unscanned is a message
#: delivered without a score (too large, or rspamd down), tempfail one
#: turned away because rspamd could not answer.
SCAN_RESULTS = ("ham", "junk", "reject", "unscanned", "tempfail")
#: Sieve actions counted (``appliance_sieve_actions``); ``error`` is a
#: script that failed, its message kept in INBOX.
SIEVE_ACTIONS = ("keep", "fileinto", "redirect", "vacation", "reject", "discard", "error")


class Metrics:
    """Every metric the daemon exports, in one :class:`CollectorRegistry`.

    ``app`` (optional) feeds the scrape-time figures; without it (a test or
    the CLI) only the recorded metrics and ``process_*`` are exported.
    """

    def __init__(self, app: App | None = None):
        self.registry = CollectorRegistry()
        r = self.registry
        self.started = time.time()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        # python_gc_*: a full collection holds the loop; count them.
        GCCollector(registry=r)
        # -- mail
        self.mail_received = Counter(
            "appliance_mail_received", "Messages accepted with 250 after DATA, by listener (mx, submission).",
            ["listener"], registry=r)
        self.mail_outbound = Counter(
            "appliance_mail_outbound", "Delivery attempts of queued mail per recipient, by result (sent, bounced, deferred).",
            ["result"], registry=r)
        self.smtp_refused = Counter(
            "appliance_smtp_refused", "SMTP commands refused, by reason.", ["reason"], registry=r)
        self.queue_messages = Gauge(
            "appliance_queue_messages", "Messages in the outbound queues of every business.", registry=r)
        self.queue_oldest_age = Gauge(
            "appliance_queue_oldest_age_seconds", "Age of the oldest message in any outbound queue (0: empty).",
            registry=r)
        self.queue_oldest_age.set_function(self.queue_oldest_seconds)
        # -- filtering
        self.spam_scans = Counter(
            "appliance_spam_scans", "Messages received on the MX while content scoring is on, and what it made of them"
            " (ham, junk, reject, unscanned, tempfail).", ["result"], registry=r)
        self.spam_scan_seconds = Histogram(
            "appliance_spam_scan_seconds", "Time rspamd took to answer a scan (or to fail to).",
            buckets=SCAN_BUCKETS, registry=r)
        self.spam_learned = Counter(
            "appliance_spam_learn_calls", "Messages sent to rspamd to learn, by class (spam, ham) and result"
            " (learned, refused: rspamd declined, failed: not reached).", ["kind", "result"], registry=r)
        self.greylist = Counter(
            "appliance_greylist", "Greylisting decisions at RCPT (exempt clients and trusted senders not counted), by result (deferred, passed).", ["result"], registry=r)
        self.dnsbl_hits = Counter(
            "appliance_dnsbl_hits", "Recipients refused because the client is on a DNS blocklist, by zone.",
            ["zone"], registry=r)
        self.sieve_actions = Counter(
            "appliance_sieve_actions", "Actions users' Sieve scripts took at delivery, by action.", ["action"],
            registry=r)
        for result in SCAN_RESULTS:
            self.spam_scans.labels(result=result)
        for result in ("deferred", "passed"):
            self.greylist.labels(result=result)
        for action in SIEVE_ACTIONS:
            self.sieve_actions.labels(action=action)
        self.queue_messages.set_function(lambda: sum(count for count, _ in self._queues.values()))
        #: slug -> (messages queued, creation time of the oldest) as last read.
        self._queues: dict[str, tuple[int, float]] = {}
        # -- logins and sessions
        self.logins = Counter(
            "appliance_logins", "Password logins, by protocol and result (succeeded, failed).",
            ["protocol", "result"], registry=r)
        self.imap_sessions = Gauge("appliance_imap_sessions", "IMAP connections open.", registry=r)
        self.imap_idle = Gauge("appliance_imap_idle", "IMAP sessions in IDLE.", registry=r)
        # -- web, DAV, DNS
        self.http_requests = Counter(
            "appliance_http_requests", "HTTP requests answered, by status.", ["status"], registry=r)
        self.dav_requests = Counter(
            "appliance_dav_requests", "CalDAV/CardDAV requests, by method and status.", ["method", "status"], registry=r)
        self.dav_seconds = Histogram(
            "appliance_dav_request_seconds", "Time to answer a DAV request, by method.", ["method"],
            buckets=DAV_BUCKETS, registry=r)
        self.dns_queries = Counter(
            "appliance_dns_queries", "DNS queries answered, by RCODE.", ["rcode"], registry=r)
        self._rcodes = {code: self.dns_queries.labels(rcode=name) for code, name in RCODES.items()}
        # -- the loop
        self.loop_lag = Histogram(
            "appliance_loop_lag_seconds", "How late the event loop ran a timer (sampled every 0.25 s).",
            buckets=LAG_BUCKETS, registry=r)
        if app is not None:
            r.register(_Snapshot(app, self))

    # -- recording helpers (one call at the point where it happens) ----------

    def login(self, protocol: str, ok: bool) -> None:
        self.logins.labels(protocol=protocol, result="succeeded" if ok else "failed").inc()

    def refused(self, reason: str | BaseException) -> None:
        """Count one SMTP refusal; an error counts under its class name in
        snake case (``NotFound`` -> ``not_found``)."""
        if isinstance(reason, BaseException):
            reason = re.sub(r"(?<!^)(?=[A-Z])", "_", type(reason).__name__).lower()
        self.smtp_refused.labels(reason=reason).inc()

    def outbound(self, results: Iterable[tuple[int, str, int, str]], bounced: int, deferred: int) -> None:
        """One delivery attempt's recipients: ``results`` rows are
        (id, state, code, reply); ``bounced`` and ``deferred`` are the
        counts after the attempt was recorded."""
        sent = sum(1 for row in results if row[1] == "sent")
        for result, count in (("sent", sent), ("bounced", bounced), ("deferred", deferred)):
            if count:
                self.mail_outbound.labels(result=result).inc(count)

    def sieve_outcome(self, outcome: Outcome | None) -> None:
        """Count what one script decided for one message (None: it failed
        and the message went to INBOX)."""
        if outcome is None:
            self.sieve_actions.labels(action="error").inc()
            return
        for box, _flags, _create in outcome.copies:
            self.sieve_actions.labels(action="keep" if box == "INBOX" else "fileinto").inc()
        if outcome.redirects:
            self.sieve_actions.labels(action="redirect").inc(len(outcome.redirects))
        for action, done in (("vacation", outcome.vacation is not None), ("reject", outcome.reject is not None),
                             ("discard", outcome.discarded)):
            if done:
                self.sieve_actions.labels(action=action).inc()

    def dns_answer(self, reply: bytes) -> None:
        """Count one DNS reply by the RCODE in its header."""
        counter = self._rcodes.get(reply[3] & 0xF) if len(reply) > 3 else None
        (counter or self.dns_queries.labels(rcode="other")).inc()

    def dav_request(self, method: str, status: str, seconds: float) -> None:
        method = method if method.isalpha() and len(method) <= 16 else "other"
        self.dav_requests.labels(method=method, status=status[:3]).inc()
        self.dav_seconds.labels(method=method).observe(seconds)

    def queue_seen(self, slug: str, count: int, oldest: float | None) -> None:
        """The outbound queue of ``slug`` as just read: ``count`` messages,
        the oldest created at ``oldest`` (None when empty)."""
        if count and oldest is not None:
            self._queues[slug] = (count, oldest)
        else:
            self._queues.pop(slug, None)

    def queue_oldest_seconds(self) -> float:
        """Age of the oldest queued message as last read; 0 when none."""
        if not self._queues:
            return 0.0
        return max(0.0, time.time() - min(oldest for _, oldest in self._queues.values()))

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class _Snapshot:
    """Figures read at scrape time from what the App holds in memory."""

    def __init__(self, app: App, metrics: Metrics):
        self.app = app
        self.metrics = metrics
        #: PEM chain -> notAfter (epoch seconds); certificates are immutable.
        self._expiry: dict[bytes, float] = {}

    def describe(self) -> list[Metric]:
        # Collected only at scrape time: registering must not read anything.
        return []

    def collect(self) -> Iterator[Metric]:
        app = self.app
        disk = shutil.disk_usage(app.state_dir)
        stats = app.box.stats
        lag = app.loop_lag
        rows = (
            ("appliance_uptime_seconds", "Seconds since the daemon started.", time.time() - self.metrics.started),
            ("appliance_loop_lag_max_seconds", "Largest event loop lag since start.", lag.max),
            ("appliance_tenant_files_open", "Business databases open now.", app.tenants.open_count),
            ("appliance_gc_frozen_objects", "Objects kept out of the garbage collector's scans since start-up.",
             gc.get_freeze_count()),
            ("appliance_state_disk_free_bytes", "Free bytes on the file system of the state directory.", disk.free),
            ("appliance_state_disk_size_bytes", "Size of the file system of the state directory.", disk.total),
        )
        for name, doc, value in rows:
            yield GaugeMetricFamily(name, doc, value=value)
        yield CounterMetricFamily("appliance_box_transactions", "Write transactions on the box database.",
                                  value=stats.transactions)
        if app.backup_lag is not None:
            lag, late = app.backup_lag
            yield GaugeMetricFamily(
                "appliance_backup_lag_seconds",
                "Seconds since the least recently shipped database was last shipped by Litestream"
                " (+Inf: one never was, or Litestream is not running).",
                value=float("inf") if lag is None else lag)
            yield GaugeMetricFamily("appliance_backup_late_databases",
                                    "Databases shipped longer ago than [backup] warn_seconds, or never.", value=late)
        expiry = GaugeMetricFamily(
            "appliance_certificate_expiry_timestamp_seconds",
            "When each certificate served expires (Unix time), by certificate name.", labels=["name"])
        for name, chain in app.certificates().held_chains():
            when = self._expiry.get(chain)
            if when is None:
                when = self._expiry[chain] = not_after(chain)
            expiry.add_metric([name or app.settings.box.hostname], when)
        yield expiry


def not_after(chain_pem: bytes) -> float:
    """Expiry (epoch seconds) of the first certificate of a PEM chain."""
    return x509.load_pem_x509_certificate(chain_pem).not_valid_after_utc.timestamp()
