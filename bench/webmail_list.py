"""Webmail list benchmark (run by hand: ``.venv/bin/python bench/webmail_list.py``).

One mailbox of 20,000 messages (5,000 conversations of four: a question
and three replies with References, spread over time as real mail is).
Measures, through the same service calls the panel makes:

1. the first page of the list, every message, newest first;
2. the first page grouped by conversation, and the last page of each;
3. searches by subject, sender, message text, received date and state,
   and opening a message;
4. the first grouped view after the upgrade, for mail stored before
   threads existed (it threads a bounded batch), and threading the rest.

Each figure is the median of ``--runs`` runs, in milliseconds, on a warm
page cache.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance import mime, settings, webmail, webmailconversations  # noqa: E402
from appliance.app import App  # noqa: E402
from storage import directory, mail  # noqa: E402


def _message(n: int, thread: int, step: int) -> bytes:
    ids = [f"<t{thread}-{i}@bench.example>" for i in range(step)]
    head = (f"From: Sender {thread % 97} <s{thread % 97}@bench.example>\r\nTo: ann@shop.example\r\n"
            f"Subject: {'Re: ' if step else ''}Order {thread}\r\nMessage-ID: <t{thread}-{step}@bench.example>\r\n"
            f"Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n")
    if ids:
        head += f"References: {' '.join(ids)}\r\nIn-Reply-To: {ids[-1]}\r\n"
    return (head + "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" + f"Message {n}.\r\n" * 20).encode()


def fill(handle, user: int, count: int) -> None:
    threads = count // 4
    order = [(t, s) for s in range(4) for t in range(threads)]
    # Interleaved: replies come in long after their question.
    for start in range(0, len(order), 1000):
        batch = [(n, *order[n]) for n in range(start, min(start + 1000, len(order)))]
        parsed = [(raw, mime.for_storage(raw)) for raw in (_message(n, t, s) for n, t, s in batch)]

        def write(conn, parsed=parsed):
            for raw, p in parsed:
                mail.deliver(conn, user, mail.store_body(conn, raw, p))

        handle.write_sync("bench fill", write)


async def timed(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def main(count: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = App(settings.from_mapping({"plans": {"big": {"mailbox_mb": 10_000}}}), Path(tmp) / "state")
        try:
            app.provisioning.create_tenant("shop", "Shop", "shop.example", plan="big")
            app.provisioning.add_user("ann@shop.example", "a long secret")
            handle = app.tenants.handle("shop")
            user = handle.read_sync("id", lambda c: directory.get_user(c, "ann@shop.example")["id"])
            started = time.perf_counter()
            fill(handle, user, count)
            print(f"filled {count} messages in {time.perf_counter() - started:.1f} s")
            account = webmail.Account(handle, "shop", user, "ann@shop.example", lambda *a: None)
            box = (await webmail.folders(account))[0]["id"]
            flat = await webmail.listing(account, box)
            grouped = await webmailconversations.listing(account, box)
            assert flat["total"] == count and grouped["total"] == count // 4, (flat["total"], grouped["total"])
            assert grouped["rows"][0]["count"] == 4
            last = grouped["pages"]
            print(f"list, every message, page 1:         {await timed(lambda: webmail.listing(account, box), runs):7.1f} ms")
            print(f"list, every message, page {flat['pages']}:       "
                  f"{await timed(lambda: webmail.listing(account, box, flat['pages']), runs):7.1f} ms")
            print(f"list by conversation, page 1:        "
                  f"{await timed(lambda: webmailconversations.listing(account, box), runs):7.1f} ms")
            print(f"list by conversation, page {last}:      "
                  f"{await timed(lambda: webmailconversations.listing(account, box, last), runs):7.1f} ms")
            # Searches as the folder page makes them, and opening a message.
            searches = {
                "subject 'Order 4321'": webmail.Search("subject", "Order 4321"),
                "sender 's13@'": webmail.Search("from", "s13@"),
                "message text 'Message 777.'": webmail.Search("body", "Message 777."),
                # Delivered just now: every message.
                "received today": webmail.Search(since=datetime.date.today(), until=datetime.date.today()),
                "unread, sender 's13@'": webmail.Search("from", "s13@", state="unread"),
            }
            for label, search in searches.items():
                found = await webmail.listing(account, box, 1, search)
                took = await timed(lambda search=search: webmail.listing(account, box, 1, search), runs)
                print(f"search {label + ':':<34} {took:7.1f} ms ({found['total']} found)")
            uid = flat["rows"][0]["uid"]
            print(f"open the newest message:             "
                  f"{await timed(lambda: webmail.view(account, box, uid), runs):7.1f} ms")

            def forget(conn):
                conn.execute("UPDATE messages SET thread = NULL")
                conn.execute("UPDATE bodies SET thread_keys = NULL")
                conn.execute("DELETE FROM mail_thread_keys")

            handle.write_sync("bench forget", forget)
            started = time.perf_counter()
            first = await webmailconversations.listing(account, box)
            print(f"first grouped view after the upgrade: {(time.perf_counter() - started) * 1000:6.0f} ms"
                  f" (threads {webmailconversations.BACKFILL_PER_VIEW} old messages; more pending: {first['pending']})")
            started = time.perf_counter()
            done = await webmailconversations.backfill(account)
            print(f"backfill of the other {done}:       {(time.perf_counter() - started) * 1000:7.0f} ms")
            again = await webmailconversations.listing(account, box)
            assert again["total"] == count // 4
        finally:
            app.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.runs))
