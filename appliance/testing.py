"""``appliance serve`` and the CLI as subprocesses, for the tests and the
benchmarks (which must not import the tests).

:class:`Daemon` starts the daemon with a given state directory and config,
waits until it has written ``<state>/run/listeners.json`` with its own pid
(every service started, every listener bound), reads the ports it really
bound from there, and stops it with a signal. :class:`Cli` runs one
``appliance`` command as the operator would. Both run ``python -m
appliance`` with the tree this module lives in as the working directory, so
the code under test is this tree's.

Nothing here is imported by the daemon itself.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Sequence

#: The source tree (the daemon's working directory) and its interpreter.
ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def command(state: Path, config: Path, *args: str, prefix: Sequence[str] = ()) -> list[str]:
    """The argv of ``appliance --state STATE --config CONFIG ARGS``.

    ``prefix`` goes between the interpreter and ``-m appliance``
    (``["-m", "cProfile", "-o", FILE]`` profiles the run)."""
    return [PYTHON, *prefix, "-m", "appliance", "--state", str(state), "--config", str(config), *args]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now (for servers that cannot bind
    port 0 and report it, such as the reference servers of the benchmarks)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cli:
    """Runs ``appliance`` as the operator would, against one state dir."""

    def __init__(self, state: Path, config: Path):
        self.state = state
        self.config = config

    def __call__(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run one command; with ``check``, a non-zero exit raises
        AssertionError naming the command and its standard error."""
        proc = subprocess.run(command(self.state, self.config, *args), input=input, capture_output=True, text=True,
                              cwd=ROOT, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json").stdout)


class Daemon:
    """``appliance serve`` in a subprocess; knows the ports it bound.

    Its standard output and error go to ``log_path`` (appended), or nowhere
    when that is None. Use :meth:`start` and :meth:`stop`, or ``with``.
    """

    def __init__(self, state: Path, config: Path, log_path: Path | None = None, *, prefix: Sequence[str] = ()):
        self.state = Path(state)
        self.config = Path(config)
        self.log_path = log_path
        self.prefix = tuple(prefix)
        #: The source tree it runs from (a benchmark may set another checkout).
        self.root = ROOT
        self.proc: subprocess.Popen | None = None
        #: listener name -> [[host, port], ...], as in listeners.json.
        self.listeners: dict[str, list[list]] = {}
        self._log: IO[bytes] | None = None

    @property
    def run_file(self) -> Path:
        return self.state / "run" / "listeners.json"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the daemon was not started"
        return self.proc.pid

    @property
    def ca_file(self) -> Path:
        """The box's self-signed certificate (``<state>/tls/box.crt``, valid
        for 127.0.0.1 and localhost): what a client verifies HTTPS, IMAPS
        and submissions against when the config names no ``[tls]`` file."""
        return self.state / "tls" / "box.crt"

    def start(self, timeout: float = 60) -> "Daemon":
        """Start the daemon and return once it has bound every listener.

        Raises AssertionError with the log if it exits or has not written
        its listeners within ``timeout`` seconds (it is killed then)."""
        self.run_file.unlink(missing_ok=True)
        self._log = open(self.log_path, "ab") if self.log_path is not None else None
        out = self._log if self._log is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(command(self.state, self.config, "serve", prefix=self.prefix),
                                     cwd=self.root, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._close_log()
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log()}")
            data = self._listeners()
            if data is not None:
                self.listeners = data
                return self
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        self._close_log()
        raise AssertionError(f"daemon did not bind within {timeout}s:\n{self.log()}")

    def _listeners(self) -> dict | None:
        try:
            data = json.loads(self.run_file.read_text())
        except (FileNotFoundError, ValueError):
            # Not written yet (the daemon replaces it whole, but be lenient).
            return None
        return data["listeners"] if data.get("pid") == self.proc.pid else None

    def port(self, name: str) -> int:
        """The port the listener ``name`` (``smtp``, ``https``, ...) bound first."""
        return self.listeners[name][0][1]

    def origin(self, scheme: str = "https") -> str:
        """``scheme://127.0.0.1:PORT`` of the http or https listener (a box
        address, so the web service routes it as the box host name)."""
        return f"{scheme}://127.0.0.1:{self.port(scheme)}"

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` and wait for the exit; return the exit status.

        Raises AssertionError (after a SIGKILL) if it has not exited
        within ``timeout`` seconds."""
        assert self.proc is not None, "the daemon was not started"
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._close_log()
                raise AssertionError(f"daemon ignored signal {sig}:\n{self.log()}")
        self._close_log()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: what a crash or the OOM killer does."""
        self.stop(signal.SIGKILL)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "Daemon":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        if self.running():
            self.stop()
        self._close_log()
