"""The web service alone, driven from standard input, for the ACME tests.

``python -m tests.protocols.web.acme_server STATE CONFIG`` starts the App
with ``protocols.web`` the way ``appliance serve`` does (one asyncio loop,
Twisted's reactor on it), prints the listeners as one JSON line, then reads
commands, one a line, and answers ``ok`` to each:

``set TOKEN KEY-AUTHORIZATION``
    ``WebService.set_challenge``
``clear TOKEN``
    ``WebService.clear_challenge``

End of input stops the service.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys


def main(state: str, config: str) -> int:
    from appliance import settings
    from appliance.app import App
    from appliance.twisted_glue import install_reactor, shutdown_reactor

    logging.basicConfig(level=logging.WARNING)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    reactor = install_reactor(loop)
    app = App(settings.load(config), state)
    loop.run_until_complete(app.start(["web"]))
    web = app.running.web
    print(json.dumps(app.listeners), flush=True)
    done = asyncio.Event()

    def command() -> None:
        line = sys.stdin.readline()
        if not line:
            loop.remove_reader(sys.stdin.fileno())
            done.set()
            return
        verb, *args = line.split()
        if verb == "set":
            web.set_challenge(args[0], args[1])
        elif verb == "clear":
            web.clear_challenge(args[0])
        print("ok", flush=True)

    loop.add_reader(sys.stdin.fileno(), command)
    loop.run_until_complete(done.wait())
    loop.run_until_complete(app.stop())
    shutdown_reactor(reactor, loop)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
