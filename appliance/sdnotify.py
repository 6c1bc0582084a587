"""The systemd notification protocol (sd_notify(3)), without libsystemd.

A datagram to the socket named by ``$NOTIFY_SOCKET``; a no-op when the
variable is unset (not under systemd, or Type= is not notify).

The watchdog (sd_watchdog_enabled(3)): with ``WatchdogSec=`` in the unit,
systemd sets ``$WATCHDOG_USEC``; :func:`keep_alive`, a task on the event
loop, sends ``WATCHDOG=1`` every half of it. A loop that stalls stops
sending, and systemd kills and restarts the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send ``message`` (e.g. ``READY=1``); True if it was sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        # Abstract namespace socket (sd_notify(3)).
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("cannot notify systemd: %s", exc)
        return False
    return True


def watchdog_seconds() -> float | None:
    """The watchdog interval systemd asks for, or None when there is none
    (no ``$WATCHDOG_USEC``, or ``$WATCHDOG_PID`` names another process)."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000


async def keep_alive(interval: float) -> None:
    """Send ``WATCHDOG=1`` every ``interval / 2`` seconds, from the loop,
    until cancelled."""
    log.info("systemd watchdog: pinging every %.1fs", interval / 2)
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval / 2)
