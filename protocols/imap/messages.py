"""Commands on the selected mailbox's messages (RFC 3501 6.4, UIDPLUS,
MOVE, CONDSTORE): CHECK, CLOSE, UNSELECT, EXPUNGE, SEARCH, FETCH, STORE,
COPY and MOVE, as a mixin of :class:`.server.ImapServer`.

Sequence numbers are the session's: positions in ``selected.uids``, which
changes only when the session tells the client (EXPUNGE, EXISTS).
"""

from __future__ import annotations

import re
from typing import Any

from appliance import mime
from appliance import spam as spamfilter
from appliance.errors import NotFound
from storage import mail as maildb
from storage.errors import Frozen

from . import fetch as fetching
from . import search as searching
from .replies import No
from .syntax import Bad, atom, compress, flag_list, mailbox_name, number, text

FETCH_BATCH = 500
#: Messages per batch when their bytes are read (bounds memory per session).
FETCH_RAW_BATCH = 20
#: Messages per batch when only their header blocks are read.
FETCH_HEADER_BATCH = 100


def _parse_old_body(conn: Any, row: dict) -> None:
    """Fill in the structure and envelope of a body stored before they were
    parsed at delivery (storage keeps them NULL and never parses mail)."""
    raw = maildb.body_raw(conn, row["body_id"])
    parsed = mime.for_storage(raw)
    row["structure"], row["envelope"] = parsed.structure, parsed.envelope
    if row.get("head") is not None:
        row["head"] = raw  # sections are cut by the offsets just parsed


class MessageCommands:
    async def cmd_check(self, tag: bytes, args: list, uid: bool) -> bytes:
        self.selected.dirty = True
        return b"CHECK completed"

    async def cmd_close(self, tag: bytes, args: list, uid: bool) -> bytes:
        sel = self.selected
        self.selected = None
        self.state = "auth"
        if sel.writable:
            gone = await self._write_db("close", lambda c: maildb.expunge_deleted(c, sel.id))
            if gone:
                self._publish(sel.id)
        return b"CLOSE completed"

    async def cmd_unselect(self, tag: bytes, args: list, uid: bool) -> bytes:
        self.selected = None
        self.state = "auth"
        return b"UNSELECT completed"

    async def cmd_expunge(self, tag: bytes, args: list, uid: bool) -> bytes:
        sel = self.selected
        if not sel.writable:
            raise No("the mailbox is read-only", "READ-ONLY")
        only = None
        if uid:
            only = [sel.uids[i] for i in self._indexes(args, True)]
        elif args:
            raise Bad("EXPUNGE takes no arguments")
        gone, caught_up = await self._write_selected("expunge", lambda c: maildb.expunge_deleted(c, sel.id, only))
        if gone:
            self._expunged(gone)
            self._publish(sel.id, caught_up=caught_up)
        return b"EXPUNGE completed"

    async def cmd_search(self, tag: bytes, args: list, uid: bool) -> bytes:
        charset = "utf-8"
        if len(args) >= 2 and isinstance(args[0], str) and args[0].upper() == "CHARSET":
            name = text(args[1]).decode("ascii", "replace").lower()
            if name not in ("utf-8", "us-ascii"):
                raise No("unsupported charset", "BADCHARSET (US-ASCII UTF-8)")
            charset = "utf-8" if name == "utf-8" else "ascii"
            args = args[2:]
        sel = self.selected
        uids = list(sel.uids)
        compiler = searching.Compiler(uids, charset)
        term = compiler.all(args)
        found = await self._read("search", lambda c: searching.run(c, sel.id, uids, term))
        numbers = b" ".join(b"%d" % (r[1] if uid else r[0]) for r in found)
        line = b"* SEARCH" + (b" " + numbers if numbers else b"")
        if compiler.modseq and found:
            line += b" (MODSEQ %d)" % max(r[2] for r in found)
        self._send(line)
        return b"SEARCH completed"

    async def cmd_fetch(self, tag: bytes, args: list, uid: bool) -> bytes:
        sel = self.selected
        indexes = self._indexes(args, uid)
        items = args[1:]
        changed_since = None
        if len(items) == 2 and isinstance(items[1], list):
            modifier = items[1]
            if len(modifier) != 2 or atom(modifier[0]).upper() != "CHANGEDSINCE":
                raise Bad("unknown FETCH modifier")
            changed_since = number(modifier[1], "modseq")
            items = items[:1]
            self.condstore = True
        request = fetching.parse_items(items)
        if request.wants_modseq:
            self.condstore = True
        uids = [sel.uids[i] for i in indexes]
        if request.sets_seen and sel.writable:
            try:
                _, caught_up = await self._write_selected(
                    "fetch seen", lambda c: maildb.store_flags(c, sel.id, uids, "+", ["\\Seen"])
                )
            except Frozen:
                # The business is moving (reads are served): the message is
                # read as from an EXAMINEd mailbox, \Seen left as it was
                # (RFC 3501 section 6.4.5 sets it only where it may change).
                pass
            else:
                self._publish(sel.id, caught_up=caught_up)
                if "FLAGS" not in request.simple:
                    request.simple.append("FLAGS")
        seqs = {sel.uids[i]: i + 1 for i in indexes}
        with_modseq = changed_since is not None
        wants_envelope = "ENVELOPE" in request.simple

        def listing_reply(conn: Any, batch: list[int]) -> bytes:
            # A message list (the bulk of what clients fetch): one tuple per
            # message and no structure, bytes or mapping.
            out = []
            for row in maildb.listing_rows(conn, sel.id, batch, envelope=wants_envelope):
                if changed_since is not None and row[4] <= changed_since:
                    continue
                seq = seqs.get(row[0])
                if seq is None:
                    continue
                if wants_envelope and row[5] is None:
                    out.append(batch_reply(conn, [row[0]]))  # stored before envelopes were
                else:
                    out.append(fetching.render_listing(seq, row, request, uid=uid, modseq=with_modseq))
            return b"".join(out)

        def batch_reply(conn: Any, batch: list[int]) -> bytes:
            # Read and rendered in the read thread: cutting sections out of
            # hundreds of messages is CPU work that must not hold the loop.
            rows = maildb.fetch_rows(
                conn, sel.id, batch, raw=request.needs_raw, header=request.needs_header,
                structure=request.needs_structure, envelope=wants_envelope,
            )
            out = []
            for row in rows:
                if changed_since is not None and row["modseq"] <= changed_since:
                    continue
                unparsed = request.needs_structure and row["structure"] is None
                if unparsed or (wants_envelope and row["envelope"] is None):
                    _parse_old_body(conn, row)
                seq = seqs.get(row["uid"])
                if seq is not None:
                    out.append(fetching.render(seq, row, request, uid=uid, modseq=with_modseq))
            return b"".join(out)

        reply = listing_reply if request.listing else batch_reply
        size = FETCH_RAW_BATCH if request.needs_raw else FETCH_HEADER_BATCH if request.needs_header else FETCH_BATCH
        pos = 0
        while pos < len(uids):
            batch = uids[pos : pos + size]
            pos += len(batch)
            data = await self._read("fetch", lambda c, b=batch: reply(c, b))
            if data:
                self._write(data)
            if not self._drain.event.is_set():
                await self._drain.event.wait()
            if self.closed:
                break
        return b"FETCH completed"

    async def cmd_store(self, tag: bytes, args: list, uid: bool) -> bytes:
        sel = self.selected
        if not sel.writable:
            raise No("the mailbox is read-only", "READ-ONLY")
        indexes = self._indexes(args, uid)
        rest = args[1:]
        unchanged_since = None
        if rest and isinstance(rest[0], list):
            modifier = rest[0]
            if len(modifier) != 2 or atom(modifier[0]).upper() != "UNCHANGEDSINCE":
                raise Bad("unknown STORE modifier")
            unchanged_since = number(modifier[1], "modseq")
            self.condstore = True
            rest = rest[1:]
        if len(rest) < 2:
            raise Bad("STORE takes an item and flags")
        item = atom(rest[0], "store item").upper()
        m = re.match(r"^([+-]?)FLAGS(\.SILENT)?$", item)
        if not m:
            raise Bad("unknown STORE item")
        mode, silent = m.group(1), bool(m.group(2))
        values = rest[1] if len(rest) == 2 and isinstance(rest[1], list) else rest[1:]
        flags = flag_list(values)
        uids = [sel.uids[i] for i in indexes]
        (changed, failed), caught_up = await self._write_selected(
            "store", lambda c: maildb.store_flags(c, sel.id, uids, mode, flags, unchanged_since)
        )
        seqs = {sel.uids[i]: i + 1 for i in indexes}
        out = []
        for row_uid, row_flags, modseq in changed:
            if silent and unchanged_since is None:
                continue
            parts = [b"FLAGS " + fetching.flags_list(row_flags)]
            if uid:
                parts.insert(0, b"UID %d" % row_uid)
            if self.condstore:
                parts.append(b"MODSEQ (%d)" % modseq)
            out.append(b"* %d FETCH (%s)" % (seqs[row_uid], b" ".join(parts)))
        if out:
            self._write(b"\r\n".join(out) + b"\r\n")
        self._publish(sel.id, caught_up=caught_up)
        if failed:
            numbers = failed if uid else [seqs[u] for u in failed]
            return b"[MODIFIED " + compress(numbers).encode() + b"] conditional STORE failed"
        return b"STORE completed"

    async def cmd_copy(self, tag: bytes, args: list, uid: bool, move: bool = False) -> bytes:
        sel = self.selected
        if len(args) != 2:
            raise Bad("a sequence set and a mailbox name are expected")
        if move and not sel.writable:
            raise No("the mailbox is read-only", "READ-ONLY")
        indexes = self._indexes(args, uid)
        target_name = mailbox_name(args[1])
        uids = [sel.uids[i] for i in indexes]
        user = self.principal.user_id
        spam = self.service.app.spam

        def copy(conn: Any) -> tuple[int, int, list, Any]:
            try:
                target = maildb.mailbox(conn, user, target_name)
            except NotFound:
                raise No("no such mailbox", "TRYCREATE") from None
            pairs = maildb.copy_messages(conn, user, sel.id, uids, target["id"], move=move)
            # Into Junk or out of it: what rspamd is taught, read here.
            lesson = spamfilter.to_learn(conn, sel.id, target["id"], [p[1] for p in pairs], spam.max_bytes) \
                if spam.learning and pairs else None
            return target["id"], target["uidvalidity"], pairs, lesson

        target, validity, pairs, lesson = await self._write_db("move" if move else "copy", copy)
        if lesson is not None:
            spam.learn_later(f"{self.principal.address}", *lesson)
        self._publish(target)
        code = b""
        if pairs:
            code = b"[COPYUID %d %s %s] " % (
                validity, compress(p[0] for p in pairs).encode(), compress(p[1] for p in pairs).encode()
            )
        if not move:
            return code + b"COPY completed"
        if code:
            self._send(b"* OK " + code.strip())
        self._expunged([p[0] for p in pairs])
        self._publish(sel.id)
        return b"MOVE completed"

    async def cmd_move(self, tag: bytes, args: list, uid: bool) -> bytes:
        return await self.cmd_copy(tag, args, uid, move=True)
