"""Runs of one load against several servers, back to back, round after
round, and what can be said of them.

A benchmark on a shared two-core machine is only as good as the quiet it
ran in. :class:`Rounds` takes the 1-minute load average before each run,
prints every run as it ends (marked ``UNRELIABLE`` when the load was above
``max_load``: something else held a core), and at the end each server's
median over its reliable runs (over all runs, said so, when none is), its
min, max and spread, and the ratio of medians to the reference server.
Servers alternate within a round, so a change in the machine's load hits
them alike.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field


def load_average() -> float:
    """The machine's 1-minute load average now."""
    return os.getloadavg()[0]


@dataclass
class Run:
    server: str
    round: int
    load: float
    value: float
    detail: str = ""


@dataclass
class Rounds:
    """See the module doc. ``unit`` names the value (``ops/s``); higher is
    better. ``reference`` is the server the ratios are to."""

    title: str
    unit: str
    reference: str
    max_load: float = 1.5
    runs: list[Run] = field(default_factory=list)

    def header(self) -> None:
        print(f"{self.title}: {'round':>5} {'server':<10} {'loadavg':>7} {self.unit:>12}", flush=True)

    def record(self, server: str, round_no: int, load: float, value: float, detail: str = "") -> None:
        """One run's result, printed at once."""
        self.runs.append(Run(server, round_no, load, value, detail))
        mark = "  UNRELIABLE (load)" if load > self.max_load else ""
        extra = f"  {detail}" if detail else ""
        print(f"{self.title}: {round_no:>5} {server:<10} {load:>7.2f} {value:>12.1f}{extra}{mark}", flush=True)

    def medians(self) -> dict[str, float]:
        out = {}
        for server in dict.fromkeys(r.server for r in self.runs):
            out[server] = statistics.median(v for v in self._used(server))
        return out

    def _used(self, server: str) -> list[float]:
        mine = [r for r in self.runs if r.server == server]
        reliable = [r.value for r in mine if r.load <= self.max_load]
        return reliable or [r.value for r in mine]

    def summary(self) -> dict[str, float]:
        """Print each server's median, min, max and spread, and the ratios;
        returns the medians."""
        medians = self.medians()
        print(f"{self.title}:")
        for server, median in medians.items():
            mine = [r for r in self.runs if r.server == server]
            used = self._used(server)
            spread = (max(used) - min(used)) / median * 100 if median else 0.0
            reliable = sum(1 for r in mine if r.load <= self.max_load)
            note = "" if reliable else "  (every run under load: unreliable)"
            print(f"  {server:<10} median {median:>10.1f} {self.unit}  min {min(used):>10.1f}  max {max(used):>10.1f}  "
                  f"spread {spread:5.1f} %  ({len(used)} of {len(mine)} runs){note}")
        if self.reference in medians and medians[self.reference]:
            for server, median in medians.items():
                if server != self.reference:
                    print(f"  ratio {server}/{self.reference}: {median / medians[self.reference]:.2f}")
        return medians
