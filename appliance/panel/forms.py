"""The panel's forms (WTForms): fields and their limits, declared once.

Each form is built for one request by a function that takes the request's
``gettext`` (``_``), so labels and error messages come from the panel's own
catalogs in the user's language. Validation here is about the shape of the
input; the rules of the business (who may exist, plans, password strength)
are the services', whose errors the views put beside the field they concern.
"""

from __future__ import annotations

from typing import Callable

from wtforms import Form, PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, EqualTo, InputRequired, Length, Optional, Regexp, ValidationError

from appliance import apppasswords, passwords, twofactor
from appliance.zones import MAX_TTL, MAX_TXT, MIN_TTL, RECORD_TYPES, TTL
from storage.names import LOCAL_RE, MAX_ADDRESS, MAX_LOCAL, MAX_NAME

from . import i18n

Gettext = Callable[..., str]


class FormData:
    """What WTForms reads a submitted form from (``getlist``), over the
    parsed ``application/x-www-form-urlencoded`` body."""

    def __init__(self, fields: dict[str, list[str]]):
        self.fields = fields

    def __iter__(self):
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def getlist(self, name: str) -> list[str]:
        return self.fields.get(name, [])

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default


def _password_rules(_: Gettext) -> list:
    return [
        InputRequired(_("Enter a password.")),
        Length(min=passwords.MIN_PASSWORD_LENGTH, max=passwords.MAX_PASSWORD_LENGTH,
               message=_("Use %(min)d to %(max)d characters.", min=passwords.MIN_PASSWORD_LENGTH,
                         max=passwords.MAX_PASSWORD_LENGTH)),
    ]


def signin(_: Gettext, data: FormData | None = None) -> Form:
    class SignIn(Form):
        address = StringField(_("E-mail address"), [
            InputRequired(_("Enter your e-mail address.")),
            Length(max=MAX_ADDRESS, message=_("An address has at most %(max)d characters.", max=MAX_ADDRESS)),
        ], render_kw={"autocomplete": "username", "inputmode": "email", "spellcheck": "false"})
        password = _sign_in_password(_)

    return SignIn(data)


def _sign_in_password(_: Gettext) -> PasswordField:
    """The password of a sign-in form (a user's or an operator's)."""
    return PasswordField(_("Password"), [
        InputRequired(_("Enter your password.")),
        Length(max=passwords.MAX_PASSWORD_LENGTH, message=_("This password is too long.")),
    ], render_kw={"autocomplete": "current-password"})


def change_password(_: Gettext, data: FormData | None = None) -> Form:
    class ChangePassword(Form):
        current = PasswordField(_("Current password"), [InputRequired(_("Enter your current password."))],
                                render_kw={"autocomplete": "current-password"})
        new = PasswordField(_("New password"), _password_rules(_), render_kw={"autocomplete": "new-password"})
        confirm = PasswordField(_("New password again"), [
            InputRequired(_("Enter the new password again.")),
            EqualTo("new", message=_("The two new passwords differ.")),
        ], render_kw={"autocomplete": "new-password"})

    return ChangePassword(data)


def add_person(_: Gettext, domains: list[str], data: FormData | None = None) -> Form:
    class AddPerson(Form):
        name = StringField(_("Full name"), [
            Optional(), Length(max=MAX_NAME, message=_("A name has at most %(max)d characters.", max=MAX_NAME)),
        ], render_kw={"autocomplete": "off"})
        local = StringField(_("Address (before the @)"), [
            InputRequired(_("Enter the part of the address before the @.")),
            Length(max=MAX_LOCAL, message=_("This part has at most %(max)d characters.", max=MAX_LOCAL)),
            Regexp(LOCAL_RE.pattern, message=_("Use letters, digits, dots, hyphens or underscores.")),
        ], filters=[lambda v: v.strip().lower() if isinstance(v, str) else v],
            render_kw={"autocomplete": "off", "spellcheck": "false"})
        domain = SelectField(_("Domain"), choices=[(d, "@" + d) for d in domains],
                             invalid_choice_message=_("Choose one of your domains."))
        first = RadioField(_("Their first password"), choices=[
            ("password", _("I give them a password that the panel makes")),
            ("invite", _("They choose it through a link that I send them")),
        ], default="password", invalid_choice_message=_("Choose how they get their password."))

    return AddPerson(data)


def language(_: Gettext, current: str, data: FormData | None = None) -> Form:
    class Language(Form):
        language = SelectField(_("Language"), choices=[(code, i18n.NAMES[code]) for code in i18n.LANGUAGES],
                               default=current, invalid_choice_message=_("Choose one of the languages."))

    return Language(data)


def _code_field(_: Gettext, label: str, numeric: bool):
    # A TOTP code is six digits; a recovery code has letters too.
    kw = {"autocomplete": "one-time-code", "spellcheck": "false", "autocapitalize": "none"}
    if numeric:
        kw["inputmode"] = "numeric"
    return StringField(label, [
        InputRequired(_("Enter the code.")),
        Length(max=twofactor.MAX_CODE_LENGTH, message=_("A code has at most %(max)d characters.",
                                                        max=twofactor.MAX_CODE_LENGTH)),
    ], render_kw=kw)


def signin_code(_: Gettext, data: FormData | None = None) -> Form:
    class SignInCode(Form):
        code = _code_field(_, _("Code from your app, or a recovery code"), numeric=False)

    return SignInCode(data)


def app_code(_: Gettext, data: FormData | None = None, prefix: str = "") -> Form:
    class AppCode(Form):
        code = _code_field(_, _("Code from your app"), numeric=True)

    return AppCode(data, prefix=prefix)


def turn_off_two_step(_: Gettext, data: FormData | None = None) -> Form:
    class TurnOff(Form):
        password = PasswordField(_("Your password"), [
            InputRequired(_("Enter your password.")),
            Length(max=passwords.MAX_PASSWORD_LENGTH, message=_("This password is too long.")),
        ], render_kw={"autocomplete": "current-password"})
        code = _code_field(_, _("Code from your app, or a recovery code"), numeric=False)

    # Beside another code form on the same page: its own field names.
    return TurnOff(data, prefix="off")


def app_password(_: Gettext, data: FormData | None = None) -> Form:
    class AppPasswordForm(Form):
        name = StringField(_("Name of the app or device"), [
            InputRequired(_("Enter a name, such as “Phone mail”.")),
            Length(max=apppasswords.MAX_NAME, message=_("A name has at most %(max)d characters.",
                                                        max=apppasswords.MAX_NAME)),
        ], render_kw={"autocomplete": "off"})

    return AppPasswordForm(data)
# -- domains and their DNS records -----------------------------------------------

#: The longest domain name (RFC 1035 section 2.3.4, in text form).
MAX_DOMAIN = 253


def _lower(value):
    return value.strip().lower() if isinstance(value, str) else value


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def attach_domain(_: Gettext, data: FormData | None = None) -> Form:
    class AttachDomain(Form):
        domain = StringField(_("Your domain"), [
            InputRequired(_("Enter your domain, for example bakery-smith.com.")),
            Length(max=MAX_DOMAIN, message=_("A domain has at most %(max)d characters.", max=MAX_DOMAIN)),
        ], filters=[_lower], render_kw={"autocomplete": "off", "spellcheck": "false", "inputmode": "url"})

    return AttachDomain(data)


def remove_domain(_: Gettext, domain: str, data: FormData | None = None) -> Form:
    class RemoveDomain(Form):
        confirm = StringField(_("Type the domain to confirm"), [
            InputRequired(_("Type %(domain)s to confirm.", domain=domain)),
            Length(max=MAX_DOMAIN, message=_("Type %(domain)s to confirm.", domain=domain)),
            AnyOf([domain], message=_("Type %(domain)s to confirm.", domain=domain)),
        ], filters=[_lower], render_kw={"autocomplete": "off", "spellcheck": "false"})

    return RemoveDomain(data)


def _seconds(message: str):
    """A whole number of seconds from MIN_TTL to MAX_TTL (kept as text: the
    handler converts it once it is valid)."""

    def check(form: Form, field) -> None:
        text = field.data or ""
        if not (text.isdigit() and len(text) <= 7 and MIN_TTL <= int(text) <= MAX_TTL):
            raise ValidationError(message)

    return check


def dns_record(_: Gettext, data: FormData | None = None) -> Form:
    seconds = _("Use %(min)d to %(max)d seconds.", min=MIN_TTL, max=MAX_TTL)

    class DnsRecord(Form):
        name = StringField(_("Name"), [
            InputRequired(_("Enter a name: @ for the domain itself.")),
            Length(max=MAX_DOMAIN, message=_("A name has at most %(max)d characters.", max=MAX_DOMAIN)),
        ], default="@", filters=[_lower], render_kw={"autocomplete": "off", "spellcheck": "false"})
        type = SelectField(_("Type"), choices=[(t, t) for t in RECORD_TYPES],
                           invalid_choice_message=_("Choose one of the types."))
        value = StringField(_("Value"), [
            InputRequired(_("Enter the record's value.")),
            Length(max=MAX_TXT, message=_("A value has at most %(max)d characters.", max=MAX_TXT)),
        ], filters=[_strip], render_kw={"autocomplete": "off", "spellcheck": "false"})
        ttl = StringField(_("Time to live (seconds)"), [
            InputRequired(_("Enter a number of seconds.")), _seconds(seconds),
        ], default=str(TTL), filters=[_strip], render_kw={"inputmode": "numeric", "autocomplete": "off"})

    return DnsRecord(data)


def remove_record(_: Gettext, data: FormData | None = None) -> Form:
    """The record a remove button names (hidden fields of the records page)."""
    class RemoveRecord(Form):
        name = StringField(_("Name"), [InputRequired(), Length(max=MAX_DOMAIN)])
        type = SelectField(_("Type"), choices=[(t, t) for t in RECORD_TYPES])
        value = StringField(_("Value"), [InputRequired(), Length(max=MAX_TXT)])

    return RemoveRecord(data)
# -- the owner's pages -------------------------------------------------------

#: The most a "deliver to" box may hold: every target, separated.
MAX_TARGETS_TEXT = 100 * (MAX_ADDRESS + 2)


def role(_: Gettext, data: FormData | None = None) -> Form:
    class Role(Form):
        role = SelectField(_("Role"), choices=[("owner", _("Owner")), ("member", _("Member"))],
                           invalid_choice_message=_("Choose owner or member."))

    return Role(data)


def quota(_: Gettext, data: FormData | None = None) -> Form:
    class Quota(Form):
        # Text, not a number field: its error is ours, in the user's language.
        megabytes = StringField(_("Mailbox size in MB"), [
            InputRequired(_("Enter a size in MB, or 0 for the plan's size.")),
            Regexp(r"^[0-9]{1,8}\Z", message=_("Enter a whole number of MB, 0 or more.")),
        ], filters=[lambda v: v.strip() if isinstance(v, str) else v],
            render_kw={"inputmode": "numeric", "autocomplete": "off"})

    return Quota(data)


def add_address(_: Gettext, domains: list[str], data: FormData | None = None) -> Form:
    class AddAddress(Form):
        local = StringField(_("Address (before the @)"), [
            Optional(),
            Length(max=MAX_LOCAL, message=_("This part has at most %(max)d characters.", max=MAX_LOCAL)),
            Regexp(LOCAL_RE.pattern, message=_("Use letters, digits, dots, hyphens or underscores.")),
        ], filters=[lambda v: v.strip().lower() if isinstance(v, str) else v],
            render_kw={"autocomplete": "off", "spellcheck": "false"})
        domain = SelectField(_("Domain"), choices=[(d, "@" + d) for d in domains],
                             invalid_choice_message=_("Choose one of your domains."))
        targets = TextAreaField(_("Deliver to"), [
            InputRequired(_("Enter at least one address of your business.")),
            Length(max=MAX_TARGETS_TEXT, message=_("This list is too long.")),
        ], render_kw={"autocomplete": "off", "spellcheck": "false", "rows": "3"})

    return AddAddress(data)


def remove_address(_: Gettext, data: FormData | None = None) -> Form:
    class RemoveAddress(Form):
        address = StringField(_("Address"), [InputRequired(), Length(max=MAX_ADDRESS)])

    return RemoveAddress(data)


def choose_password(_: Gettext, data: FormData | None = None) -> Form:
    class ChoosePassword(Form):
        new = PasswordField(_("Your password"), _password_rules(_), render_kw={"autocomplete": "new-password"})
        confirm = PasswordField(_("Your password again"), [
            InputRequired(_("Enter the password again.")),
            EqualTo("new", message=_("The two passwords differ.")),
        ], render_kw={"autocomplete": "new-password"})

    return ChoosePassword(data)
# -- operators -----------------------------------------------------------------

#: An operator's name as typed (the service checks its shape).
MAX_OPERATOR_NAME = 64
#: A TOTP code is 6 digits; a recovery code 11 characters.
MAX_CODE = 32
MAX_SLUG = 63
MAX_DOMAIN = 253
MAX_SEARCH = 100


def operator_signin(_: Gettext, data: FormData | None = None) -> Form:
    class OperatorSignIn(Form):
        name = StringField(_("Operator name"), [
            InputRequired(_("Enter your operator name.")),
            Length(max=MAX_OPERATOR_NAME, message=_("A name has at most %(max)d characters.", max=MAX_OPERATOR_NAME)),
        ], render_kw={"autocomplete": "username", "spellcheck": "false"})
        password = _sign_in_password(_)

    return OperatorSignIn(data)


def operator_code(_: Gettext, data: FormData | None = None) -> Form:
    class OperatorCode(Form):
        code = StringField(_("Code"), [
            InputRequired(_("Enter the code.")),
            Length(max=MAX_CODE, message=_("A code has at most %(max)d characters.", max=MAX_CODE)),
        ], render_kw={"autocomplete": "one-time-code", "spellcheck": "false"})

    return OperatorCode(data)


def business_search(_: Gettext, data: FormData | None = None) -> Form:
    class BusinessSearch(Form):
        q = StringField(_("Search"), [
            Optional(), Length(max=MAX_SEARCH, message=_("Search for at most %(max)d characters.", max=MAX_SEARCH)),
        ], render_kw={"type": "search", "spellcheck": "false"})

    return BusinessSearch(data)


def new_business(_: Gettext, plans: list[str], default_plan: str, data: FormData | None = None) -> Form:
    lower = [lambda v: v.strip().lower() if isinstance(v, str) else v]

    class NewBusiness(Form):
        slug = StringField(_("Short name"), [
            InputRequired(_("Enter a short name.")),
            Length(max=MAX_SLUG, message=_("A short name has at most %(max)d characters.", max=MAX_SLUG)),
            Regexp(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
                   message=_("Use lower-case letters, digits and hyphens, not at either end.")),
        ], filters=lower, render_kw={"autocomplete": "off", "spellcheck": "false"})
        name = StringField(_("Business name"), [
            InputRequired(_("Enter the business's name.")),
            Length(max=MAX_NAME, message=_("A name has at most %(max)d characters.", max=MAX_NAME)),
        ], render_kw={"autocomplete": "off"})
        domain = StringField(_("Its own domain (optional)"), [
            Optional(), Length(max=MAX_DOMAIN, message=_("A domain has at most %(max)d characters.", max=MAX_DOMAIN)),
        ], filters=lower, render_kw={"autocomplete": "off", "spellcheck": "false"})
        plan = SelectField(_("Plan"), choices=[(p, p) for p in plans], default=default_plan,
                           invalid_choice_message=_("Choose one of the plans."))
        owner = StringField(_("Owner's e-mail address"), [
            InputRequired(_("Enter the owner's address.")),
            Length(max=MAX_ADDRESS, message=_("An address has at most %(max)d characters.", max=MAX_ADDRESS)),
        ], filters=lower, render_kw={"autocomplete": "off", "inputmode": "email", "spellcheck": "false"})

    return NewBusiness(data)


def change_plan(_: Gettext, plans: list[str], current: str, data: FormData | None = None) -> Form:
    class ChangePlan(Form):
        plan = SelectField(_("Plan"), choices=[(p, p) for p in plans], default=current,
                           invalid_choice_message=_("Choose one of the plans."))

    return ChangePlan(data)
