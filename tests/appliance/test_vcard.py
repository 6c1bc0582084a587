"""The line-level vCard reader and patcher (:mod:`appliance.vcard`): folding
and escaping as RFC 6350 sections 3.2 and 3.4 say, and patches that touch
only the lines whose value changed."""

from __future__ import annotations

import dataclasses

import pytest

from appliance import vcard

CARD = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "UID:u-1\r\n"
    "FN:Dana Miller\r\n"
    "N:Miller;Dana;;Dr.;\r\n"
    "item1.EMAIL;TYPE=\"WORK,pref\":dana@miller.example\r\n"
    "item1.X-ABLabel:Office\r\n"
    "EMAIL:old@miller.example\r\n"
    "ORG:Miller GmbH;Events\r\n"
    "X-LONG:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
    "\tbbbb\r\n"
    "NOTE:one\\, two\\; three\\nfour\r\n"
    "END:VCARD\r\n"
)


def test_a_patch_that_changes_nothing_gives_the_same_bytes():
    """Reading a card and patching it with what was read leaves it byte for
    byte as it was (folds with a tab, a group, quoted parameters)."""
    assert vcard.patch(CARD, vcard.read(CARD)) == CARD
    lf_only = CARD.replace("\r\n", "\n")
    assert vcard.patch(lf_only, vcard.read(lf_only)) == lf_only


def test_escaped_text_reads_back_as_written():
    """NOTE's escaped comma, semicolon and newline read as the characters;
    escape() gives them back."""
    note = vcard.read(CARD).note
    assert note == "one, two; three\nfour"
    assert vcard.escape(note) == "one\\, two\\; three\\nfour"
    assert vcard.unescape(vcard.escape("a\\b,c;d\ne")) == "a\\b,c;d\ne"


def test_long_lines_fold_at_75_octets_without_splitting_a_character():
    """A folded line never exceeds 75 octets and never cuts a UTF-8
    sequence; unfolding gives the line back."""
    line = "NOTE:" + "Größe über Äpfel € " * 20
    folded = vcard.fold(line)
    physical = folded.split("\r\n")[:-1]
    assert len(physical) > 3
    assert all(len(p.encode()) <= 75 for p in physical)
    assert physical[0] + "".join(p[1:] for p in physical[1:]) == line


def test_removing_one_email_removes_only_its_line():
    """Of two e-mails, the one dropped loses its line; the kept one keeps
    its group and parameters; the group's label line stays."""
    fields = vcard.read(CARD)
    out = vcard.patch(CARD, dataclasses.replace(fields, emails=["dana@miller.example"]))
    assert "EMAIL:old@miller.example" not in out
    assert "item1.EMAIL;TYPE=\"WORK,pref\":dana@miller.example\r\n" in out
    assert "item1.X-ABLabel:Office\r\n" in out
    assert out == CARD.replace("EMAIL:old@miller.example\r\n", "")


def test_names_and_org_keep_their_other_components():
    """A new family name keeps N's prefix; a new company keeps ORG's unit."""
    fields = vcard.read(CARD)
    out = vcard.patch(CARD, dataclasses.replace(fields, family="Müller", org="Müller AG"))
    assert "N:Müller;Dana;;Dr.;\r\n" in out and "ORG:Müller AG;Events\r\n" in out
    assert "FN:Dana Miller\r\n" in out


def test_a_new_card_is_vcard_3_and_reads_back():
    """A new company card is vCard 3.0 with KIND:org; its fields read back."""
    fields = vcard.Fields(kind="org", name="Sonne; Mond, Sterne", emails=["a@b.example"], tags=["x,y", "z"])
    card = vcard.new_card("id-1", fields)
    assert card.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:id-1\r\n") and "KIND:org\r\n" in card
    back = vcard.read(card)
    assert (back.kind, back.name, back.emails, back.tags) == ("org", "Sonne; Mond, Sterne", ["a@b.example"], ["x,y", "z"])


@pytest.mark.parametrize("text", ["", "hello", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                                  "BEGIN:VCARD\r\nno colon here\r\nEND:VCARD\r\n",
                                  CARD + CARD])
def test_what_is_not_one_vcard_is_refused(text):
    """Empty text, a calendar, a line without a value, two cards: VCardError."""
    with pytest.raises(vcard.VCardError):
        vcard.lines(text)


def test_absorb_adds_only_the_addresses_a_card_lacks_and_keeps_every_line():
    """Merging two cards: the other's ADR lines the card lacks come after
    its own (the other's group dropped), a value it has is not repeated,
    and every line of the card stays byte for byte."""
    card = CARD.replace("END:VCARD\r\n", "ADR;TYPE=HOME:;;Elm St 1;Springfield;;;\r\nEND:VCARD\r\n")
    other = ("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u-2\r\nFN:D M\r\n"
             "ADR;TYPE=HOME:;;Elm St 1;Springfield;;;\r\n"
             "item3.ADR;TYPE=WORK:;;Main St 9;Shelbyville;;;\r\nEND:VCARD\r\n")
    merged = vcard.absorb(card, other)
    assert merged == card.replace("END:VCARD\r\n", "ADR;TYPE=WORK:;;Main St 9;Shelbyville;;;\r\nEND:VCARD\r\n")
    assert vcard.absorb(merged, other) == merged
