"""Webmail over real HTTPS against the daemon: mail delivered over the MX
port, read, sorted, written and searched in the panel, and what bob's IMAP
client sees of each change (the same store, the same mail events)."""

from __future__ import annotations

import email
import email.policy
import http.client
import re

from .conftest import _no_verify
from .webmail_client import deliver, folder, imap, imap_subjects, inbox, message

BOB, ANN = "bob@acme.example", "ann@acme.example"


def test_a_folder_lists_its_messages_newest_first_with_unread_counts(env):
    """Two messages delivered to bob: his inbox lists the later one first,
    both marked unread, and the folder list counts them."""
    deliver(env, BOB, "List older")
    deliver(env, BOB, "List newer")
    bob = env.signed_in(BOB)
    page = bob.get(f"/mail/{inbox(bob)}").text
    assert page.index("List newer") < page.index("List older")
    assert re.search(r"Inbox <span class=\"count\">unread: \d+</span>", page)
    assert page.count('<span class="tag">unread</span>') >= 2


def test_reading_a_message_marks_it_seen_for_imap_clients(env):
    """Bob opens a plain text message: it shows as text, and his IMAP
    client sees \\Seen on it."""
    deliver(env, BOB, "Read me", "Plain <b>text</b> here.\n")
    bob = env.signed_in(BOB)
    box = inbox(bob)
    assert "\\Seen" not in imap_subjects(env, BOB, "INBOX")["Read me"]
    page = bob.get(f"/mail/{box}/{message(bob, box, 'Read me')}")
    assert page.status_code == 200
    assert "Plain &lt;b&gt;text&lt;/b&gt; here." in page.text
    assert "\\Seen" in imap_subjects(env, BOB, "INBOX")["Read me"]


def test_an_imap_client_in_idle_hears_of_a_message_marked_read(env):
    """Bob's IMAP client waits in IDLE on INBOX; marking a message read in
    webmail reaches it as a FETCH with \\Seen."""
    deliver(env, BOB, "Idle news")
    bob = env.signed_in(BOB)
    box = inbox(bob)
    uid = message(bob, box, "Idle news")
    conn = imap(env, BOB)
    try:
        conn.select("INBOX")
        tag = conn._new_tag()
        conn.send(tag + b" IDLE\r\n")
        assert conn.readline().startswith(b"+")
        assert bob.post(f"/mail/{box}/act", {"action": "read", "m": str(uid)}).status_code == 303
        conn.sock.settimeout(10)
        line = conn.readline()
        assert b"FETCH" in line and b"\\Seen" in line, line
        conn.send(b"DONE\r\n")
    finally:
        conn.logout()


def test_moving_a_message_is_seen_by_an_imap_client(env):
    """Bob moves a message to Archive in webmail: IMAP finds it there and
    no longer in INBOX."""
    deliver(env, BOB, "Move me")
    bob = env.signed_in(BOB)
    box, archive = inbox(bob), folder(bob, "Archive")
    reply = bob.post(f"/mail/{box}/act", {"action": "move", "target": str(archive), "m": str(message(bob, box, "Move me"))})
    assert reply.status_code == 303
    assert "Move me" in imap_subjects(env, BOB, "Archive")
    assert "Move me" not in imap_subjects(env, BOB, "INBOX")


def test_delete_moves_to_trash_and_in_trash_deletes_for_good(env):
    """Deleting in INBOX puts the message in Trash; deleting it there
    removes it (IMAP sees neither copy any more)."""
    deliver(env, BOB, "Throw me")
    bob = env.signed_in(BOB)
    box, trash = inbox(bob), folder(bob, "Trash")
    assert bob.post(f"/mail/{box}/act", {"action": "delete", "m": str(message(bob, box, "Throw me"))}).status_code == 303
    assert "Throw me" in imap_subjects(env, BOB, "Trash")
    assert bob.post(f"/mail/{trash}/act", {"action": "delete", "m": str(message(bob, trash, "Throw me"))}).status_code == 303
    assert "Throw me" not in imap_subjects(env, BOB, "Trash")
    assert "Throw me" not in imap_subjects(env, BOB, "INBOX")


def test_a_reply_reaches_the_sender_and_is_kept_in_sent(env):
    """Bob opens the reply form of a message (To: and Re: filled in),
    sends: ann's INBOX (IMAP) gets it, bob's Sent keeps a copy, and the
    original is flagged \\Answered."""
    deliver(env, BOB, "Lunch?", sender="ann@elsewhere.example")
    bob = env.signed_in(BOB)
    box = inbox(bob)
    uid = message(bob, box, "Lunch?")
    form = bob.get(f"/mail/compose?mode=reply&folder={box}&message={uid}").text
    assert 'value="Carol &lt;ann@elsewhere.example&gt;"' in form and 'value="Re: Lunch?"' in form
    assert f'name="answers" type="hidden" value="{box}/{uid}"' in form
    reply = bob.post("/mail/compose", {"sender": BOB, "to": ANN, "cc": "", "subject": "Re: Lunch?",
                                       "body": "Yes, at noon.", "in_reply_to": "<x@elsewhere.example>",
                                       "references": "", "answers": f"{box}/{uid}", "send": "1"})
    assert reply.status_code == 303, reply.text[:2000]
    assert "Re: Lunch?" in imap_subjects(env, ANN, "INBOX")
    assert "Re: Lunch?" in imap_subjects(env, BOB, "Sent")
    assert "\\Answered" in imap_subjects(env, BOB, "INBOX")["Lunch?"]


def test_forwarding_quotes_the_message_inline(env):
    """Forward opens a new message: no recipient yet, the subject with Fwd:,
    the original's sender, subject and text in the body."""
    deliver(env, BOB, "Price list", "Bread 3 EUR.\n")
    bob = env.signed_in(BOB)
    box = inbox(bob)
    form = bob.get(f"/mail/compose?mode=forward&folder={box}&message={message(bob, box, 'Price list')}").text
    assert re.search(r'<input [^>]*id="to"[^>]* value="">', form) and 'value="Fwd: Price list"' in form
    body = re.search(r"<textarea[^>]*>(.*?)</textarea>", form, re.S).group(1)
    assert "Forwarded message" in body and "Carol &lt;carol@elsewhere.example&gt;" in body and "Bread 3 EUR." in body


def test_sending_as_someone_else_is_refused(env):
    """A From: that is not one of bob's addresses: refused by the
    submission rules, nothing delivered."""
    bob = env.signed_in(BOB)
    reply = bob.post("/mail/compose", {"sender": ANN, "to": ANN, "subject": "Forged", "body": "x", "send": "1"})
    assert reply.status_code == 400
    assert "Forged" not in imap_subjects(env, ANN, "INBOX")


def test_a_saved_draft_is_in_drafts_for_imap(env):
    """Bob saves a draft: IMAP sees it in Drafts flagged \\Draft."""
    bob = env.signed_in(BOB)
    reply = bob.post("/mail/compose", {"sender": BOB, "to": ANN, "subject": "Half written", "body": "To be", "draft": "1"})
    assert reply.status_code == 303
    assert "\\Draft" in imap_subjects(env, BOB, "Drafts")["Half written"]


HTML_TRAP = b"""From: Mallory <mallory@elsewhere.example>\r
To: bob@acme.example\r
Subject: Shiny offer\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary="b1"\r
\r
--b1\r
Content-Type: text/html; charset=iso-8859-1\r
Content-Transfer-Encoding: quoted-printable\r
\r
<p>Caf=E9 deal</p><script>alert(1)</script><img src=3D"x" onerror=3D"alert(2)">\r
<a href=3D"javascript:alert(3)">click</a><img src=3D"http://127.0.0.1:9/trap.png">\r
--b1\r
Content-Type: application/pdf; name="offer.pdf"\r
Content-Disposition: attachment; filename="offer.pdf"\r
Content-Transfer-Encoding: base64\r
\r
JVBERi0xLjQK\r
--b1--\r
"""


def test_html_mail_is_sanitised_and_served_under_a_sandbox_policy(env):
    """An HTML message with a script, an onerror handler, a javascript:
    link and a remote image: its frame's HTML keeps none of them but the
    image, the text is decoded from Latin-1, and the policy blocks remote
    images until they are allowed."""
    deliver(env, BOB, "", raw=HTML_TRAP, sender="mallory@elsewhere.example")
    bob = env.signed_in(BOB)
    box = inbox(bob)
    uid = message(bob, box, "Shiny offer")
    page = bob.get(f"/mail/{box}/{uid}").text
    assert f'sandbox="allow-popups allow-popups-to-escape-sandbox" src="/mail/{box}/{uid}/body"' in page
    body = bob.get(f"/mail/{box}/{uid}/body")
    assert "Café deal" in body.text
    for bad in ("<script", "onerror", "javascript:", "alert(1)"):
        assert bad not in body.text
    policy = body.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "img-src data:;" in policy and "sandbox" in policy
    assert "script" not in policy
    allowed = bob.get(f"/mail/{box}/{uid}/body?images=1").headers["content-security-policy"]
    assert "img-src https: http: data:;" in allowed


def test_an_attachment_is_listed_and_served_as_a_download(env):
    """The PDF of the HTML message is listed with its size and served as an
    attachment, not sniffed, under a sandbox policy."""
    bob = env.signed_in(BOB)
    box = inbox(bob)
    uid = message(bob, box, "Shiny offer")
    page = bob.get(f"/mail/{box}/{uid}").text
    m = re.search(rf'href="(/mail/{box}/{uid}/part/\d+)" download>offer.pdf</a> \(application/pdf, ', page)
    assert m, page
    part = bob.get(m.group(1))
    assert part.content == b"%PDF-1.4\n"
    assert part.headers["content-disposition"].startswith('attachment; filename="offer.pdf"')
    assert part.headers["x-content-type-options"] == "nosniff"
    assert part.headers["content-security-policy"] == "default-src 'none'; sandbox"


PIXEL = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360"
                      "f8cfc0f01f0005000201e2ad3a3a0000000049454e44ae426082")


def test_an_image_the_message_carries_shows_in_its_html(env):
    """An HTML message whose picture is one of its own parts (cid:, as
    mail programs send a logo) shows it in the frame as a data: URL, with
    pictures from the internet still blocked; a cid that names no part, or
    an SVG part, shows nothing."""
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "carol@elsewhere.example", BOB, "Logo inside"
    msg.set_content("Our logo.")
    msg.add_alternative('<p>Our logo: <img src="cid:logo@shop" alt="logo"><img src="cid:missing@shop" alt="gone">'
                        '<img src="cid:drawing@shop" alt="drawing"><img src="http://127.0.0.1:9/t.png" alt="remote"></p>',
                        subtype="html")
    html = msg.get_payload()[1]
    html.add_related(PIXEL, "image", "png", cid="<logo@shop>")
    html.add_related(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image", "svg+xml",
                     cid="<drawing@shop>")
    deliver(env, BOB, "Logo inside", raw=msg.as_bytes())
    bob = env.signed_in(BOB)
    box = inbox(bob)
    uid = message(bob, box, "Logo inside")
    body = bob.get(f"/mail/{box}/{uid}/body").text
    images = re.findall(r"<img[^>]*>", body)
    logo = next(i for i in images if 'alt="logo"' in i)
    assert 'src="data:image/png;base64,' in logo
    for alt in ("gone", "drawing", "remote"):
        assert "src=" not in next(i for i in images if f'alt="{alt}"' in i), alt


def test_an_attached_message_opens_and_its_own_file_downloads(env):
    """A message forwarded as an attachment is listed as one attachment
    (its text is not taken for the outer message's); opened, it shows its
    sender, subject and text, and its own attachment downloads; a part
    that is not a message does not open."""
    inner = email.message.EmailMessage()
    inner["From"], inner["To"], inner["Subject"] = "dan@supplier.example", "carol@elsewhere.example", "Price list 2027"
    inner.set_content("New prices inside.")
    inner.add_attachment(b"item;price\n", maintype="text", subtype="csv", filename="prices.csv")
    outer = email.message.EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "carol@elsewhere.example", BOB, "Fwd: Price list"
    outer.set_content("See the forwarded message.")
    outer.add_attachment(inner)
    deliver(env, BOB, "Fwd: Price list", raw=outer.as_bytes())
    bob = env.signed_in(BOB)
    box = inbox(bob)
    uid = message(bob, box, "Fwd: Price list")
    page = bob.get(f"/mail/{box}/{uid}").text
    assert "See the forwarded message." in page and "New prices inside." not in page
    (number,) = re.findall(rf'href="/mail/{box}/{uid}/part/(\d+)/open"', page)
    assert "prices.csv" not in page
    opened = bob.get(f"/mail/{box}/{uid}/part/{number}/open")
    assert opened.status_code == 200
    for text in ("Price list 2027", "dan@supplier.example", "New prices inside.", "prices.csv"):
        assert text in opened.text, text
    (csv_part,) = re.findall(rf'href="/mail/{box}/{uid}/part/(\d+)" download>prices.csv', opened.text)
    download = bob.get(f"/mail/{box}/{uid}/part/{csv_part}")
    assert download.content == b"item;price\n"
    assert download.headers["content-disposition"].startswith("attachment")
    saved = bob.get(f"/mail/{box}/{uid}/part/{number}")
    assert email.message_from_bytes(saved.content)["Subject"] == "Price list 2027"
    assert bob.get(f"/mail/{box}/{uid}/part/1/open").status_code == 404


def test_the_source_of_a_message_is_plain_text_never_rendered(env):
    """"Show the source" gives the bytes as received, as text/plain under a
    sandbox policy: markup in it is text; 8-bit Latin-1 shows as such."""
    raw = (b"From: carol@elsewhere.example\r\nTo: bob@acme.example\r\nSubject: Source test\r\n"
           b"Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           b"<script>alert(1)</script> caf\xe9\r\n")
    deliver(env, BOB, "Source test", raw=raw)
    bob = env.signed_in(BOB)
    box = inbox(bob)
    uid = message(bob, box, "Source test")
    assert f'href="/mail/{box}/{uid}/source"' in bob.get(f"/mail/{box}/{uid}").text
    source = bob.get(f"/mail/{box}/{uid}/source")
    assert source.headers["content-type"] == "text/plain; charset=utf-8"
    assert "sandbox" in source.headers["content-security-policy"]
    assert source.headers["x-content-type-options"] == "nosniff"
    assert "Subject: Source test" in source.text and "<script>alert(1)</script> café" in source.text


def test_search_finds_by_sender_subject_and_body(env):
    """Searching bob's inbox by subject, by sender and by message text
    lists the message that matches and not the others."""
    # Not supplier.example: bob's folder rule (test_mail_rules.py) files its
    # mail in Suppliers, and files share the package's daemon in any order.
    deliver(env, BOB, "Invoice 4711", "The amount is zanzibar euros.\n", sender="billing@wholesaler.example")
    deliver(env, BOB, "Holiday", "Nothing to pay.\n")
    bob = env.signed_in(BOB)
    box = inbox(bob)
    for field, q in (("subject", "invoice 47"), ("from", "wholesaler.example"), ("body", "zanzibar")):
        page = bob.get(f"/mail/{box}?field={field}&q={q}").text
        assert "Invoice 4711" in page and ">Holiday<" not in page, (field, q)


def test_search_narrows_by_received_dates_and_by_state(env):
    """bob's IMAP client files an old message (received 2 March 2020) and
    flags another: the dates "from 1 March 2020 until 31 March 2020" find
    only the old one, "Flagged" only the flagged one (with a word, both
    narrow together), and an end before the start is said beside the field
    and narrows nothing."""
    deliver(env, BOB, "Kestrel quote", "Fresh.\n")
    deliver(env, BOB, "Kestrel reminder", "Fresh too.\n")
    conn = imap(env, BOB)
    try:
        raw = b"From: old@wholesaler.example\r\nTo: bob@acme.example\r\nSubject: Kestrel archive\r\n\r\nOld.\r\n"
        assert conn.append("INBOX", None, '"02-Mar-2020 10:00:00 +0000"', raw)[0] == "OK"
        conn.select("INBOX")
        _, found = conn.uid("SEARCH", None, "SUBJECT", '"Kestrel reminder"')
        assert conn.uid("STORE", found[0].split()[-1], "+FLAGS", "(\\Flagged)")[0] == "OK"
    finally:
        conn.logout()
    bob = env.signed_in(BOB)
    box = inbox(bob)

    def listed(query: str) -> set[str]:
        page = bob.get(f"/mail/{box}?{query}").text
        return set(re.findall(r"Kestrel \w+", page))

    assert listed("since=2020-03-01&until=2020-03-31") == {"Kestrel archive"}
    assert listed("field=subject&q=kestrel&state=flagged") == {"Kestrel reminder"}
    assert listed("field=subject&q=kestrel&since=2026-01-01") >= {"Kestrel quote", "Kestrel reminder"}
    assert "Kestrel archive" not in listed("field=subject&q=kestrel&since=2026-01-01")
    page = bob.get(f"/mail/{box}?since=2020-03-31&until=2020-03-01").text
    assert '<ul class="errors" id="until-error">' in page and "The end is before the start." in page
    # Paging keeps the search.
    assert "Kestrel archive" in bob.get(f"/mail/{box}?since=2020-03-01&until=2020-03-31&page=1").text


def test_another_users_folder_and_message_are_the_404(env):
    """olga (another business) and ann (bob's colleague) asking for bob's
    inbox, one of his messages, its frame, a part, or replying to it get
    the panel's one 404, and the message stays unread."""
    deliver(env, BOB, "Private")
    bob = env.signed_in(BOB)
    box = inbox(bob)
    uid = message(bob, box, "Private")
    for address in ("olga@other.example", ANN):
        other = env.signed_in(address)
        missing = other.get("/no/such/page").content
        for path in (f"/mail/{box}", f"/mail/{box}/{uid}", f"/mail/{box}/{uid}/body", f"/mail/{box}/{uid}/part/1",
                     f"/mail/compose?mode=reply&folder={box}&message={uid}"):
            reply = other.get(path)
            assert (reply.status_code, reply.content) == (404, missing), (address, path)
        reply = other.post(f"/mail/{box}/act", {"action": "delete", "m": str(uid)})
        assert reply.status_code == 404
    assert "\\Seen" not in imap_subjects(env, BOB, "INBOX")["Private"]


def test_a_message_with_attached_files_arrives_with_them(env):
    """Bob sends a message with two files through the upload form
    (multipart/form-data): ann's IMAP client reads both, byte for byte."""
    bob = env.signed_in(BOB)
    bob.get("/mail/compose")
    pdf, photo = b"%PDF-1.4\n" + bytes(range(256)) * 40, b"\xff\xd8\xff" + b"\r\n\n\r" * 1000
    reply = bob.http.post(bob.base + "/mail/compose", allow_redirects=False, timeout=30, verify=False,
                          headers={"Origin": bob.base},
                          data={"csrf": bob.csrf(), "sender": BOB, "to": ANN, "subject": "Papers", "body": "Both attached.",
                                "send": "1"},
                          files=[("attachment", ("contract.pdf", pdf, "application/pdf")),
                                 ("attachment", ("photo.jpg", photo, "image/jpeg"))])
    assert reply.status_code == 303, reply.text[:2000]
    conn = imap(env, ANN)
    try:
        conn.select("INBOX", readonly=True)
        _, found = conn.search(None, "SUBJECT", "Papers")
        _, data = conn.fetch(found[0].split()[-1], "(BODY.PEEK[])")
    finally:
        conn.logout()
    msg = email.message_from_bytes(data[0][1], policy=email.policy.default)
    files = {part.get_filename(): part.get_content() for part in msg.iter_attachments()}
    assert files == {"contract.pdf": pdf, "photo.jpg": photo}


def test_a_message_form_over_the_upload_limit_is_refused_before_its_body(env):
    """A message form declaring more than 10 MiB is answered as soon as its
    headers arrive, its body never read: from the panel's own page with
    the message form and why, 413; from another origin, 403. 2 MiB of
    files, more than other forms may carry, are sent."""
    bob = env.signed_in(BOB)
    for origin, status in ((bob.base, 413), ("https://elsewhere.example", 403)):
        conn = http.client.HTTPSConnection("127.0.0.1", env.daemon.port("https"), timeout=30, context=_no_verify())
        try:
            conn.putrequest("POST", "/mail/compose")
            conn.putheader("Content-Type", "multipart/form-data; boundary=x")
            conn.putheader("Content-Length", str(10 * 1024 * 1024 + 1))
            conn.putheader("Cookie", f"__Host-session={bob.session_cookie()}")
            conn.putheader("Origin", origin)
            conn.endheaders()
            answer = conn.getresponse()
            page = answer.read().decode()
            assert answer.status == status
            assert ('id="attachment-error"' in page) == (status == 413)
        finally:
            conn.close()
    bob.get("/mail/compose")
    reply = bob.http.post(bob.base + "/mail/compose", allow_redirects=False, timeout=60, verify=False,
                          headers={"Origin": bob.base},
                          data={"csrf": bob.csrf(), "sender": BOB, "to": BOB, "subject": "Big file", "send": "1"},
                          files=[("attachment", ("big.bin", b"\0" * (2 * 1024 * 1024), "application/octet-stream"))])
    assert reply.status_code == 303
