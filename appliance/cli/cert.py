"""``appliance cert list|renew``: the certificates the box holds.

``list`` reads the box database and every business's file. ``renew`` asks
the running daemon: it writes a request into the box database and bumps
the generation (the daemon looks within a second), then waits for the
daemon's answer.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from pathlib import Path
from typing import Any

from appliance import names as namecheck
from appliance.errors import ApplianceError, InvalidInput, NotFound
from cryptography import x509
from cryptography.x509.oid import NameOID
from storage import box as boxdb
from storage import certs as certdb

from .common import add_json, table

#: How long ``renew`` waits for the daemon by default (seconds).
WAIT_SECONDS = 180


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cert", help="TLS certificates (ACME)")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = s.add_parser("list", help="every certificate: names, business, issuer, expiry, status")
    add_json(a)
    a.set_defaults(handler=_list)
    a = s.add_parser("renew", help="ask the running daemon to renew NAME's certificate now (every one without NAME)")
    a.add_argument("name", nargs="?", default="", help="a name the certificate holds (host name or domain)")
    a.add_argument("--wait", type=int, default=WAIT_SECONDS, metavar="SECONDS", help="how long to wait for the result")
    add_json(a)
    a.set_defaults(handler=_renew)


def _when(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(timespec="seconds")


def _box_default(ctx: Any) -> dict:
    """The row for the box certificate of ``[tls]`` (or the self-signed one)."""
    cert_file, _ = ctx.app.certificate_files()
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    self_signed = cert.issuer == cert.subject
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        sans = []
    return {
        "name": ctx.settings.box.hostname,
        "names": sans or [ctx.settings.box.hostname],
        "business": None,
        "issuer": issuer[0].value if issuer else cert.issuer.rfc4514_string(),
        "not_after": _when(cert.not_valid_after_utc.timestamp()),
        "status": "self-signed" if self_signed else "valid",
        "challenge": None,
        "last_error": None,
        "next_attempt": None,
        "source": "tls",
    }


def certificates(ctx: Any) -> list[dict]:
    """Every certificate row the CLI shows (see module doc)."""
    fraction = ctx.settings.acme.renew_fraction
    app = ctx.app
    found: list[tuple[str | None, dict]] = [(None, r) for r in app.box.read_sync("certificates", certdb.list_certificates)]
    for tenant in app.box.read_sync("certificate owners", boxdb.list_tenants):
        handle = app.provisioning.handle(tenant["slug"])
        found += [(tenant["slug"], r) for r in handle.read_sync("certificates", certdb.list_certificates)]
    # The ACME client (and its HTTP stack) loads only for this command, not
    # for every other command of the CLI.
    from appliance.certs.renew import status

    rows = []
    for slug, r in found:
        rows.append(
            {
                "name": r["name"],
                "names": r["names"],
                "business": slug,
                "issuer": r["issuer"],
                "not_after": _when(r["not_after"]),
                "status": status(r, fraction),
                "challenge": r["challenge"] or None,
                "last_error": r["last_error"],
                "next_attempt": _when(r["next_attempt"]) if r["last_error"] else None,
                "source": "acme",
            }
        )
    box_row = next((r for r in rows if r["business"] is None and r["name"] == ctx.settings.box.hostname), None)
    if box_row is None or box_row["status"] in ("pending",) or (box_row["status"] == "failed" and box_row["issuer"] is None):
        rows.insert(0, _box_default(ctx))
    return rows


def _list(ctx: Any) -> None:
    rows = certificates(ctx)

    def plain(rows: list[dict]) -> str:
        shown = [{**r, "last_error": r["last_error"] or None} for r in rows]
        return table(shown, ("name", "business", "issuer", "not_after", "status", "last_error"))

    ctx.emit(rows, plain)


def daemon_pid(state_dir: Path) -> int | None:
    """The pid of the daemon serving ``state_dir``, or None if none runs."""
    try:
        pid = int(json.loads((state_dir / "run" / "listeners.json").read_text())["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid


def _renew(ctx: Any) -> int:
    name = ctx.args.name.strip().lower().rstrip(".")
    if name:
        bare = name[2:] if name.startswith("*.") else name
        namecheck.domain(bare)
        _check_ours(ctx, bare)
    if not 1 <= ctx.args.wait <= 3600:
        raise InvalidInput("--wait: 1-3600 seconds")
    if not ctx.settings.acme.directory or not ctx.settings.acme.enabled:
        raise ApplianceError("ACME is off: set [acme] directory (and enabled = true) in the config")
    if daemon_pid(ctx.state_dir) is None:
        raise ApplianceError(f"the daemon is not running for {ctx.state_dir}: start it (appliance serve) first")
    app = ctx.app

    def ask(conn: Any) -> int:
        request_id = certdb.add_request(conn, name)
        boxdb.bump_generation(conn)
        return request_id

    request_id = app.box.write_sync("certificate renew", ask)
    deadline = time.monotonic() + ctx.args.wait
    while time.monotonic() < deadline:
        row = app.box.read_sync("certificate request", lambda c: certdb.get_request(c, request_id))
        if row and row["finished"] is not None:
            result = {"name": name or None, "ok": bool(row["ok"]), "result": row["result"]}
            if getattr(ctx.args, "json", False):
                ctx.emit(result)
            elif row["ok"]:
                print(row["result"])
            if not row["ok"]:
                raise ApplianceError(" / ".join(row["result"].splitlines()))
            return 0
        time.sleep(0.2)
    raise ApplianceError(f"no answer from the daemon within {ctx.args.wait}s; see appliance cert list")


def _check_ours(ctx: Any, name: str) -> None:
    """NotFound unless ``name`` is the box host name or a name of a
    business domain (the domain, or one label below it)."""
    if name == ctx.settings.box.hostname:
        return
    domains = set(ctx.app.box.read_sync("certificate names", boxdb.all_domains))
    if name in domains or ("." in name and name.split(".", 1)[1] in domains):
        return
    raise NotFound(f"{name} is not a name of this box or of any business")
