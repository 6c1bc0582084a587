"""Content scoring by rspamd, and teaching it what users call spam.

:class:`SpamFilter` speaks rspamd's HTTP protocol: ``POST /checkv2`` to the
normal worker with the message as body and the envelope as headers
(``IP``, ``Helo``, ``From``, one ``Rcpt`` per recipient, ``Queue-Id``), and
``POST /learnspam`` / ``/learnham`` to the controller with its
``Password``. The requests are plain blocking HTTP (``http.client``) run on
a small thread pool of their own, never on the event loop, each bounded by
``[rspamd] timeout``.

Scanning never loses mail: an rspamd that is down, slow or answers
nonsense gives :data:`None` (logged once per outage, and once when it is
back), and the caller delivers the message unscanned - or answers a
temporary failure when ``on_failure = "tempfail"`` asks for it.

Learning follows the user's hand: a message moved into the Junk folder
(``\\Junk``) is learnt as spam, one moved out of it to any folder but Trash
as ham (:func:`training`), at most :data:`MAX_LEARN` messages per move, in
the background after the move committed; a failure is logged, never shown
to the user (the move happened).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import logging
import math
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Sequence

from storage import mail as maildb

log = logging.getLogger(__name__)

#: Messages learnt from one move at most (the rest of a large move is not).
MAX_LEARN = 20
#: Moves whose lessons may wait at once; past it a move teaches nothing
#: (logged), so a flood of moves cannot pile up work.
MAX_PENDING = 50
#: Longest rspamd reply read (a /checkv2 answer lists every symbol).
MAX_REPLY_BYTES = 1024 * 1024
#: Symbols named in the ``X-Spam-Symbols`` header at most.
MAX_SYMBOLS = 30

#: What :meth:`SpamFilter.decide` answers.
HAM, JUNK, REJECT = "ham", "junk", "reject"


class ScanFailed(Exception):
    """rspamd could not be asked or did not answer usably."""


@dataclass(frozen=True)
class Score:
    """rspamd's answer for one message."""

    score: float
    #: rspamd's own action ("no action", "add header", "reject"...).
    action: str
    #: The names of the symbols that matched, highest score first.
    symbols: tuple[str, ...]


class SpamFilter:
    """See module doc. ``settings`` is the ``[rspamd]`` section."""

    def __init__(self, settings: Any, *, threads: int = 4, metrics: Any = None):
        """``metrics``: an :class:`appliance.metrics.Metrics` that counts
        scan times and learning calls (None: not counted)."""
        self.metrics = metrics
        self.url = settings.url
        self.controller = settings.controller_url
        self.password = settings.password
        self.timeout = float(settings.timeout)
        self.reject_score = float(settings.reject_score)
        self.junk_score = float(settings.junk_score)
        self.tempfail = settings.on_failure == "tempfail"
        self.max_bytes = int(settings.max_message_kb) * 1024
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rspamd")
        self._down = False
        self._tasks: set[asyncio.Task] = set()

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    @property
    def learning(self) -> bool:
        return bool(self.controller)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- scanning ----------------------------------------------------------------

    async def check(self, raw: bytes, *, ip: str, helo: str, mail_from: str, rcpts: Sequence[str],
                    queue_id: str) -> Score | None:
        """rspamd's score for ``raw``, or None when it is off, the message
        is larger than ``max_message_kb``, or rspamd could not answer
        (logged once per outage)."""
        if not self.scannable(raw):
            return None
        headers = [("IP", ip), ("Helo", helo or "unknown"), ("From", mail_from or "<>"), ("Queue-Id", queue_id)]
        headers += [("Rcpt", r) for r in rcpts]
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        try:
            try:
                reply = await loop.run_in_executor(self._pool, self._post, self.url, "/checkv2", headers, raw)
            finally:
                if self.metrics is not None:
                    self.metrics.spam_scan_seconds.observe(time.monotonic() - started)
            score = _parse_check(reply)
        except (OSError, ScanFailed, http.client.HTTPException) as exc:
            if not self._down:
                log.warning("rspamd at %s cannot scan (%s); mail is handled unscanned until it answers", self.url, exc)
            self._down = True
            return None
        if self._down:
            log.info("rspamd at %s answers again", self.url)
            self._down = False
        return score

    def scannable(self, raw: bytes) -> bool:
        """Whether :meth:`check` asks rspamd about ``raw`` at all."""
        return self.enabled and len(raw) <= self.max_bytes

    def decide(self, score: Score | None) -> str:
        """:data:`REJECT`, :data:`JUNK` or :data:`HAM` by our thresholds."""
        if score is None:
            return HAM
        if score.score >= self.reject_score:
            return REJECT
        if score.score >= self.junk_score:
            return JUNK
        return HAM

    def headers(self, score: Score) -> str:
        """The ``X-Spam*`` fields for a scanned message, CRLF-terminated."""
        spam = self.decide(score) != HAM
        symbols = " ".join(score.symbols[:MAX_SYMBOLS]) or "none"
        return (
            f"X-Spam: {'Yes' if spam else 'No'}\r\n"
            f"X-Spam-Score: {score.score:.2f} / {self.junk_score:.2f}\r\n"
            f"X-Spam-Symbols: {symbols}\r\n"
        )

    def result(self, score: Score | None) -> str:
        """The rspamd entry of Authentication-Results (an ``x-`` method,
        RFC 8601 section 2.7.6): pass below the junk score, fail above,
        temperror when rspamd could not answer."""
        if score is None:
            return "x-rspamd=temperror"
        outcome = "pass" if self.decide(score) == HAM else "fail"
        return f"x-rspamd={outcome} (score {score.score:.2f})"

    # -- learning ------------------------------------------------------------------

    async def learn(self, raw: bytes, spam: bool) -> str:
        """Teach the controller ``raw`` as spam or ham; returns rspamd's
        answer text; ScanFailed (or OSError) when it could not."""
        path = "/learnspam" if spam else "/learnham"
        loop = asyncio.get_running_loop()
        reply = await loop.run_in_executor(
            self._pool, self._post, self.controller, path, [("Password", self.password)], raw
        )
        return reply.decode("utf-8", "replace")[:200]

    def learn_later(self, where: str, spam: bool, messages: list[bytes]) -> None:
        """Learn ``messages`` in the background (after the move that asked
        for it committed); each result is logged."""
        if not self.learning or not messages:
            return
        if len(self._tasks) >= MAX_PENDING:
            log.warning("%s: %d moves already waiting to teach rspamd; this one is not learnt", where, len(self._tasks))
            return

        async def run() -> None:
            kind = "spam" if spam else "ham"
            for raw in messages:
                try:
                    answer = await self.learn(raw, spam)
                except ScanFailed as exc:
                    # rspamd answered: "already learned", too few tokens...
                    log.info("%s: rspamd did not learn a message as %s: %s", where, kind, exc)
                    self._learned(kind, "refused")
                    continue
                except (OSError, http.client.HTTPException) as exc:
                    log.warning("%s: rspamd could not learn a message as %s: %s", where, kind, exc)
                    self._learned(kind, "failed")
                    return
                log.info("%s: rspamd learn%s: %s", where, kind, answer)
                self._learned(kind, "learned")

        task = asyncio.get_running_loop().create_task(run(), name="rspamd-learn")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _learned(self, kind: str, result: str) -> None:
        if self.metrics is not None:
            self.metrics.spam_learned.labels(kind=kind, result=result).inc()

    # -- the wire ---------------------------------------------------------------------

    def _post(self, base: str, path: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
        """One POST (in a worker thread); the reply body of a 200, else ScanFailed."""
        parts = urllib.parse.urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
        try:
            conn.putrequest("POST", path, skip_accept_encoding=True)
            for name, value in headers:
                # Header values from the wire: one line, printable.
                conn.putheader(name, "".join(c if 32 <= ord(c) < 127 else "?" for c in value)[:500])
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            reply = response.read(MAX_REPLY_BYTES)
            if response.status != 200:
                raise ScanFailed(f"HTTP {response.status}: {reply[:200].decode('utf-8', 'replace')}")
            return reply
        finally:
            conn.close()

    def ping(self, base: str) -> str:
        """``GET /ping`` (blocking): rspamd's answer, or ScanFailed/OSError."""
        parts = urllib.parse.urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
        try:
            conn.request("GET", "/ping")
            response = conn.getresponse()
            body = response.read(1000).decode("utf-8", "replace").strip()
            if response.status != 200:
                raise ScanFailed(f"HTTP {response.status}")
            return body
        finally:
            conn.close()


def _parse_check(reply: bytes) -> Score:
    try:
        data = json.loads(reply)
        score = float(data["score"])
        action = str(data.get("action", ""))
        symbols = data.get("symbols") or {}
        ranked = sorted(
            ((float(v.get("score", 0)), str(k)) for k, v in symbols.items() if isinstance(v, dict)),
            key=lambda item: (-item[0], item[1]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ScanFailed(f"unreadable answer: {exc}") from None
    if not math.isfinite(score):
        raise ScanFailed("unreadable answer: score is not a number")
    names = tuple(name for _score, name in ranked if all(c.isalnum() or c in "_-" for c in name))
    return Score(score, action, names)


def training(conn: sqlite3.Connection, source: int, target: int) -> bool | None:
    """What a move from mailbox ``source`` to ``target`` teaches: True
    spam (into ``\\Junk``), False ham (out of ``\\Junk``, not into
    ``\\Trash``), None nothing."""
    into, out_of = maildb.special_use(conn, target), maildb.special_use(conn, source)
    if into == "\\Junk" and out_of != "\\Junk":
        return True
    if out_of == "\\Junk" and into not in ("\\Junk", "\\Trash"):
        return False
    return None


def to_learn(conn: sqlite3.Connection, source: int, target: int, uids: list[int], max_bytes: int
             ) -> tuple[bool, list[bytes]] | None:
    """``(spam?, raw messages)`` for a move that teaches (see
    :func:`training`), read in its transaction after the move (``uids``
    are the new UIDs in ``target``); None for one that does not."""
    spam = training(conn, source, target)
    if spam is None:
        return None
    return spam, maildb.raw_messages(conn, target, uids, limit=MAX_LEARN, max_bytes=max_bytes)


#: Fields only we may set: removed from mail that arrives with them, so a
#: sender cannot mark its own message as scanned and clean.
OUR_FIELDS = (b"x-spam", b"x-spam-score", b"x-spam-symbols", b"x-spam-status", b"x-spam-flag")


def strip_spam_fields(raw: bytes) -> bytes:
    """``raw`` without the :data:`OUR_FIELDS` header fields it came with."""
    end = raw.find(b"\r\n\r\n")
    if end < 0 or b"x-spam" not in raw[:end].lower():
        return raw
    fields: list[list[bytes]] = []
    for line in raw[: end + 2].split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    kept = [b"\r\n".join(f) for f in fields if f[0].partition(b":")[0].strip().lower() not in OUR_FIELDS]
    return b"\r\n".join(kept) + b"\r\n" + raw[end + 2 :]
