"""A daemon with ACME pointed at pebble, shared by a test module.

Ports are chosen before anything starts because pebble must know the
daemon's HTTP port (HTTP-01) and DNS port (its only resolver), and the
daemon must know pebble's directory URL.
"""

from __future__ import annotations

from pathlib import Path

from appliance.settings import loopback_listen
from tests.conftest import Cli, Daemon

from .pebble import Internet, Pebble, free_port

#: Names the outside world (the ``[acme] resolver``) answers itself.
ELSEWHERE_NS = "ns1.other-dns.test"


def outside_world(dns_port: int) -> Internet:
    """``elsewhere.test``: delegated to someone else's name servers, but
    the domain and ``www`` point at the box (HTTP-01); its ``autoconfig``
    points elsewhere and ``autodiscover`` and ``mta-sts`` do not exist (all dangling).
    ``gone.test``: delegated elsewhere and pointing elsewhere entirely."""
    return Internet(
        dns_port,
        {
            ("elsewhere.test", "NS"): [ELSEWHERE_NS],
            ("elsewhere.test", "A"): ["127.0.0.1"],
            ("www.elsewhere.test", "A"): ["127.0.0.1"],
            ("autoconfig.elsewhere.test", "A"): ["192.0.2.10"],
            ("autodiscover.elsewhere.test", "A"): [],
            ("mta-sts.elsewhere.test", "A"): [],
            ("gone.test", "NS"): [ELSEWHERE_NS],
            ("gone.test", "A"): ["192.0.2.20"],
            ("www.gone.test", "A"): ["192.0.2.20"],
            ("autoconfig.gone.test", "A"): ["192.0.2.20"],
            ("autodiscover.gone.test", "A"): ["192.0.2.20"],
            ("mta-sts.gone.test", "A"): ["192.0.2.20"],
        },
    )


class AcmeBox:
    """pebble + the outside resolver + the daemon + the CLI, on loopback."""

    def __init__(self, tmp: Path, *, validity: int = 0, acme_extra: str = "", box_extra: str = ""):
        self.tmp = tmp
        self.http, self.https, self.dns = free_port(), free_port(), free_port()
        (tmp / "pebble").mkdir()
        self.pebble = Pebble(tmp / "pebble", http_port=self.http, tls_port=self.https, dns_port=self.dns, validity=validity)
        self.internet = outside_world(self.dns)
        state = tmp / "state"
        state.mkdir()
        config = tmp / "appliance.toml"
        config.write_text(
            f"""
[box]
hostname = "box.appliance.test"
domain = "appliance.test"
{box_extra}
{loopback_listen(http=self.http, https=0, dns=self.dns)}
[acme]
directory = "{self.pebble.directory}"
ca_file = "{self.pebble.ca_file}"
resolver = "127.0.0.1:{self.internet.port}"
order_timeout = 60
{acme_extra}
"""
        )
        self.cli = Cli(state, config)
        self.daemon = Daemon(state, config, tmp / "daemon.log")

    def start(self, *businesses: tuple[str, str | None]) -> "AcmeBox":
        for slug, domain in businesses:
            self.cli("tenant", "add", slug, *(["--domain", domain] if domain else []))
        self.internet.start()
        self.pebble.start()
        self.daemon.start()
        return self

    def stop(self) -> None:
        try:
            if self.daemon.proc is not None and self.daemon.proc.poll() is None:
                self.daemon.stop()
        finally:
            self.pebble.stop()
            self.internet.stop()

    def certs(self) -> dict[str, dict]:
        return {row["name"]: row for row in self.cli.json("cert", "list")}
