"""Webmail's forms (WTForms), declared once with their limits (see
:mod:`.forms` for how a form is built for one request)."""

from __future__ import annotations

from wtforms import BooleanField, DateField, Form, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, Regexp, ValidationError

from appliance import webmailsignatures
from storage import mail as maildb

from . import forms

#: The text of a message written here (the form body is at most 64 KiB).
MAX_BODY = 60_000


def compose(_: forms.Gettext, senders: list[str], data: forms.FormData | None = None) -> Form:
    class Compose(Form):
        sender = SelectField(_("From"), choices=[(s, s) for s in senders])
        to = StringField(_("To"), [Length(max=4000, message=_("Too long."))])
        cc = StringField(_("Cc"), [Length(max=4000, message=_("Too long."))])
        bcc = StringField(_("Bcc"), [Length(max=4000, message=_("Too long."))])
        subject = StringField(_("Subject"), [Length(max=500, message=_("Too long."))])
        body = TextAreaField(_("Message"), [Length(max=MAX_BODY, message=_("Too long."))])
        formatted = BooleanField(_("Send with formatting"))
        in_reply_to = HiddenField(validators=[Length(max=998)])
        references = HiddenField(validators=[Length(max=998)])
        #: ``folder/uid`` of the message a reply answers (marked \Answered once sent).
        answers = HiddenField(validators=[Regexp(r"^([0-9]{1,12}/[0-9]{1,12})?$")])
        #: ``folder/uid`` of a message forwarded as an attachment.
        attached = HiddenField(validators=[Regexp(r"^([0-9]{1,12}/[0-9]{1,12})?$")])
        #: UID in Drafts of the draft this form saved last (replaced by the
        #: next save, removed once the message is sent).
        draft_uid = HiddenField(validators=[Regexp(r"^([0-9]{1,12})?$")])

    return Compose(data)


def signature(_: forms.Gettext, index: int, data: forms.FormData | None = None) -> Form:
    """The signature of the ``index``-th sending address (its fields are
    prefixed ``s<index>-``: each address has its form on one page)."""

    class Signature(Form):
        text = TextAreaField(_("Signature"), [Length(max=webmailsignatures.MAX_SIGNATURE,
                                                     message=_("At most %(size)d characters.",
                                                               size=webmailsignatures.MAX_SIGNATURE))])

    return Signature(data, prefix=f"s{index}-")


#: The query string's keys of the search form (a GET form).
SEARCH_KEYS = ("field", "q", "since", "until", "state")


def search(_: forms.Gettext, data: forms.FormData | None = None) -> Form:
    class Search(Form):
        field = SelectField(_("Search in"), choices=[("subject", _("Subject")), ("from", _("Sender")),
                                                     ("to", _("Recipient")), ("body", _("Message text"))],
                            default="subject")
        q = StringField(_("Search for"), [Length(max=200, message=_("Too long."))])
        since = DateField(_("Received from"), [Optional()], format="%Y-%m-%d",
                          render_kw={"min": "1970-01-01", "max": "9999-12-31"})
        until = DateField(_("Received until"), [Optional()], format="%Y-%m-%d",
                          render_kw={"min": "1970-01-01", "max": "9999-12-31"})
        state = SelectField(_("Show"), choices=[("", _("All messages")), ("unread", _("Unread")),
                                                ("flagged", _("Flagged")), ("answered", _("Answered"))],
                            default="")

        def validate_until(self, until: DateField) -> None:
            if until.data and self.since.data and until.data < self.since.data:
                raise ValidationError(_("The end is before the start."))

    return Search(data)


def folder(_: forms.Gettext, parents: list[tuple[str, str]], data: forms.FormData | None = None) -> Form:
    """A folder's name and where it sits: ``parents`` are (id, label) of
    the folders it may go under; the name's rules are IMAP's
    (:func:`storage.mail.check_name`), checked by the service."""

    class Folder(Form):
        name = StringField(_("Folder name"), [InputRequired(_("Enter a name.")),
                                              Length(max=maildb.MAX_NAME_LENGTH, message=_("Too long."))])
        parent = SelectField(_("Inside"), choices=[("", _("(top level)"))] + parents)

    return Folder(data)
