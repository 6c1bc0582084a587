"""A real HTTP server with only the DAV service, for tests (and the bench)
until the web service serves ``app.http_mounts`` in the daemon.

``python -m tests.protocols.dav.server STATE CONFIG PORTFILE`` runs the App
like ``appliance serve`` does (one asyncio loop, Twisted's reactor on it),
starts ``protocols.dav``, binds a twisted.web Site with every mount on
127.0.0.1 port 0, writes the port to PORTFILE and serves until SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path


def main(state: str, config: str, port_file: str) -> int:
    from appliance import settings
    from appliance.app import App
    from appliance.twisted_glue import install_reactor, shutdown_reactor

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    reactor = install_reactor(loop)
    from twisted.web import resource, server

    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    app = App(settings.load(config), state)
    loop.run_until_complete(app.start(["protocols.dav"]))
    root = resource.Resource()
    for prefix, child in app.http_mounts:
        root.putChild(prefix.strip(b"/"), child)
    site = server.Site(root)
    site.displayTracebacks = False
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    tmp = Path(port_file + ".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "port": port.getHost().port}))
    os.replace(tmp, port_file)
    loop.run_until_complete(stopping.wait())
    loop.run_until_complete(asyncio.ensure_future(port.stopListening().asFuture(loop)))
    loop.run_until_complete(app.stop())
    shutdown_reactor(reactor, loop)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
