"""The operators' brand form: its fields and their limits, declared once
(the values' rules are :mod:`appliance.brandrules`', checked by the
service, whose errors the page puts beside the field)."""

from __future__ import annotations

from wtforms import Form, StringField
from wtforms.validators import InputRequired, Length

from appliance import brandrules

from .forms import FormData, Gettext


def brand(_: Gettext, data: FormData | None = None, values: dict[str, str] | None = None) -> Form:
    strip = [lambda v: v.strip() if isinstance(v, str) else v]

    class BrandForm(Form):
        name = StringField(_("Name shown"), [
            InputRequired(_("Enter a name.")),
            Length(max=brandrules.MAX_NAME, message=_("A name has at most %(max)d characters.", max=brandrules.MAX_NAME)),
        ], filters=strip, render_kw={"autocomplete": "organization"})
        colour = StringField(_("Primary colour"), [
            Length(max=7, message=_("Write the colour as #rrggbb, for example #0b5cad.")),
        ], filters=strip, render_kw={"autocomplete": "off", "spellcheck": "false"})
        support_email = StringField(_("Support e-mail address"), [
            Length(max=brandrules.MAX_EMAIL, message=_("An address has at most %(max)d characters.", max=brandrules.MAX_EMAIL)),
        ], filters=strip, render_kw={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"})
        support_url = StringField(_("Support link"), [
            Length(max=brandrules.MAX_URL, message=_("A link has at most %(max)d characters.", max=brandrules.MAX_URL)),
        ], filters=strip, render_kw={"autocomplete": "url", "inputmode": "url", "spellcheck": "false"})

    return BrandForm(data, data=values)
