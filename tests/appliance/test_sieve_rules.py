"""Sieve scripts against real messages: what each script decides (folder,
flags, redirects, replies, refusals), including the examples of RFC 5228,
5229, 5230 and 5232, scripts refused with their line and reason, and who
never gets a vacation reply (RFC 3834).

The decisions are checked here, without a daemon, because they are a pure
function of script and message; that they are carried out at delivery is
checked over SMTP in ``tests/protocols/smtp/test_sieve.py``."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from appliance.sieve import SieveError, SieveRuntimeError, compile_script
from appliance.sieve.actions import build_vacation, no_reply_reason
from appliance.sieve.evaluate import Context, Envelope, evaluate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sieve"


def run(script: str, fixture: str, mail_from: str = "joe@remote.test", to: str = "alice@acme.test",
        mailboxes: tuple[str, ...] = ("INBOX", "Junk")):
    raw = (FIXTURES / fixture).read_bytes()
    message = message_from_bytes(raw, policy=policy.compat32)
    ctx = Context(message, Envelope(mail_from, to), len(raw), frozenset(mailboxes))
    return evaluate(compile_script(script), ctx, max_actions=10, max_redirects=2)


INBOX = [("INBOX", (), False)]

#: (script, fixture, copies, redirects) - what each script decides.
TABLE = [
    # No rule matches: the implicit keep (RFC 5228 section 2.10.2).
    ('require "fileinto"; if header :contains "subject" "nothing" { fileinto "X"; }',
     "invoice-from-customer.eml", INBOX, []),
    # :contains is case-insensitive by default (i;ascii-casemap).
    ('require "fileinto"; if header :contains "Subject" "INVOICE" { fileinto "Invoices"; }',
     "invoice-from-customer.eml", [("Invoices", (), False)], []),
    # i;octet is exact.
    ('require ["fileinto", "comparator-i;octet"]; if header :comparator "i;octet" :contains "Subject" "INVOICE" { fileinto "Invoices"; }',
     "invoice-from-customer.eml", INBOX, []),
    # RFC 5228 section 2.7.1: ? is one character, * any run.
    ('require "fileinto"; if header :matches "subject" "Invoice ???? for *" { fileinto "Invoices"; }',
     "invoice-from-customer.eml", [("Invoices", (), False)], []),
    # RFC 5490 section 3.1: :create files into a folder that does not exist yet.
    ('require ["fileinto", "mailbox"]; if exists "List-Id" { fileinto :create "Lists"; }',
     "list-newsletter.eml", [("Lists", (), True)], []),
    # RFC 5490 section 3.2: mailboxexists.
    ('require ["fileinto", "mailbox"]; if mailboxexists "Junk" { if header :is "X-Spam-Flag" "YES" { fileinto "Junk"; } }',
     "spam-flagged-encoded-subject.eml", [("Junk", (), False)], []),
    # RFC 5228 section 5.7: encoded words are decoded before matching.
    ('require "fileinto"; if header :contains "subject" "Große" { fileinto "Junk"; }',
     "spam-flagged-encoded-subject.eml", [("Junk", (), False)], []),
    # address :domain / :localpart (RFC 5228 section 5.1).
    ('require "fileinto"; if address :domain :is "from" "lists.remote.test" { fileinto "Lists"; }',
     "list-newsletter.eml", [("Lists", (), False)], []),
    ('if address :localpart :is "from" "joe" { discard; }', "invoice-from-customer.eml", [], []),
    # envelope (RFC 5228 section 5.4).
    ('require ["envelope", "fileinto"]; if envelope :domain :is "from" "remote.test" { fileinto "Outside"; }',
     "invoice-from-customer.eml", [("Outside", (), False)], []),
    # size :over / :under.
    ('if size :over 10K { discard; }', "invoice-from-customer.eml", INBOX, []),
    ('if size :under 1K { discard; }', "invoice-from-customer.eml", [], []),
    # allof / anyof / not.
    ('require "fileinto"; if allof (address :is "from" "joe@remote.test", not exists "List-Id") { fileinto "Customers"; }',
     "invoice-from-customer.eml", [("Customers", (), False)], []),
    ('if anyof (false, header :is "precedence" "list") { discard; }', "list-newsletter.eml", [], []),
    # redirect cancels the implicit keep; redirect :copy does not (RFC 3894).
    ('redirect "bob@remote.test";', "invoice-from-customer.eml", [], ["bob@remote.test"]),
    ('require "copy"; redirect :copy "bob@remote.test";', "invoice-from-customer.eml", INBOX, ["bob@remote.test"]),
    # keep then fileinto: both copies; stop ends the script.
    ('require "fileinto"; keep; fileinto "Archive"; stop; discard;', "invoice-from-customer.eml",
     [("INBOX", (), False), ("Archive", (), False)], []),
    # elsif / else.
    ('require "fileinto"; if exists "List-Id" { fileinto "Lists"; } elsif exists "Auto-Submitted" { fileinto "Robots"; } else { keep; }',
     "auto-submitted-notification.eml", [("Robots", (), False)], []),
    # RFC 5229 section 3.2: ${1} from :matches; section 4.1: modifiers.
    ('require ["fileinto", "variables"]; if header :matches "List-Id" "*<*.lists.remote.test>" { set :lower :upperfirst "list" "${2}"; fileinto "Lists/${list}"; }',
     "list-newsletter.eml", [("Lists/Bakers", (), False)], []),
    ('require ["fileinto", "variables"]; set "a" "Invoice"; set :length "n" "${a}"; if string :is "${n}" "7" { fileinto "Seven"; }',
     "invoice-from-customer.eml", [("Seven", (), False)], []),
    ('require ["fileinto", "variables"]; set :quotewildcard "q" "a*b"; if string :is "${q}" "a\\\\*b" { fileinto "Quoted"; }',
     "invoice-from-customer.eml", [("Quoted", (), False)], []),
    # RFC 5232 section 4-5: flags with keep, on fileinto, and hasflag.
    ('require "imap4flags"; setflag "\\\\Seen"; addflag ["\\\\Flagged", "$Work"]; removeflag "\\\\Seen";',
     "invoice-from-customer.eml", [("INBOX", ("\\Flagged", "$Work"), False)], []),
    ('require ["imap4flags", "fileinto"]; fileinto :flags "\\\\Seen" "Read"; addflag "x"; if hasflag :is "X" { keep; }',
     "invoice-from-customer.eml", [("Read", ("\\Seen",), False), ("INBOX", ("x",), False)], []),
    ('require ["imap4flags", "variables"]; addflag "mine" "a b"; if hasflag :contains "mine" "b" { discard; }',
     "invoice-from-customer.eml", [], []),
]


@pytest.mark.parametrize("script, fixture, copies, redirects", TABLE)
def test_script_decides(script, fixture, copies, redirects):
    """Each script of the table files the fixture where it says and redirects where it says."""
    out = run(script, fixture)
    assert (out.copies, out.redirects) == (copies, redirects)


def test_vacation_from_rfc5230_example():
    """RFC 5230 section 3 example: :days, :addresses and a multi-line reason become the reply's parameters."""
    out = run(
        'require "vacation";\r\n'
        'if header :contains "subject" "cyrus" {\r\n vacation "I\'m out -- send mail to cyrus-bugs";\r\n'
        '} else {\r\n vacation :days 23 :addresses ["tjs@example.edu", "ts4z@landru.example.edu"]\r\n'
        ' :subject "Out of office" text:\r\nI\'m out.\r\n..and back soon.\r\n.\r\n;\r\n}\r\n',
        "invoice-from-customer.eml",
    )
    vac = out.vacation
    assert (vac.days, vac.subject, vac.addresses) == (23, "Out of office", ("tjs@example.edu", "ts4z@landru.example.edu"))
    assert vac.reason == "I'm out.\r\n.and back soon.\r\n"
    assert out.copies == INBOX


def test_reject_refuses_without_keeping():
    """reject (RFC 5429) cancels the implicit keep and carries its reason."""
    out = run('require "reject"; if address :is "from" "joe@remote.test" { reject "Not from you, Joe."; }',
              "invoice-from-customer.eml")
    assert (out.reject, out.copies) == ("Not from you, Joe.", [])


def test_too_many_redirects_is_a_runtime_error():
    """More redirects than allowed stop the script (the caller then keeps the message)."""
    with pytest.raises(SieveRuntimeError):
        run('redirect "a@remote.test"; redirect "b@remote.test"; redirect "c@remote.test";', "invoice-from-customer.eml")


@pytest.mark.parametrize("script, line, reason", [
    ('if true {\r\n  keep\r\n}\r\n', 3, "expected ';' or a block after keep, found '}'"),
    ('keep;\r\nfileinto "x";\r\n', 2, 'fileinto needs require "fileinto"'),
    ('require "enotify";\r\n', 1, "unsupported extension 'enotify'"),
    ('keep;\r\nrequire "fileinto";\r\n', 2, "require must come before any other command"),
    ('\r\nif header :is "a" "b" { keep; }\r\nelse { keep; }\r\nelse { discard; }\r\n', 4, "else without if"),
    ('if header :regex "a" "b" { keep; }', 1, "header does not take :regex"),
    ('if size 10 { keep; }', 1, "size needs :over or :under"),
    ('vacation "x";', 1, 'vacation needs require "vacation"'),
    ('require "copy"; redirect :copy ["a@b.test", "c@d.test"];', 1, "redirect argument 1: expected one string, not a list"),
    ('/* never closed', 1, "unterminated comment"),
    ('require "variables";\r\nset "my-name" "x";', 2, "invalid variable name 'my-name'"),
    ('require "variables"; set :lower :upper "a" "b";', 1, "set: only one of :lower, :upper"),
    ('redirect "not an address";', 1, "redirect to an invalid address 'not an address'"),
    ("if true " + "{ if true " * 20 + "{ keep; }" + " }" * 21, 1, "blocks nested deeper than 16"),
])
def test_script_refused_with_line_and_reason(script, line, reason):
    """A script that is not valid Sieve is refused with the line and the reason."""
    with pytest.raises(SieveError) as info:
        compile_script(script)
    assert (info.value.line, info.value.reason) == (line, reason)


def test_match_variables_are_not_greedy():
    """RFC 5229 section 3.2: each "*" takes as little as the match allows; ${1}.. hold what each wildcard took."""
    out = run('require ["fileinto", "variables"]; if header :matches "Subject" "*o* *" { fileinto "${1}|${2}|${3}"; }',
              "invoice-from-customer.eml")
    assert out.copies == [("Inv|ice|2041 for March", (), False)]


def test_a_pathological_matches_pattern_fails_instead_of_running_away():
    """A :matches pattern that would take too long stops the script (the message is then kept), never a thread."""
    raw = b"Subject: " + b"a" * 10000 + b"\r\n\r\nbody\r\n"
    ctx = Context(message_from_bytes(raw, policy=policy.compat32), Envelope("", "alice@acme.test"), len(raw))
    script = compile_script('if header :matches "subject" "*' + "a" * 30 + 'c" { discard; }')
    with pytest.raises(SieveRuntimeError, match="matching takes too long"):
        evaluate(script, ctx)


def headers_of(fixture: str):
    return message_from_bytes((FIXTURES / fixture).read_bytes(), policy=policy.compat32)


@pytest.mark.parametrize("fixture, sender, why", [
    ("invoice-from-customer.eml", "joe@remote.test", None),
    ("invoice-from-customer.eml", "", "null sender"),
    ("invoice-from-customer.eml", "MAILER-DAEMON@remote.test", "automated sender"),
    ("invoice-from-customer.eml", "owner-bakers@remote.test", "automated sender"),
    ("invoice-from-customer.eml", "bakers-request@remote.test", "automated sender"),
    ("invoice-from-customer.eml", "alice@acme.test", "own address"),
    ("list-newsletter.eml", "news@lists.remote.test", "mailing list"),
    ("auto-submitted-notification.eml", "tickets@remote.test", "Auto-Submitted"),
    ("not-addressed-to-alice.eml", "joe@remote.test", "not addressed to the user"),
])
def test_when_a_vacation_reply_is_not_sent(fixture, sender, why):
    """RFC 3834 section 2 and RFC 5230 section 4.5-4.6: who never gets an automatic reply."""
    assert no_reply_reason(headers_of(fixture), sender, {"alice@acme.test"}) == why


def test_bulk_precedence_gets_no_reply():
    """Precedence: bulk (or junk, list) means no reply."""
    headers = headers_of("invoice-from-customer.eml")
    headers["Precedence"] = "bulk"
    assert no_reply_reason(headers, "joe@remote.test", {"alice@acme.test"}) == "Precedence"


def test_vacation_with_mime_uses_the_reason_as_the_body_part():
    """RFC 5230 section 5.8: with :mime the reason's own Content-Type is the reply's."""
    reason = 'Content-Type: text/html; charset="utf-8"\r\n\r\n<p>Away until <b>Monday</b>.</p>\r\n'
    reply = message_from_bytes(build_vacation(headers_of("invoice-from-customer.eml"), "alice@acme.test",
                                              "joe@remote.test", reason, None, True, "box.appliance.test"))
    assert reply.get_content_type() == "text/html"
    assert "<b>Monday</b>" in reply.get_payload()
    assert reply["References"] == "<invoice-2041@remote.test>"
