"""A real rspamd (the Debian package) for the tests and the benchmarks
(which must not import the tests): started on loopback ephemeral ports
from a configuration of its own in a temporary directory, never the
system's service or its ports.

The top-level file is ours (the packaged ``rspamd.conf`` binds fixed
ports); it includes the packaged ``common.conf`` so every rule, module and
score is the distribution's, with ``LOCAL_CONFDIR`` pointed at the
temporary directory: its ``override.d/options.inc`` sends DNS to a stub
server on loopback (the SMTP tests'; no lookup leaves the machine) and enables the
test patterns, and ``override.d/classifier-bayes.conf`` keeps the Bayes
statistics in SQLite files there (no redis).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from .testing import free_port

BINARY = shutil.which("rspamd") or ("/usr/bin/rspamd" if Path("/usr/bin/rspamd").exists() else None)
#: Why the rspamd tests are skipped, or None when they can run.
MISSING = None if BINARY else "the rspamd binary is not installed (Debian package rspamd; ./bootstrap test installs it)"
PASSWORD = "learn-secret"

CONFIG = """\
.include "$CONFDIR/common.conf"
options {{
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(try=true; priority=10) "$LOCAL_CONFDIR/override.d/options.inc"
}}
logging {{
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "info";
}}
worker "normal" {{
    bind_socket = "127.0.0.1:{normal}";
    .include "$CONFDIR/worker-normal.inc"
    count = 1;
}}
worker "controller" {{
    bind_socket = "127.0.0.1:{controller}";
    .include "$CONFDIR/worker-controller.inc"
    count = 1;
    password = "{password}";
    enable_password = "{password}";
}}
"""

OPTIONS = """\
# The GTUBE-like test patterns for each action (not for production).
enable_test_patterns = true;
# Compiled regular expressions and URL suffixes, kept between runs: their
# compilation is most of rspamd's start-up time.
hs_cache_dir = "{cache}/";
dns {{
    nameserver = ["127.0.0.1:{dns_port}"];
    timeout = 1s;
    retransmits = 1;
}}
"""
#: Where :data:`OPTIONS` keeps the compiled patterns (shared by test runs).
CACHE = Path(tempfile.gettempdir()) / "rspamd-test-cache"

BAYES = """\
backend = "sqlite3";
statfile {
    symbol = "BAYES_HAM";
    spam = false;
    path = "$DBDIR/bayes.ham.sqlite";
}
statfile {
    symbol = "BAYES_SPAM";
    spam = true;
    path = "$DBDIR/bayes.spam.sqlite";
}
"""


class Rspamd:
    """``rspamd -f`` in a subprocess; :meth:`start`, :meth:`stop`."""

    def __init__(self, dns_port: int):
        self.dir = Path(tempfile.mkdtemp(prefix="rspamd-test-"))
        self.normal = free_port()
        self.controller = free_port()
        self.proc: subprocess.Popen | None = None
        for sub in ("override.d", "local.d", "run", "db", "log"):
            (self.dir / sub).mkdir()
        (self.dir / "rspamd.conf").write_text(
            CONFIG.format(normal=self.normal, controller=self.controller, password=PASSWORD)
        )
        CACHE.mkdir(exist_ok=True)
        (self.dir / "override.d" / "options.inc").write_text(OPTIONS.format(cache=CACHE, dns_port=dns_port))
        (self.dir / "override.d" / "classifier-bayes.conf").write_text(BAYES)
        self.user: list[str] = []
        if os.geteuid() == 0:
            # rspamd refuses to run its workers as root: the package's user.
            owner = pwd.getpwnam("_rspamd")
            self.user = ["-u", "_rspamd", "-g", "_rspamd"]
            self.dir.chmod(0o755)
            for path in (self.dir / "run", self.dir / "db", self.dir / "log", CACHE):
                os.chown(path, owner.pw_uid, owner.pw_gid)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.normal}"

    @property
    def controller_url(self) -> str:
        return f"http://127.0.0.1:{self.controller}"

    def start(self, timeout: float = 120) -> "Rspamd":
        variables = [f"{name}={self.dir / sub}" for name, sub in
                     (("LOCAL_CONFDIR", ""), ("RUNDIR", "run"), ("DBDIR", "db"), ("LOGDIR", "log"))]
        cmd = [BINARY, "-f", "-c", str(self.dir / "rspamd.conf"), *self.user]
        for variable in variables:
            cmd += ["--var", variable]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"rspamd exited {self.proc.returncode}: {self.log()[-2000:]}")
            if self._pong(self.url) and self._pong(self.controller_url):
                return self
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"rspamd did not answer within {timeout}s: {self.log()[-2000:]}")

    @staticmethod
    def _pong(url: str) -> bool:
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as reply:
                return reply.read().strip() == b"pong"
        except OSError:
            return False

    def stat(self) -> dict:
        """The controller's statistics (``/stat``)."""
        request = urllib.request.Request(self.controller_url + "/stat", headers={"Password": PASSWORD})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def log(self) -> str:
        path = self.dir / "log" / "rspamd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
