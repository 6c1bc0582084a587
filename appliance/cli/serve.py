"""``appliance serve``, ``appliance demo`` and ``appliance config-reference``."""

from __future__ import annotations

import argparse
import sys

from appliance import logs
from appliance import settings as settings_mod
from appliance.errors import Conflict, NotFound

DEMO_SLUG = "demo"
DEMO_USERS = (("alice", "Alice Baker"), ("bob", "Bob Baker"))
#: The demo's operator account (the reseller's side of the panel).
DEMO_OPERATOR = "demo"


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("serve", help="run the daemon in the foreground")
    a.add_argument("--config", dest="serve_config", metavar="FILE", help="config file (same as the global --config)")
    a.set_defaults(handler=_serve)

    a = sub.add_parser("demo", help="run the daemon with a demo business and print how to connect")
    a.set_defaults(handler=_demo)

    a = sub.add_parser("config-reference", help="print the configuration reference (Markdown)")
    a.set_defaults(handler=lambda ctx: sys.stdout.write(settings_mod.reference()))


def _log_level(ctx) -> None:
    """The daemon logs at ``[log] level`` (``-v``: DEBUG)."""
    logs.setup("DEBUG" if ctx.args.verbose else ctx.settings.log.level)


def _serve(ctx) -> int:
    from appliance.daemon import serve

    if ctx.args.serve_config:
        ctx.args.config = ctx.args.serve_config
        ctx._settings = None
    _log_level(ctx)
    return serve(ctx.settings, ctx.state_dir)


def _demo(ctx) -> int:
    """Create (or refresh) the demo business, then serve and print how to connect."""
    from appliance.daemon import serve

    _log_level(ctx)
    core, actor = ctx.core, ctx.actor
    domain = core.stores.free_domain(DEMO_SLUG)
    try:
        core.businesses.show(DEMO_SLUG)
    except NotFound:
        core.businesses.create(DEMO_SLUG, "Demo Bakery", actor=actor)
    existing = {p.address for p in core.people.list(DEMO_SLUG)}
    logins = []
    for local, name in DEMO_USERS:
        address = f"{local}@{domain}"
        if address in existing:
            password = core.people.set_password(address, actor=actor)
        else:
            password = core.people.add(address, None, name, actor=actor)
        logins.append((address, password))
    if not any(a.address == f"info@{domain}" for a in core.addresses.list(DEMO_SLUG)):
        core.addresses.add(f"info@{domain}", [address for address, _ in logins], actor=actor)
    _demo_site(core, actor)
    operator = _demo_operator(core, actor)
    # The daemon builds its own App; release this one's files first.
    ctx.close()
    ctx._app = None
    return serve(_demo_settings(ctx.settings), ctx.state_dir,
                 on_ready=lambda app: print(_banner(app, logins, operator), flush=True))


def _demo_operator(core, actor: str):
    """The operator ``demo``, with a new password and a new TOTP secret on
    every start (set up from its QR code at the first sign-in)."""
    if any(o.name == DEMO_OPERATOR for o in core.operators.list()):
        password = core.operators.set_password(DEMO_OPERATOR, actor=actor)
        credentials = core.operators.reset_2fa(DEMO_OPERATOR, actor=actor)
        return credentials, password
    credentials = core.operators.add(DEMO_OPERATOR, actor=actor)
    return credentials, credentials.password


def _demo_settings(settings):
    """The demo's settings: the control panel also over plain HTTP from
    this computer (the browser would otherwise stop at the self-signed
    certificate); every other client is still sent to HTTPS. A domain's
    live check asks the box's own DNS server unless a resolver is set: a
    demo has no registrar, so the box is the world's DNS for its domains.
    Self-service sign-up is on unless the settings say otherwise, so that a
    reseller trying the box sees it."""
    raw = dict(settings.raw)
    raw["signup"] = {"enabled": True, **raw.get("signup", {})}
    panel = {**raw.get("panel", {}), "plain_http_loopback": True}
    dns_port = settings.listen.dns
    if not settings.panel.check_resolver and dns_port:
        panel["check_resolver"] = f"{settings.listen.addresses[0]}:{dns_port}"
    raw["panel"] = panel
    return settings_mod.from_mapping(raw, settings.source or "<demo>")


def _demo_site(core, actor: str) -> None:
    """A website built with the site builder, so the demo shows one: started
    with the ``warm`` theme the first time, rebuilt on every start."""
    try:
        core.site_builder.start(DEMO_SLUG, "warm", actor=actor)
    except Conflict:
        pass
    core.site_builder.build(DEMO_SLUG, actor=actor)


#: (label, listener names, how to show them) for the how-to-connect block.
_CONNECT = (
    ("incoming mail (SMTP, MX)", ("smtp",), "{host}:{smtp}"),
    ("sending (submission+STARTTLS)", ("submission",), "{host}:{submission}"),
    ("sending (submission over TLS)", ("submissions",), "{host}:{submissions}"),
    ("IMAP (STARTTLS) / IMAPS", ("imap", "imaps"), "{host}:{imap} / {host}:{imaps}"),
    ("mail rules (ManageSieve)", ("managesieve",), "{host}:{managesieve}"),
    ("DNS (UDP and TCP)", ("dns",), "{host}:{dns}"),
    ("web and DAV (HTTP / HTTPS)", ("http", "https"), "http://{host}:{http}/  https://{host}:{https}/"),
    ("metrics", ("metrics",), "http://127.0.0.1:{metrics}/metrics"),
)


def _banner(app, logins, operator) -> str:
    """How to connect, listing only what is really listening."""
    host = app.settings.listen.addresses[0]
    ports = {name: binds[0][1] for name, binds in app.listeners.items()}
    lines = [
        "",
        "The appliance is running with the demo business 'demo' (Ctrl-C stops it).",
        "",
        "Logins (full address and password; passwords are new on every start):",
    ]
    lines += [f"  {address}  {password}" for address, password in logins]
    lines += [
        f"  info@{app.core.stores.free_domain(DEMO_SLUG)} reaches both.",
        f"  {logins[0][0]} is the business's owner; the others are staff.",
        "",
    ]
    if "https" in ports:
        lines += [
            "Control panel (sign in with a login above):",
            f"  https://{host}:{ports['https']}/   (HTTPS, self-signed certificate)",
        ]
        if "http" in ports:
            lines.append(f"  http://{host}:{ports['http']}/    (plain HTTP: the demo allows it on this computer only)")
        credentials, password = operator
        lines += [
            "",
            "Operator pages (every business; two-step sign-in set up from a QR code at the first sign-in):",
            f"  https://{host}:{ports['https']}/operator   name {credentials.name}  password {password}",
            f"  TOTP secret {credentials.totp_secret} (new on every start)",
        ]
        if app.settings.signup.enabled:
            lines.append(f"  New businesses sign up at https://{host}:{ports['https']}/signup")
        resolver = app.settings.panel.check_resolver
        if resolver:
            lines.append(f"  A domain's live check asks {resolver[0]}:{resolver[1]}, the box's own DNS server.")
        lines.append("")
    lines += [
        "How to connect (self-signed certificate; accept it in the client):",
    ]
    for label, names, template in _CONNECT:
        if all(name in ports for name in names):
            lines.append(f"  {label:<30}{template.format(host=host, **ports)}")
    if "http" in ports:
        site = app.core.stores.free_domain(DEMO_SLUG)
        lines.append(f"  {'website (site builder, warm)':<30}curl -H 'Host: {site}' http://{host}:{ports['http']}/")
    lines += ["", f"State directory: {app.state_dir}", ""]
    return "\n".join(lines)
