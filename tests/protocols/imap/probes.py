"""Is the daemon's loop still answering? Timed DNS queries and SMTP banners
from other connections while an attack runs on IMAP.

:func:`while_running` repeats an attack in a thread for a window of time and
probes DNS and SMTP meanwhile. One slow probe on a loaded 2-core machine
proves nothing, so the check is on the median of each kind; a frozen loop
makes every probe wait (and leaves few of them), which the median catches; and no single probe may wait a second.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from tests.protocols import liveness

#: What the issue asks of other protocols while an attack runs.
ANSWER_WITHIN = 0.100
#: No single probe may wait this long (load spikes on a small box stay below).
FROZEN = 1.0


@dataclass
class Probes:
    dns: list[float] = field(default_factory=list)
    smtp: list[float] = field(default_factory=list)
    attacks: int = 0
    error: BaseException | None = None

    def assert_answering(self) -> None:
        """Each protocol answered (median) within :data:`ANSWER_WITHIN`."""
        if self.error is not None:
            raise self.error
        for name, times in (("DNS", self.dns), ("SMTP banner", self.smtp)):
            assert len(times) >= 3, f"only {len(times)} {name} probes answered while the attack ran"
            median = statistics.median(times)
            assert median < ANSWER_WITHIN, f"{name} median {median * 1000:.0f} ms while the attack ran: {sorted(times)}"
            # A loop held for a second is a freeze, however short the attack.
            assert max(times) < FROZEN, f"a {name} probe waited {max(times):.2f} s while the attack ran"

    def summary(self) -> str:
        return (f"{self.attacks} attacks; DNS median {statistics.median(self.dns) * 1000:.1f} ms of {len(self.dns)}, "
                f"SMTP median {statistics.median(self.smtp) * 1000:.1f} ms of {len(self.smtp)}")


def dns_query(port: int, name: str = "acme.test", timeout: float = 30.0) -> float:
    """Seconds until the daemon answers one UDP query (a frozen loop can
    take many seconds: the timeout is long so the figure is measured)."""
    return liveness.dns_seconds(port, name, timeout)


def smtp_banner(port: int, timeout: float = 30.0) -> float:
    """Seconds from connecting to the end of the ``220`` greeting."""
    return liveness.smtp_banner_seconds(port, timeout)


def while_running(daemon, attack: Callable[[], None], window: float = 2.5, timeout: float = 60) -> Probes:
    """Run ``attack`` again and again for ``window`` seconds (at least once)
    in a thread, probing DNS and SMTP from the calling thread meanwhile."""
    probes = Probes()
    done = threading.Event()

    def run() -> None:
        end = time.monotonic() + window
        try:
            while True:
                attack()
                probes.attacks += 1
                if time.monotonic() >= end:
                    break
        except BaseException as e:  # noqa: BLE001 - reported by assert_answering
            probes.error = e
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    dns_port, smtp_port = daemon.port("dns"), daemon.port("smtp")
    deadline = time.monotonic() + timeout
    while not done.is_set() and time.monotonic() < deadline:
        probes.dns.append(dns_query(dns_port))
        probes.smtp.append(smtp_banner(smtp_port))
        done.wait(0.03)
    thread.join(max(0.0, deadline - time.monotonic()))
    assert not thread.is_alive(), f"the attack still runs after {timeout} s"
    return probes
