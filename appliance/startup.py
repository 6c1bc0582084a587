"""The start order of the protocol packages the daemon runs.

Each module named here has ``start(app)`` which binds its listeners and
returns (or resolves to) an object with ``stop()`` (plain or async). The
daemon starts them in this order and stops them in reverse.
"""

SERVICES: tuple[str, ...] = (
    "protocols.metrics",
    "protocols.dns",
    "protocols.smtp",
    "protocols.imap",
    "protocols.dav",
    "protocols.web",
    # After DNS and web: it publishes ACME challenges through them.
    "appliance.certs",
)
