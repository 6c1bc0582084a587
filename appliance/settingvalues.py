"""The value checkers of the settings schema (:mod:`appliance.settings`):
each takes a value as TOML gave it and returns it parsed, or raises
ValueError with what was expected (the schema adds the file, section and
key)."""

from __future__ import annotations

import base64
import ipaddress
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from . import brandrules
from .errors import ApplianceError

_HOST_RE = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


def hostname(value: Any) -> str:
    if not isinstance(value, str) or not _HOST_RE.match(value.lower()):
        raise ValueError("expected a fully qualified host name")
    return value.lower()


def optional_hostname(value: Any) -> str:
    """"" or a host name (trailing dot allowed, dropped)."""
    text = string(value).rstrip(".")
    return hostname(text) if text else ""


def address_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError("expected a list of IP addresses")
    out = []
    for item in value:
        try:
            out.append(str(ipaddress.ip_address(item)))
        except (ValueError, TypeError):
            raise ValueError(f"{item!r} is not an IP address") from None
    return tuple(out)


def str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return tuple(value)


def network_list(value: Any) -> tuple[str, ...]:
    out = []
    for item in str_list(value):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not a network such as 192.0.2.0/24") from None
    return tuple(out)


def host_list(value: Any) -> tuple[str, ...]:
    return tuple(hostname(v) for v in str_list(value))


def integer(lo: int, hi: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"expected a whole number from {lo} to {hi}")
        return value

    check.__doc__ = f"integer {lo}..{hi}"
    return check


def port(value: Any) -> int:
    # 0 asks the kernel for a free port (tests); the bound port is written
    # to <state>/run/listeners.json.
    return integer(0, 65535)(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def local_part(value: Any) -> str:
    """"" or a plain local part of an address (letters, digits, ``._+-``)."""
    text = string(value).lower()
    if text and not re.fullmatch(r"[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?", text):
        raise ValueError("expected a local part such as postmaster (letters, digits, . _ + -)")
    return text


def choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError("expected one of " + ", ".join(options))
        return value

    return check


_TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")


def secondaries(value: Any) -> tuple[Mapping[str, Any], ...]:
    """``[{address, port, tsig_name, tsig_algorithm, tsig_secret}, ...]`` (DNS secondaries)."""
    if not isinstance(value, list) or len(value) > 16:
        raise ValueError("expected a list of at most 16 tables {address, port, tsig_name, tsig_algorithm, tsig_secret}")
    out = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"address", "port", "tsig_name", "tsig_algorithm", "tsig_secret"}:
            raise ValueError("each secondary is a table of address, port, tsig_name, tsig_algorithm, tsig_secret")
        entry = {
            "address": address_list([item.get("address")])[0],
            "port": integer(1, 65535)(item.get("port", 53)),
            "tsig_name": string(item.get("tsig_name", "")).lower().rstrip("."),
            "tsig_algorithm": choice(*_TSIG_ALGORITHMS)(item.get("tsig_algorithm", "hmac-sha256")),
            "tsig_secret": string(item.get("tsig_secret", "")),
        }
        if bool(entry["tsig_name"]) != bool(entry["tsig_secret"]):
            raise ValueError("tsig_name and tsig_secret go together")
        if entry["tsig_secret"]:
            try:
                base64.b64decode(entry["tsig_secret"], validate=True)
            except ValueError:
                raise ValueError("tsig_secret is not base64") from None
        out.append(MappingProxyType(entry))
    return tuple(out)


def nameservers(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``["ns1.fleet.example", {name = "ns2.fleet.example", addresses = ["192.0.2.53"]}]``:
    (name, glue addresses) pairs, 2-8 of them, no name twice."""
    if not isinstance(value, list) or len(value) > 8:
        raise ValueError("expected a list of at most 8 name servers")
    out: list[tuple[str, tuple[str, ...]]] = []
    for item in value:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or set(item) - {"name", "addresses"} or "name" not in item:
            raise ValueError("each name server is a host name or a table {name, addresses}")
        name = optional_hostname(item["name"])
        if not name:
            raise ValueError("a name server needs a name")
        if name in (n for n, _ in out):
            raise ValueError(f"name server {name} is listed twice")
        out.append((name, address_list(item.get("addresses", []))))
    if len(out) == 1:
        raise ValueError("at least two name servers (RFC 1034 section 4.1), or none for ns1/ns2 of [box] domain")
    return tuple(out)


def dns_label(value: Any) -> str:
    """"" or one host-name label (``mail``)."""
    text = string(value).lower()
    if text and not re.fullmatch(r"(?!-)[a-z0-9-]{1,63}(?<!-)", text):
        raise ValueError("expected one label of a-z, 0-9 and - (like mail)")
    return text


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_HOSTPORT_RE = re.compile(r"\[(?P<v6>[0-9a-fA-F:.]+)\](?::(?P<p1>\d{1,5}))?|(?P<host>[0-9A-Za-z.-]+)(?::(?P<p2>\d{1,5}))?|(?P<bare6>[0-9a-fA-F:]*:[0-9a-fA-F:]*)")


def durations(value: Any) -> tuple[float, ...]:
    """``["30s", "5m", "2h", "1d"]`` -> seconds; at least one, none zero."""
    out = []
    for item in str_list(value):
        m = re.fullmatch(r"(\d{1,7})([smhd])", item.strip())
        if not m or int(m.group(1)) == 0:
            raise ValueError(f"{item!r} is not a duration like 30s, 5m, 2h, 1d")
        out.append(float(int(m.group(1)) * _DURATION_UNITS[m.group(2)]))
    if not out:
        raise ValueError("at least one duration is needed")
    return tuple(out)


def parse_hostport(value: str, default_port: int = 0) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address ->
    (host, port), the port ``default_port`` when none is given; ValueError
    otherwise. Host names are lower-cased."""
    m = _HOSTPORT_RE.fullmatch(value.strip())
    if not m:
        raise ValueError(f"{value!r} is not host or host:port")
    host = m.group("v6") or m.group("host") or m.group("bare6")
    if m.group("v6") or m.group("bare6"):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{value!r}: {host!r} is not an IPv6 address") from None
    elif not _HOST_RE.match(host.lower()) and not is_ipv4(host):
        raise ValueError(f"{value!r}: {host!r} is neither a host name nor an IP address")
    port = int(m.group("p1") or m.group("p2") or default_port)
    if not 0 <= port <= 65535 or (port == 0 and (m.group("p1") or m.group("p2"))):
        raise ValueError(f"{value!r}: port out of range")
    return host.lower(), port


def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def optional_hostport(value: Any) -> tuple[str, int] | None:
    """"" -> None; else :func:`parse_hostport` with port 0 meaning "the default"."""
    text = string(value)
    return parse_hostport(text) if text.strip() else None


def resolver(value: Any) -> tuple[str, int] | None:
    """A DNS resolver: "" -> None, else an IP address with an optional port (53)."""
    text = string(value)
    if not text.strip():
        return None
    host, port = parse_hostport(text, 53)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r}: a resolver is an IP address (a name would need a resolver itself)") from None
    return host, port


def routes(value: Any) -> Mapping[str, tuple[str, int]]:
    """``["domain=host:port", ...]`` -> {domain: (host, port)}."""
    routes = {}
    for item in str_list(value):
        domain, sep, target = item.strip().lower().partition("=")
        if not sep or not _HOST_RE.match(domain):
            raise ValueError(f"{item!r} is not domain=host:port")
        host, port = parse_hostport(target)
        if port == 0:
            raise ValueError(f"{item!r}: the route needs a port (domain=host:port)")
        routes[domain] = (host, port)
    return MappingProxyType(routes)


def replica_url(value: Any) -> str:
    """"" (off), ``s3://bucket[/prefix]`` or ``file:///absolute/dir``."""
    text = string(value).strip()
    if not text:
        return ""
    m = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[A-Za-z0-9._/-]*)?", text)
    if m:
        return text.rstrip("/")
    if re.fullmatch(r"file:///[^\x00]*", text):
        return text.rstrip("/")
    raise ValueError("expected s3://BUCKET/PREFIX or file:///DIR")


def brand(check: Callable[[str], str]) -> Callable[[Any], str]:
    """A ``[brand]`` string checked by :mod:`appliance.brandrules`; its
    default "" is left as is (the box decides what an unset key means)."""

    def parse(value: Any) -> str:
        text = string(value)
        if not text.strip():
            return ""
        try:
            return check(text)
        except ApplianceError as exc:
            raise ValueError(str(exc)) from None

    return parse


def brand_logo(value: Any) -> str:
    """"" or an absolute path to a JPEG, PNG, WebP or HEIC logo that the
    panel can show (read and converted now, so a bad file stops the start)."""
    text = string(value).strip()
    if not text:
        return ""
    path = Path(text)
    if not path.is_absolute():
        raise ValueError("expected an absolute path to the logo file")
    try:
        with open(path, "rb") as fh:
            data = fh.read(brandrules.MAX_LOGO_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {text}: {exc.strerror}") from None
    try:
        brandrules.logo(data, text)
    except ApplianceError as exc:
        raise ValueError(str(exc)) from None
    return text


def fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.05 <= value <= 0.95:
        raise ValueError("expected a number from 0.05 to 0.95")
    return float(value)


def http_url(value: Any) -> str:
    """"" or ``http://host:port`` (no path: the protocol's paths are fixed)."""
    text = string(value).strip().rstrip("/")
    if not text:
        return ""
    m = re.fullmatch(r"http://(.+)", text)
    if not m:
        raise ValueError(f"{text!r} is not http://host:port")
    host, port = parse_hostport(m.group(1))
    if port == 0:
        raise ValueError(f"{text!r}: the URL needs a port")
    return text


def score(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1000 <= value <= 1000:
        raise ValueError("expected a number from -1000 to 1000")
    return float(value)
