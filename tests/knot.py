"""Knot DNS as a catalog consumer (RFC 9432) in the tests: a secondary
that reads the catalog zone of each primary it is given and transfers the
member zones listed there from that primary, with TSIG."""

from __future__ import annotations

from pathlib import Path


def catalog_consumer(tmp: Path, listen_port: int, secret: str, primaries: dict[str, tuple[int, str]]) -> str:
    """Knot's configuration: listening on 127.0.0.1:``listen_port``, one
    catalog per primary (``{remote id: (its DNS port on 127.0.0.1, its
    catalog zone)}``), NOTIFY accepted from loopback with the ``xfr-key``
    TSIG key whose ``secret`` the primaries share."""
    remotes = "".join(f"  - id: {name}\n    address: 127.0.0.1@{port}\n    key: xfr-key\n"
                      for name, (port, _catalog) in primaries.items())
    templates = "".join(f"  - id: member-{name}\n    storage: \"{tmp}/zones\"\n    master: {name}\n    acl: notify\n"
                        for name in primaries)
    zones = "".join(f"  - domain: {catalog}\n    master: {name}\n    acl: notify\n"
                    f"    catalog-role: interpret\n    catalog-template: member-{name}\n"
                    for name, (_port, catalog) in primaries.items())
    return f"""
server:
    rundir: "{tmp}"
    listen: 127.0.0.1@{listen_port}
database:
    storage: "{tmp}"
log:
  - target: stderr
    any: info
key:
  - id: xfr-key
    algorithm: hmac-sha256
    secret: {secret}
remote:
{remotes}acl:
  - id: notify
    address: 127.0.0.1
    key: xfr-key
    action: notify
template:
  - id: default
    storage: "{tmp}/zones"
{templates}zone:
{zones}"""
