"""The operators' plan and extra forms: their fields and limits, declared
once (the bounds are the settings' ``[plans.NAME]`` keys and the extras
service's)."""

from __future__ import annotations

from wtforms import Form, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Regexp
from wtforms.widgets import TextInput

from appliance.services.extras import KINDS, MAX_AMOUNT
from appliance.settings import PLAN_KEYS

from .forms import FormData, Gettext

#: The figures' bounds, from the settings' plan keys (``_int(lo, hi)``).
_BOUNDS = {"max_users": (1, 100_000), "mailbox_mb": (1, 10_000_000), "web_mb": (1, 1_000_000),
           "messages_per_day": (1, 10_000_000)}
assert set(_BOUNDS) == {k.name for k in PLAN_KEYS}


def _figure(label: str, name: str, _: Gettext, default: int | None) -> IntegerField:
    # A text input, not type=number: a refused value is shown back as typed
    # (valid HTML), and the error beside it says what is wanted.
    lo, hi = _BOUNDS[name]
    return IntegerField(label, [
        InputRequired(_("Enter a whole number.")),
        NumberRange(lo, hi, message=_("Enter a whole number from %(min)d to %(max)d.", min=lo, max=hi)),
    ], default=default, widget=TextInput(), render_kw={"inputmode": "numeric", "spellcheck": "false"})


def plan(_: Gettext, data: FormData | None = None, *, current=None, new: bool = True) -> Form:
    """A plan's figures (and its name when ``new``); ``current`` fills them."""
    defaults = {k.name: k.default for k in PLAN_KEYS}
    if current is not None:
        defaults = {"max_users": current.max_users, "mailbox_mb": current.mailbox_bytes // 2**20,
                    "web_mb": current.web_bytes // 2**20, "messages_per_day": current.messages_per_day}

    class PlanForm(Form):
        max_users = _figure(_("People"), "max_users", _, defaults["max_users"])
        mailbox_mb = _figure(_("Storage per mailbox (MB)"), "mailbox_mb", _, defaults["mailbox_mb"])
        web_mb = _figure(_("Web space (MB)"), "web_mb", _, defaults["web_mb"])
        messages_per_day = _figure(_("Messages sent a day"), "messages_per_day", _, defaults["messages_per_day"])

    if new:
        class NewPlan(PlanForm):
            name = StringField(_("Plan name"), [
                InputRequired(_("Enter a name for the plan.")),
                Length(max=32, message=_("A plan name has at most %(max)d characters.", max=32)),
                Regexp(r"^[a-z0-9-]+$", message=_("Use lower-case letters, digits and hyphens.")),
            ], filters=[lambda v: v.strip().lower() if isinstance(v, str) else v],
                render_kw={"autocomplete": "off", "spellcheck": "false"})

        return NewPlan(data)
    return PlanForm(data)


def extra(_: Gettext, data: FormData | None = None) -> Form:
    labels = {"people": _("More people"), "mailbox_mb": _("More storage per mailbox (MB)"),
              "web_mb": _("More web space (MB)")}
    top = max(MAX_AMOUNT.values())

    class ExtraForm(Form):
        kind = SelectField(_("Extra"), choices=[(k, labels[k]) for k in KINDS],
                           invalid_choice_message=_("Choose one of the extras."))
        amount = IntegerField(_("Amount"), [
            InputRequired(_("Enter a whole number.")),
            NumberRange(1, top, message=_("Enter a whole number from %(min)d to %(max)d.", min=1, max=top)),
        ], widget=TextInput(), render_kw={"inputmode": "numeric", "spellcheck": "false"})

    return ExtraForm(data)
