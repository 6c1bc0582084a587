"""``appliance check``: the box as the world sees it.

What mail senders, registrars and clients see decides whether the box
works, whatever its own files say. Each check asks the outside (DNS through
``[panel] check_resolver``, else the system's resolver; a TCP connection for
port 25) with a short timeout, and answers :class:`appliance.checks.Result`
rows whose ``fix`` says, in plain words, what the operator should do:

* ``name servers``: each of the box's name servers resolves to the box's
  addresses (the glue the box domain's registrar must hold);
* ``delegation``: each business domain of its own is delegated to the box's
  name servers, and ``records`` are as the box publishes them;
* ``reverse dns``: each public address of the box has a PTR naming
  ``[box] hostname`` (receivers refuse mail from addresses that do not);
* ``port 25``: outgoing SMTP reaches the Internet (``[check] port25_probe``),
  or ``[smtp] smarthost`` answers instead.

These block (DNS, sockets, SQLite reads): the CLI and the operators'
status page reach them through :mod:`appliance.services.boxstatus`, which
runs them on its own thread, never on the daemon's loop.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING, Iterator

import dns.exception
import dns.resolver
import dns.reversename

from . import fleet
from .checks import Result
from .dnsdata import box_dns
from .services.domaincheck import OK, UNKNOWN

if TYPE_CHECKING:
    from .app import App

_NO_ANSWER_FIX = "run the check again; if it persists, check [panel] check_resolver and the box's network"


def run_outside(app: App) -> list[Result]:
    """Every outside check, in the order of the module doc."""
    resolver = make_resolver(app)
    results: list[Result] = []
    for check in (
        lambda: check_name_servers(app, resolver),
        lambda: check_delegations(app),
        lambda: check_reverse_dns(app, resolver),
        lambda: check_port25(app),
    ):
        try:
            results.extend(check())
        except Exception as exc:  # noqa: BLE001 - a broken check is itself a finding
            results.append(Result("outside", "fail", f"check crashed: {exc!r}", "report this as a bug"))
    return results


def make_resolver(app: App) -> dns.resolver.Resolver:
    """A resolver asking ``[panel] check_resolver`` (else the system's),
    each lookup bounded by ``[check] timeout``, with no cache."""
    configured = app.settings.panel.check_resolver
    resolver = dns.resolver.Resolver(configure=configured is None)
    if configured is not None:
        resolver.nameservers = [configured[0]]
        resolver.port = configured[1] or 53
    resolver.timeout = resolver.lifetime = float(app.settings.check.timeout)
    resolver.cache = None
    return resolver


def _lookup(resolver: dns.resolver.Resolver, name: str, rtype: str) -> list[str] | None:
    """The values of ``name``/``rtype`` (empty when there are none), or
    None when no answer came in time."""
    try:
        answer = resolver.resolve(name, rtype, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return []
    except (dns.exception.DNSException, OSError):
        return None
    return sorted(r.to_text().rstrip(".").lower() for r in (answer.rrset or []))


def check_name_servers(app: App, resolver: dns.resolver.Resolver) -> Iterator[Result]:
    box = box_dns(app.settings)
    for ns, glue in fleet.nameservers(app.settings):
        expected = sorted(glue)
        answers = [_lookup(resolver, ns, "A"), _lookup(resolver, ns, "AAAA")]
        if None in answers:
            yield Result("name servers", "warn", f"{ns}: the resolver did not answer in time", _NO_ANSWER_FIX)
            continue
        found = sorted(answers[0] + answers[1])
        if found and not expected:
            # A fleet name server outside the box's zones: its addresses are the fleet's to know.
            yield Result("name servers", "ok", f"{ns} resolves to {', '.join(found)}")
        elif not found and not expected:
            yield Result("name servers", "fail", f"{ns} does not resolve", f"give {ns} the addresses of that name server")
        elif found == expected:
            yield Result("name servers", "ok", f"{ns} resolves to {', '.join(found)}")
        elif not found:
            yield Result("name servers", "fail", f"{ns} does not resolve",
                         f"at the registrar of {box.domain}, register {ns} (glue) with the addresses {', '.join(expected)}")
        else:
            yield Result("name servers", "fail", f"{ns} resolves to {', '.join(found)}, not {', '.join(expected)}",
                         f"at the registrar of {box.domain}, change the glue of {ns} to {', '.join(expected)}")


def check_delegations(app: App) -> Iterator[Result]:
    box = box_dns(app.settings)
    checker = app.core.domain_checks
    for business in app.core.businesses.list():
        for domain in business.domains:
            if domain == fleet.free_domain(app.settings, business.slug):
                continue  # the free domain lives under the box's (or the fleet's) own domain
            report = checker.check(domain, slug=business.slug)
            delegation = [line for line in report.lines if line.kind in ("nameservers", "answers")]
            records = [line for line in report.lines if line.kind not in ("nameservers", "answers")]
            if all(line.status == OK for line in delegation):
                yield Result("delegation", "ok", f"{domain} is served by {', '.join(box.nameservers)}")
            elif any(line.status == UNKNOWN for line in delegation):
                yield Result("delegation", "warn", f"{domain}: the resolver did not answer in time", _NO_ANSWER_FIX)
            else:
                found = next((line.found for line in delegation if line.kind == "nameservers"), [])
                yield Result("delegation", "fail",
                             f"{domain} is delegated to {', '.join(found) or 'nothing'}",
                             f"at the registrar of {domain}, set its name servers to {', '.join(box.nameservers)}")
            wrong = [line for line in records if line.status != OK]
            if not wrong:
                yield Result("records", "ok", f"{domain}: {len(records)} records as published")
            else:
                kinds = ", ".join(sorted({line.kind for line in wrong}))
                yield Result("records", "warn", f"{domain}: {len(wrong)} of {len(records)} records differ ({kinds})",
                             f"run `appliance domain check {domain}` to see each record to set")


def check_reverse_dns(app: App, resolver: dns.resolver.Resolver) -> Iterator[Result]:
    hostname = app.settings.box.hostname
    for address in [*app.settings.box.ipv4, *app.settings.box.ipv6]:
        if ipaddress.ip_address(address).is_loopback:
            yield Result("reverse dns", "warn", f"{address} is a loopback address",
                         "set [box] ipv4/ipv6 to the box's public addresses")
            continue
        names = _lookup(resolver, dns.reversename.from_address(address).to_text(), "PTR")
        if names is None:
            yield Result("reverse dns", "warn", f"{address}: the resolver did not answer in time", _NO_ANSWER_FIX)
        elif names == [hostname]:
            yield Result("reverse dns", "ok", f"{address} points back to {hostname}")
        else:
            found = ", ".join(names) or "no name"
            yield Result("reverse dns", "fail", f"{address} points back to {found}, not {hostname}",
                         f"ask your hosting provider to set the reverse DNS (PTR) of {address} to {hostname}")


def check_port25(app: App) -> Iterator[Result]:
    smtp = app.settings.smtp
    timeout = float(app.settings.check.timeout)
    if smtp.smarthost is not None:
        host, port = smtp.smarthost
        port = port or (465 if smtp.smarthost_tls == "tls" else 587)
        error = _connect(host, port, timeout)
        if error is None:
            yield Result("port 25", "ok", f"outgoing mail goes through the smarthost {host}:{port}, which answers")
        else:
            yield Result("port 25", "fail", f"the smarthost {host}:{port} does not answer: {error}",
                         "check [smtp] smarthost and that the firewall lets the box reach it")
        return
    probe = app.settings.check.port25_probe
    if probe is None:
        yield Result("port 25", "warn", "not checked ([check] port25_probe is empty)",
                     "set [check] port25_probe to a mail server's host:25 to check outgoing mail")
        return
    host, port = probe
    port = port or 25
    error = _connect(host, port, timeout)
    if error is None:
        yield Result("port 25", "ok", f"outgoing SMTP reaches {host}:{port}")
    else:
        yield Result("port 25", "fail", f"outgoing SMTP cannot reach {host}:{port}: {error}",
                     "ask your hosting provider to open outgoing port 25, or set [smtp] smarthost to relay through one")


def _connect(host: str, port: int, timeout: float) -> str | None:
    """None if a TCP connection to host:port opens within ``timeout``, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.timeout:
        return f"no answer within {timeout:g}s"
    except OSError as exc:
        return exc.strerror or str(exc)
