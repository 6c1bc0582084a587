"""Validation and normalisation of the names that come from operators and
the wire: business slugs, domains and e-mail addresses.

Everything is lower-cased ASCII (internationalised domains in their IDNA
A-label form); anything else is :class:`InvalidInput` with one clear line.
"""

from __future__ import annotations

import re

from .errors import InvalidInput

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# RFC 5321 dot-atom local part, without quoted strings: quoted locals are
# where relay tricks live ("user@other"@hosted), so they are never ours.
LOCAL_RE = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")

MAX_ADDRESS = 254
MAX_LOCAL = 64
MAX_NAME = 200


#: Slugs no new business may take: ``<slug>.<box domain>`` would look like
#: the box's own service names, or a role address's domain, to people and
#: to clients' autoconfiguration. The one list: the CLI, the operators'
#: panel and the sign-up page all create through ``new_slug``.
RESERVED_SLUGS = frozenset({
    "abuse", "admin", "administrator", "api", "autoconfig", "autodiscover", "billing", "box", "dav", "dns",
    "ftp", "help", "hostmaster", "imap", "info", "localhost", "mail", "mta-sts", "mx", "no-reply", "noreply",
    "ns", "ns1", "ns2", "ns3", "ns4", "operator", "operators", "panel", "pop", "pop3", "postmaster", "root",
    "security", "signup", "smtp", "static", "status", "submission", "support", "webmail", "webmaster", "www",
})


class ReservedSlug(InvalidInput):
    """A slug of :data:`RESERVED_SLUGS`."""


def new_slug(value: str) -> str:
    """:func:`slug`, for a business about to be made: also refuses
    :data:`RESERVED_SLUGS` (raises ReservedSlug)."""
    value = slug(value)
    if value in RESERVED_SLUGS:
        raise ReservedSlug(f"business slug {value!r} is reserved for the box", field="slug")
    return value


def slug(value: str) -> str:
    value = value.strip()
    if not SLUG_RE.match(value):
        raise InvalidInput(f"invalid business slug {value!r}: use 1-63 of a-z, 0-9 and -, not at either end",
                           field="slug")
    return value


def domain(value: str) -> str:
    """A fully qualified domain name in lower-case A-label form."""
    raw = value.strip().rstrip(".")
    try:
        ascii_name = raw.encode("idna").decode("ascii").lower() if raw else ""
    except UnicodeError:
        raise InvalidInput(f"invalid domain {value!r}", field="domain") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(LABEL_RE.match(label) for label in labels):
        raise InvalidInput(f"invalid domain {value!r}", field="domain")
    if labels[-1].isdigit():
        raise InvalidInput(f"invalid domain {value!r}: the last label cannot be numeric", field="domain")
    return ascii_name


def address(value: str) -> str:
    """``local@domain``, lower-cased, with a dot-atom local part."""
    value = value.strip()
    if len(value) > MAX_ADDRESS or value.count("@") != 1:
        raise InvalidInput(f"invalid address {value!r}", field="address")
    local, _, dom = value.rpartition("@")
    local = local.lower()
    if not local or len(local) > MAX_LOCAL or not LOCAL_RE.match(local):
        raise InvalidInput(f"invalid address {value!r}", field="address")
    try:
        dom = domain(dom)
    except InvalidInput:
        raise InvalidInput(f"invalid address {value!r}", field="address") from None
    return f"{local}@{dom}"


def alias_address(value: str) -> str:
    """An alias source: an address, or ``@domain`` for the domain's catch-all."""
    if value.strip().startswith("@"):
        return "@" + domain(value.strip()[1:])
    return address(value)


def display_name(value: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_NAME or any(ord(c) < 32 for c in value):
        raise InvalidInput(f"invalid name {value!r}: 1-{MAX_NAME} printable characters", field="name")
    return value
