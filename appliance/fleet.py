"""The names the world and a business's clients see: the same on every box
of a fleet, so that a business moves between boxes with one change in DNS.

* The name servers every zone names in NS (``[dns] nameservers``): a
  fleet's secondaries, with each box a hidden primary behind them. A single
  box with none set is its own fleet: ``ns1``/``ns2`` of ``[box] domain``
  at the box's addresses, as always.
* The free domain of a business, ``<slug>.<[box] free_domain>`` (the box
  domain unless set), which an import within the fleet keeps.
* The client host name of each mail domain, ``<[box] client_label>.<domain>``
  (``mail.bakery.example``): what MX, SRV and every client set-up answer
  give. Unset, it is ``[box] hostname`` for every domain.

Settings in, names out; nothing here reads a database.
"""

from __future__ import annotations

from typing import Any

#: Labels of the box's own name servers when no fleet ones are set.
DEFAULT_NS_LABELS = ("ns1", "ns2")


def nameservers(settings: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``(name, addresses)`` of every name server, in NS order. The
    addresses are the glue published where the name lies in a zone of the
    box (empty for a name outside them)."""
    if settings.dns.nameservers:
        return tuple(settings.dns.nameservers)
    box = settings.box
    return tuple((f"{label}.{box.domain}", tuple(box.ipv4) + tuple(box.ipv6)) for label in DEFAULT_NS_LABELS)


def free_parent(settings: Any) -> str:
    """The domain under which every business gets its free one."""
    return settings.box.free_domain or settings.box.domain


def free_domain(settings: Any, slug: str) -> str:
    """The free domain of business ``slug``: ``<slug>.<free parent>``."""
    return f"{slug}.{free_parent(settings)}"


def under_reserved(settings: Any, domain: str) -> bool:
    """Whether ``domain`` is the box domain, the free domains' parent, or
    under either: no business may add such a domain as its own."""
    return any(domain == d or domain.endswith("." + d) for d in {settings.box.domain, free_parent(settings)})


def client_host(settings: Any, domain: str) -> str:
    """The host name the clients of mail domain ``domain`` are given."""
    return host_for(settings.box.client_label, settings.box.hostname, domain)


def host_for(label: str, hostname: str, domain: str) -> str:
    """The one rule: ``<label>.<domain>``, or the box's ``hostname`` when
    there is no label (the zones call it with their own copy of both)."""
    return f"{label}.{domain}" if label else hostname


def client_domain(settings: Any, host: str) -> str | None:
    """The mail domain whose client host name ``host`` would be (the part
    after ``<client_label>.``), or None when client host names are off or
    ``host`` does not start with the label. Whether some business has that
    domain is the caller's question."""
    label = settings.box.client_label
    if label and host.startswith(label + "."):
        return host[len(label) + 1:]
    return None
