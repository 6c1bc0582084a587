"""The mail-rules page's forms (WTForms): a vacation reply, a forward, one
"move to a folder" rule. Each has its own prefix, so the three can sit on
one page without their fields' names and ids meeting.

The shapes and limits are :mod:`appliance.sieve.panelscript`'s; the rules
(dates in order, not forwarding to oneself) are the sieve service's, whose
errors the view puts beside the field they name.
"""

from __future__ import annotations

from wtforms import BooleanField, Form, HiddenField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, Regexp

from appliance.sieve import panelscript
from storage.names import MAX_ADDRESS

from .forms import FormData, Gettext

_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def vacation(_: Gettext, data: FormData | None = None, **values) -> Form:
    date_message = _("Give a date as YYYY-MM-DD.")

    class VacationForm(Form):
        enabled = BooleanField(_("Send an automatic reply"))
        # A browser's date picker sends YYYY-MM-DD; without one, people type it.
        start = StringField(_("First day (optional)"), [Optional(), Regexp(_DATE, message=date_message)],
                            filters=[_strip], render_kw={"type": "date"})
        until = StringField(_("Last day (optional)"), [Optional(), Regexp(_DATE, message=date_message)],
                            filters=[_strip], render_kw={"type": "date"})
        subject = StringField(_("Subject of the reply"), [
            Optional(),
            Length(max=panelscript.MAX_SUBJECT, message=_("At most %(max)d characters.", max=panelscript.MAX_SUBJECT)),
            Regexp(_ONE_LINE, message=_("Keep it on one line.")),
        ], filters=[_strip])
        text = TextAreaField(_("Text of the reply"), [
            Length(max=panelscript.MAX_TEXT, message=_("At most %(max)d characters.", max=panelscript.MAX_TEXT)),
        ], filters=[lambda v: v.replace("\r\n", "\n").strip() if isinstance(v, str) else v],
            render_kw={"rows": "6"})

    return VacationForm(data, prefix="vacation", data=values or None)


def forward(_: Gettext, data: FormData | None = None, **values) -> Form:
    class ForwardForm(Form):
        to = StringField(_("Forward my mail to"), [
            Optional(),
            Length(max=MAX_ADDRESS, message=_("An address has at most %(max)d characters.", max=MAX_ADDRESS)),
        ], filters=[_strip], render_kw={"inputmode": "email", "autocomplete": "off", "spellcheck": "false"})
        keep = BooleanField(_("Keep a copy here too"), default=True)

    return ForwardForm(data, prefix="forward", data=values or None)


def rule(_: Gettext, data: FormData | None = None) -> Form:
    limit = _("At most %(max)d characters.", max=panelscript.MAX_MATCH)
    one_line = _("Keep it on one line.")

    class RuleForm(Form):
        sender = StringField(_("When the sender's address contains"), [
            Optional(), Length(max=panelscript.MAX_MATCH, message=limit), Regexp(_ONE_LINE, message=one_line),
        ], filters=[_strip], render_kw={"autocomplete": "off", "spellcheck": "false"})
        subject = StringField(_("and the subject contains"), [
            Optional(), Length(max=panelscript.MAX_MATCH, message=limit), Regexp(_ONE_LINE, message=one_line),
        ], filters=[_strip], render_kw={"autocomplete": "off"})
        folder = StringField(_("move it to the folder"), [
            InputRequired(_("Name the folder.")),
            Length(max=panelscript.MAX_FOLDER, message=_("At most %(max)d characters.", max=panelscript.MAX_FOLDER)),
            Regexp(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]*$",
                   message=_("Use letters, digits, spaces and . _ / - (starting with a letter or digit).")),
        ], filters=[_strip], render_kw={"autocomplete": "off"})

    return RuleForm(data, prefix="rule")


def delete(data: FormData | None = None) -> Form:
    class DeleteForm(Form):
        rule = HiddenField("", [InputRequired(), Regexp(r"^[1-9][0-9]{0,2}$")])

    return DeleteForm(data)
