"""The browser for the theme tests (:mod:`tests.browser`), and a static
file server for it to load pages from."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

from tests.browser import CHROMIUM, Browser, Visit  # noqa: F401 - used by the theme tests


class StaticServer:
    """``http.server`` over a directory on 127.0.0.1 with a kernel-chosen port."""

    def __init__(self, root: Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "StaticServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass
