"""dig and kdig against one of our DNS listeners."""

from __future__ import annotations

import subprocess
import time
from typing import Callable


def dig_runner(port: int) -> Callable[..., str]:
    """``dig(*args, tool="dig"|"kdig")``: the tool's output for a query to
    127.0.0.1:``port``, one try with a 5 s timeout; a non-zero exit raises."""

    def dig(*args: str, tool: str = "dig") -> str:
        limits = ["+tries=1", "+time=5"] if tool == "dig" else ["+retry=0", "+timeout=5"]
        cmd = [tool, "@127.0.0.1", "-p", str(port), *limits, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout

    return dig


def wait_for_zone(dig: Callable[..., str], zone: str, seconds: float = 15) -> None:
    """Wait until the server answers the zone's SOA (the daemon loads zones
    after its listeners are up)."""
    deadline = time.monotonic() + seconds
    while "NOERROR" not in dig(zone, "SOA"):
        assert time.monotonic() < deadline, f"zone {zone} did not appear"
        time.sleep(0.2)
