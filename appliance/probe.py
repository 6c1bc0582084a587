"""Asking a running daemon whether it is healthy, from outside it.

The daemon writes the listeners it bound, with its pid, to
``<state>/run/listeners.json`` once every service has started; the metrics
listener answers ``/healthz`` (:mod:`appliance.health`). :func:`wait_healthy`
is what an upgrade waits on before it keeps a new version.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from .errors import ApplianceError

log = logging.getLogger(__name__)

#: Seconds between two looks while waiting.
INTERVAL = 0.5


class NotHealthy(ApplianceError):
    """The daemon did not answer ``/healthz`` with ``ok`` in time (says why)."""


def look(state_dir: str | Path, timeout: float = 5) -> dict:
    """One look: the daemon of ``state_dir``'s ``/healthz`` answer
    (``{"status": "ok", ...}``). Raises NotHealthy saying what is missing:
    no run file, a dead pid, no metrics listener, no answer, or a failing
    check."""
    run_file = Path(state_dir) / "run" / "listeners.json"
    try:
        data = json.loads(run_file.read_text())
    except FileNotFoundError:
        raise NotHealthy(f"the daemon has not started ({run_file} is missing)") from None
    except ValueError:
        raise NotHealthy(f"{run_file} is unreadable") from None
    pid = data.get("pid")
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        raise NotHealthy(f"the daemon that wrote {run_file} (pid {pid}) is gone") from None
    except PermissionError:
        pass  # alive, another user's
    metrics = data.get("listeners", {}).get("metrics")
    if not metrics:
        raise NotHealthy("the daemon has no metrics listener ([listen] metrics_enabled) to ask /healthz")
    # A wildcard listener answers on loopback too.
    host, port = listener(state_dir, "metrics") or metrics[0]
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        body = response.read()
    except OSError as exc:
        raise NotHealthy(f"/healthz on {host}:{port} did not answer: {exc}") from None
    finally:
        conn.close()
    try:
        answer = json.loads(body)
    except ValueError:
        raise NotHealthy(f"/healthz on {host}:{port} answered {response.status} without JSON") from None
    if response.status != 200 or answer.get("status") != "ok":
        raise NotHealthy(f"/healthz on {host}:{port} answered {response.status}: failing "
                         f"{', '.join(answer.get('failing') or ['?'])}")
    return answer


def listener(state_dir: str | Path, name: str) -> tuple[str, int] | None:
    """The first address the running daemon of ``state_dir`` bound for
    ``name`` (``"dns"``, ``"smtp"``...; a wildcard given as loopback), or
    None when no daemon has written its listeners or it has none of that
    name."""
    try:
        data = json.loads((Path(state_dir) / "run" / "listeners.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    bound = data.get("listeners", {}).get(name)
    if not bound:
        return None
    host, port = bound[0]
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host), int(port)


def serves_apex(address: tuple[str, int], domain: str) -> bool:
    """Whether the DNS server at ``address`` answers ``domain``'s SOA as a
    zone of its own (True too when it does not answer: not known dropped)."""
    query = dns.message.make_query(domain, "SOA")
    try:
        answer = dns.query.udp(query, address[0], port=address[1], timeout=1.0)
    except (OSError, dns.exception.DNSException):
        return True
    return answer.rcode() == dns.rcode.NOERROR and any(
        rrset.rdtype == dns.rdatatype.SOA and rrset.name == query.question[0].name for rrset in answer.answer)


def wait_healthy(state_dir: str | Path, seconds: float) -> dict:
    """Look every :data:`INTERVAL` until the daemon answers ``ok`` or
    ``seconds`` have passed; the answer, or NotHealthy with the last reason."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return look(state_dir)
        except NotHealthy as exc:
            if time.monotonic() >= deadline:
                raise NotHealthy(f"not healthy after {seconds:g} s: {exc}") from None
            log.debug("waiting: %s", exc)
        time.sleep(INTERVAL)


__all__ = ["NotHealthy", "listener", "look", "serves_apex", "wait_healthy"]
