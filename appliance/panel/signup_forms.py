"""The sign-up form (WTForms): fields and their limits declared once,
labels and messages in the visitor's language. The sign-up service checks
every value again with the rest of its rules."""

from __future__ import annotations

from wtforms import BooleanField, Form, HiddenField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length, Regexp

from appliance.services import signup as service
from storage.names import LOCAL_RE, MAX_LOCAL, MAX_NAME

from .forms import FormData, Gettext, _password_rules

MAX_SLUG = 63
MAX_TOKEN = 200


def signup(_: Gettext, codes: bool, terms: bool, data: FormData | None = None) -> Form:
    """The form; ``codes``: an invitation code is asked; ``terms``: the
    visitor must accept the terms (always, with a link when there is one)."""
    lower = [lambda v: v.strip().lower() if isinstance(v, str) else v]

    class Signup(Form):
        name = StringField(_("Business name"), [
            InputRequired(_("Enter your business's name.")),
            Length(max=MAX_NAME, message=_("A name has at most %(max)d characters.", max=MAX_NAME)),
        ], render_kw={"autocomplete": "organization"})
        slug = StringField(_("Short name of your business"), [
            InputRequired(_("Enter a short name.")),
            Length(max=MAX_SLUG, message=_("A short name has at most %(max)d characters.", max=MAX_SLUG)),
            Regexp(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
                   message=_("Use lower-case letters, digits and hyphens, not at either end.")),
        ], filters=lower, render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"})
        local = StringField(_("Your name in your address"), [
            InputRequired(_("Enter the part of your address before the @.")),
            Length(max=MAX_LOCAL, message=_("This part has at most %(max)d characters.", max=MAX_LOCAL)),
            Regexp(LOCAL_RE, message=_("Use letters, digits and . - _ only.")),
        ], filters=lower, render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"})
        new = PasswordField(_("Your password"), _password_rules(_), render_kw={"autocomplete": "new-password"})
        confirm = PasswordField(_("Your password again"), [
            InputRequired(_("Enter the password again.")),
            EqualTo("new", message=_("The two passwords differ.")),
        ], render_kw={"autocomplete": "new-password"})
        answer = StringField(_("Your answer"), [
            InputRequired(_("Answer the question.")),
            Length(max=service.MAX_ANSWER, message=_("Answer with a number.")),
        ], render_kw={"autocomplete": "off", "inputmode": "numeric"})
        token = HiddenField(validators=[Length(max=MAX_TOKEN)])
        terms_ok = BooleanField(_("I accept the terms of service"), [
            InputRequired(_("Accept the terms to sign up.")),
        ])

    if codes:
        Signup.code = StringField(_("Invitation code"), [
            InputRequired(_("Enter your invitation code.")),
            Length(max=service.MAX_CODE, message=_("A code has at most %(max)d characters.", max=service.MAX_CODE)),
        ], render_kw={"autocomplete": "off", "spellcheck": "false"})
    return Signup(data)
