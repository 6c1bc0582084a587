"""Certificates: what the box holds (ACME-issued and the box's own), and
asking the running daemon to renew.

Listing reads the box database and every business's file. A renewal is a
request row in the box database plus a generation bump; the daemon's
renewer sees it within a second, renews, and writes the result back.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from cryptography import x509
from cryptography.x509.oid import NameOID

from storage import box as boxdb
from storage import certs as certdb

from storage import names
from ..errors import ApplianceError, NotFound
from .base import Stores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Certificate:
    name: str
    names: list[str]
    business: str | None  # None: the box's
    issuer: str | None
    not_after: str | None
    status: str  # valid | renew | expired | failed | pending | self-signed ...
    challenge: str | None
    last_error: str | None
    next_attempt: str | None
    source: str  # acme | tls

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Renewal:
    """The daemon's answer to a renewal request (None while it works)."""

    name: str | None
    ok: bool
    result: str

    def as_dict(self) -> dict:
        return asdict(self)


def _when(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(timespec="seconds")


def daemon_pid(state_dir: Path) -> int | None:
    """The pid of the daemon serving ``state_dir``, or None if none runs."""
    try:
        pid = int(json.loads((state_dir / "run" / "listeners.json").read_text())["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid


def _certificate(slug: str | None, row: dict, fraction: float) -> Certificate:
    # The ACME client (and its HTTP stack) loads only when certificates
    # are listed, not for every other command of the CLI.
    from ..certs.renew import status

    return Certificate(
        name=row["name"],
        names=row["names"],
        business=slug,
        issuer=row["issuer"],
        not_after=_when(row["not_after"]),
        status=status(row, fraction),
        challenge=row["challenge"] or None,
        last_error=row["last_error"],
        next_attempt=_when(row["next_attempt"]) if row["last_error"] else None,
        source="acme",
    )


class Certificates:
    def __init__(self, stores: Stores, box_certificate: Callable[[], tuple[Path, Path]]):
        """``box_certificate`` returns the box certificate and key files
        (``App.certificate_files``: configured, or self-signed)."""
        self.stores = stores
        self.box_certificate = box_certificate

    def _box_default(self) -> Certificate:
        """The row for the box certificate of ``[tls]`` (or the self-signed one)."""
        hostname = self.stores.settings.box.hostname
        cert_file, _ = self.box_certificate()
        cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            sans = []
        return Certificate(
            name=hostname,
            names=sans or [hostname],
            business=None,
            issuer=issuer[0].value if issuer else cert.issuer.rfc4514_string(),
            not_after=_when(cert.not_valid_after_utc.timestamp()),
            status="self-signed" if cert.issuer == cert.subject else "valid",
            challenge=None,
            last_error=None,
            next_attempt=None,
            source="tls",
        )

    def list(self) -> list[Certificate]:
        """Every certificate: the box's, then each business's; the box
        certificate of ``[tls]`` first while ACME has none for the host name.
        Changes nothing."""
        stores = self.stores
        fraction = stores.settings.acme.renew_fraction
        found: list[tuple[str | None, dict]] = [(None, r) for r in stores.box.read_sync("certificates", certdb.list_certificates)]
        for tenant in stores.box.read_sync("certificate owners", boxdb.list_tenants):
            handle = stores.handle(tenant["slug"])
            found += [(tenant["slug"], r) for r in handle.read_sync("certificates", certdb.list_certificates)]
        rows = [_certificate(slug, r, fraction) for slug, r in found]
        hostname = stores.settings.box.hostname
        box_row = next((r for r in rows if r.business is None and r.name == hostname), None)
        if box_row is None or box_row.status == "pending" or (box_row.status == "failed" and box_row.issuer is None):
            rows.insert(0, self._box_default())
        return rows

    def for_business(self, slug: str) -> list[Certificate]:
        """The certificates ACME keeps for business ``slug`` (none until the
        daemon has asked for one). Raises InvalidInput, NotFound. Changes
        nothing."""
        fraction = self.stores.settings.acme.renew_fraction
        rows = self.stores.handle(slug).read_sync("certificates", certdb.list_certificates)
        return [_certificate(slug, r, fraction) for r in rows]

    def check_name(self, name: str) -> str:
        """``name`` normalised ("" stays "": every certificate).

        Checks: a valid name (``*.`` allowed) that is the box host name or a
        name of a business domain (the domain, or one label below it).
        Raises InvalidInput, NotFound. Changes nothing.
        """
        name = name.strip().lower().rstrip(".")
        if not name:
            return name
        bare = name[2:] if name.startswith("*.") else name
        names.domain(bare)
        if bare == self.stores.settings.box.hostname:
            return name
        domains = set(self.stores.box.read_sync("certificate names", boxdb.all_domains))
        if bare in domains or ("." in bare and bare.split(".", 1)[1] in domains):
            return name
        raise NotFound(f"{bare} is not a name of this box or of any business")

    def request_renewal(self, name: str = "", *, actor: str) -> int:
        """Ask the running daemon to renew ``name``'s certificate now (every
        one when ``name`` is empty); returns the request id to poll with
        :meth:`renewal`.

        Checks: ``name`` (:meth:`check_name`); ACME is configured and on; the daemon runs.
        Changes: a request row and the box generation. Raises InvalidInput,
        NotFound, ApplianceError.
        """
        name = self.check_name(name)
        acme = self.stores.settings.acme
        if not acme.directory or not acme.enabled:
            raise ApplianceError("ACME is off: set [acme] directory (and enabled = true) in the config")
        if daemon_pid(self.stores.state_dir) is None:
            raise ApplianceError(f"the daemon is not running for {self.stores.state_dir}: start it (appliance serve) first")

        def ask(conn) -> int:
            request_id = certdb.add_request(conn, name)
            boxdb.bump_generation(conn)
            return request_id

        request_id = self.stores.box.write_sync("certificate renew", ask)
        log.info("certificate renewal of %s requested by %s (request %d)", name or "every name", actor, request_id)
        return request_id

    def renewal(self, request_id: int) -> Renewal | None:
        """The daemon's answer to request ``request_id``, or None while it
        works (or when there is no such request)."""
        row = self.stores.box.read_sync("certificate request", lambda c: certdb.get_request(c, request_id))
        if not row or row["finished"] is None:
            return None
        return Renewal(row["name"] or None, bool(row["ok"]), row["result"])
