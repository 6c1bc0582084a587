"""What the benchmarks read from a running daemon and the machine: its
Prometheus metrics (``/metrics`` on the metrics listener), the event loop's
lag over a run from the ``appliance_loop_lag_seconds`` histogram, and the
load average printed before each run (the machine is shared).
"""

from __future__ import annotations

import math
import os
import re
import urllib.request
from pathlib import Path

_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$", re.M)
_LE = re.compile(r'le="([^"]+)"')
LAG = "appliance_loop_lag_seconds"
LAG_MAX = "appliance_loop_lag_max_seconds"


def scrape(port: int, timeout: float = 30) -> dict[str, float]:
    """Every sample of the daemon's metrics: ``name{labels}`` -> value."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout).read().decode()
    return {name + (labels or ""): float(value) for name, labels, value in _SAMPLE.findall(body)}


def metric(samples: dict[str, float], name: str) -> float:
    return samples.get(name, math.nan)


def buckets(samples: dict[str, float], histogram: str) -> list[tuple[float, float]]:
    """(upper bound, cumulative count) of a histogram without labels, in order."""
    out = []
    for key, value in samples.items():
        if key.startswith(histogram + "_bucket{"):
            out.append((float(_LE.search(key).group(1)), value))
    return sorted(out)


def quantile(cumulative: list[tuple[float, float]], q: float) -> float:
    """The q-quantile of a cumulative histogram, interpolated linearly
    inside its bucket (as Prometheus' histogram_quantile); the last finite
    bound when it falls in the +Inf bucket; nan when empty."""
    if not cumulative or cumulative[-1][1] <= 0:
        return math.nan
    rank = q * cumulative[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def lag_between(before: dict[str, float], after: dict[str, float], stall: float = 0.1) -> dict[str, float]:
    """The loop's lag over the time between two scrapes: samples, p50,
    p99, the number of samples above ``stall`` seconds, and the largest
    (exact when the daemon's all-time maximum rose meanwhile, else the
    upper bound of the highest bucket that got a sample)."""
    b = dict(buckets(before, LAG))
    delta = [(bound, count - b.get(bound, 0.0)) for bound, count in buckets(after, LAG)]
    samples = delta[-1][1] if delta else 0.0
    over = samples - next((count for bound, count in delta if bound >= stall), samples)
    if metric(after, LAG_MAX) > metric(before, LAG_MAX):
        largest, exact = metric(after, LAG_MAX), True
    else:
        largest, exact = 0.0, False
        below = 0.0
        for bound, count in delta:
            if count > below:
                largest = bound
            below = count
    p50, p99 = quantile(delta, 0.5), quantile(delta, 0.99)
    if exact:  # interpolation inside a wide bucket may overshoot the real largest
        p50, p99 = min(p50, largest), min(p99, largest)
    return {"samples": samples, "p50": p50, "p99": p99, "over_stall": over, "max": largest, "max_exact": exact,
            "buckets": delta}


def merged(lags: list[dict]) -> list[tuple[float, float]]:
    """The cumulative buckets of several :func:`lag_between` results summed."""
    total: dict[float, float] = {}
    for lag in lags:
        for bound, count in lag["buckets"]:
            total[bound] = total.get(bound, 0.0) + count
    return sorted(total.items())


def loop_thread_times(pid: int) -> tuple[float, float]:
    """Seconds the process's main thread (the daemon's event loop) has
    spent on a CPU and waiting in the run queue for one (Linux schedstat):
    waiting is time other threads and processes held the loop up."""
    on_cpu, waiting, _slices = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    return int(on_cpu) / 1e9, int(waiting) / 1e9


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"
