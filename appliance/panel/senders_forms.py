"""The sender lists' forms (WTForms): add an entry to the allow or block
list, remove one. The entry's rules (address or domain, IDNA, limits) are
the sender lists service's, whose refusals the views put beside the field."""

from __future__ import annotations

from wtforms import Form, SelectField, StringField
from wtforms.validators import AnyOf, InputRequired, Length

from appliance.services.senderlists import LISTS, MAX_ENTRY

from .forms import FormData, Gettext


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def add(_: Gettext, data: FormData | None = None) -> Form:
    class AddForm(Form):
        list = SelectField(_("List"), choices=[("block", _("Block: refuse their mail")),
                                               ("allow", _("Allow: never delay or refuse it as spam"))],
                           default="block", validators=[AnyOf(LISTS)])
        entry = StringField(_("Address or domain"), [
            InputRequired(_("Enter an address (someone@example.com) or a domain (example.com).")),
            Length(max=MAX_ENTRY, message=_("At most %(max)d characters.", max=MAX_ENTRY)),
        ], filters=[_strip], render_kw={"autocomplete": "off", "spellcheck": "false"})

    return AddForm(data, prefix="senders")


def remove(data: FormData | None = None) -> Form:
    class RemoveForm(Form):
        list = StringField("", [AnyOf(LISTS)])
        entry = StringField("", [InputRequired(), Length(max=MAX_ENTRY)])

    return RemoveForm(data)
