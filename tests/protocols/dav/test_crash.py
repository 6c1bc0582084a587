"""What was acknowledged survives a SIGKILL and a restart."""

from __future__ import annotations

import signal

import requests

from .conftest import DavServer


def test_put_acknowledged_201_survives_sigkill(dav_state, alice):
    """Events answered 201 are all there after the server is SIGKILLed and restarted,
    with the same etags, and the sync token still works."""
    state, config = dav_state
    server = DavServer(state, config, state.parent / "crash.log").start()
    etags = {}
    try:
        base = f"{server.url}alice@bakery.example/calendar/"
        for n in range(20):
            body = (
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
                f"UID:kill-{n}\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250101T100000Z\r\nSUMMARY:k{n}\r\n"
                "END:VEVENT\r\nEND:VCALENDAR\r\n"
            )
            reply = requests.put(f"{base}kill-{n}.ics", data=body, auth=alice.auth, timeout=10, verify=server.ca_file,
                                 headers={"Content-Type": "text/calendar"})
            assert reply.status_code == 201
            etags[n] = reply.headers["etag"]
        token_reply = requests.request(
            "PROPFIND", base, auth=alice.auth, headers={"Depth": "0"}, timeout=10, verify=server.ca_file,
            data='<?xml version="1.0"?><propfind xmlns="DAV:"><prop><sync-token/></prop></propfind>',
        )
        token = token_reply.text.split("sync-token>")[1].split("<")[0]
    finally:
        server.stop(signal.SIGKILL)
    server = DavServer(state, config, state.parent / "crash.log").start()
    try:
        base = f"{server.url}alice@bakery.example/calendar/"
        for n, etag in etags.items():
            reply = requests.get(f"{base}kill-{n}.ics", auth=alice.auth, timeout=10, verify=server.ca_file)
            assert reply.status_code == 200 and reply.headers["etag"] == etag
        report = requests.request(
            "REPORT", base, auth=alice.auth, timeout=10, verify=server.ca_file,
            data=f'<?xml version="1.0"?><sync-collection xmlns="DAV:"><sync-token>{token}</sync-token>'
                 '<sync-level>1</sync-level><prop><getetag/></prop></sync-collection>',
        )
        assert report.status_code == 207 and "<response>" not in report.text
    finally:
        assert server.stop() == 0
