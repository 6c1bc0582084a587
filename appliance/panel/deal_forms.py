"""The forms of the deals and pipeline pages (WTForms), and how amounts
show: fields and their limits declared once, labels and messages in the
user's language. The limits are the deals service's, which checks them
again with the rest of its rules."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Callable

from babel.numbers import format_currency, list_currencies
from wtforms import BooleanField, Form, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional, Regexp, ValidationError

from appliance.services import deals as service
from storage.deals import DealValues

from .contact_forms import _Date
from .forms import FormData, Gettext

#: An amount as people type it: digits, maybe grouped by spaces, with up
#: to two decimals after a point or a comma.
AMOUNT_RE = re.compile(r"([0-9]{1,15})(?:[.,]([0-9]{1,2}))?")
_GROUPING = re.compile(r"[\s\u00a0\u202f'_]")
CURRENCIES = frozenset(list_currencies())


def default_names(_: Gettext) -> service.DefaultNames:
    """The default pipeline, named in the user's language."""
    return service.DefaultNames((_("New"), _("Qualified"), _("Proposal"), _("Negotiation")), _("Won"), _("Lost"))


def money(lang: str) -> Callable[[int, str], str]:
    """A formatter of (cents, currency) for ``lang`` (Babel's CLDR data)."""
    def fmt(cents: int, currency: str) -> str:
        return format_currency(Decimal(cents).scaleb(-2), currency, locale=lang)

    return fmt


def cents_of(text: str) -> int | None:
    """The cents an amount typed as "1 234,50" or "1234.5" says, or None."""
    m = AMOUNT_RE.fullmatch(_GROUPING.sub("", text or ""))
    if m is None:
        return None
    return int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))


def amount_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}" if cents % 100 else str(cents // 100)


def deal(_: Gettext, stages: list[service.Stage], people: list[str], data: FormData | None = None,
         current: service.Deal | None = None, default_owner: str = "") -> Form:
    """A deal's fields; ``current`` fills them (editing), ``default_owner``
    is the owner a new deal gets."""

    def amount_ok(form: Form, f) -> None:
        cents = cents_of(f.data)
        if cents is None:
            raise ValidationError(_("Enter an amount such as 1250.00."))
        if cents > service.MAX_AMOUNT_CENTS:
            raise ValidationError(_("At most %(max)s.", max=amount_text(service.MAX_AMOUNT_CENTS)))

    def currency_ok(form: Form, f) -> None:
        if (f.data or "").strip().upper() not in CURRENCIES:
            raise ValidationError(_("Enter a currency code such as EUR, USD or CHF."))

    def probability_ok(form: Form, f) -> None:
        text = (f.data or "").strip().rstrip("%").strip()
        if not text.isdigit() or not 0 <= int(text) <= 100:
            raise ValidationError(_("Enter a number from 0 to 100."))

    class DealForm(Form):
        title = StringField(_("Title"), [
            InputRequired(_("Give the deal a title.")),
            Length(max=service.MAX_TITLE, message=_("At most %(max)d characters.", max=service.MAX_TITLE)),
        ], render_kw={"autocomplete": "off"})
        amount = StringField(_("Amount"), [InputRequired(_("Enter an amount such as 1250.00.")), amount_ok],
                             default="0", render_kw={"inputmode": "decimal", "autocomplete": "off"})
        currency = StringField(_("Currency"), [InputRequired(_("Enter a currency code such as EUR, USD or CHF.")),
                                               Length(max=3), currency_ok],
                               default=service.DEFAULT_CURRENCY, render_kw={"maxlength": "3", "autocomplete": "off"})
        stage = SelectField(_("Stage"), choices=[(str(s.id), s.name) for s in stages],
                            invalid_choice_message=_("Choose one of the stages."))
        close_date = _Date(_("Expected close date (optional)"), [Optional()], format="%Y-%m-%d",
                           render_kw={"type": "date"}, unreadable=_("Enter a date such as 2026-03-31."))
        probability = StringField(_("Probability (%)"), [InputRequired(_("Enter a number from 0 to 100.")),
                                                         probability_ok],
                                  default="50", render_kw={"inputmode": "numeric", "autocomplete": "off"})
        owner = SelectField(_("Owner"), choices=[(p, p) for p in people], default=default_owner,
                            invalid_choice_message=_("Choose one of the business's people."))

        def validate_close_date(self, f) -> None:
            if f.data is not None and not 1900 <= f.data.year <= 2999:
                raise ValidationError(_("Enter a date such as 2026-03-31."))

    form = DealForm(data)
    if data is None and current is not None:
        form.title.data = current.title
        form.amount.data = amount_text(current.amount_cents)
        form.currency.data = current.currency
        form.stage.data = str(current.stage.id)
        form.close_date.data = _date(current.close_date)
        form.probability.data = str(current.probability)
        form.owner.data = current.owner
    return form


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def values_of(form: Form) -> DealValues:
    """What a valid deal form says, for the service."""
    return DealValues(
        title=form.title.data or "", amount_cents=cents_of(form.amount.data) or 0,
        currency=(form.currency.data or "").strip().upper(), stage_id=int(form.stage.data),
        close_date=form.close_date.data.isoformat() if form.close_date.data else "",
        probability=int((form.probability.data or "0").strip().rstrip("%").strip()), owner=form.owner.data or "")


def pipeline(_: Gettext, stages: list[service.Stage], data: FormData | None = None) -> Form:
    """The pipeline editor: per stage its name, and per open stage its
    position and a "remove" box; a name for a new stage."""

    class Pipeline(Form):
        new = StringField(_("New stage (optional)"), [Optional(), Length(
            max=service.MAX_STAGE_NAME, message=_("At most %(max)d characters.", max=service.MAX_STAGE_NAME))],
            render_kw={"autocomplete": "off"})

    position = 0
    for s in stages:
        setattr(Pipeline, f"name_{s.id}", StringField(_("Name"), [
            InputRequired(_("Give the stage a name.")),
            Length(max=service.MAX_STAGE_NAME, message=_("At most %(max)d characters.", max=service.MAX_STAGE_NAME)),
        ], default=s.name, render_kw={"autocomplete": "off"}))
        if s.kind == "open":
            position += 1
            setattr(Pipeline, f"order_{s.id}", StringField(_("Position"), [
                InputRequired(_("Enter a number.")), Regexp(r"[0-9]{1,3}\Z", message=_("Enter a number."))],
                default=str(position), render_kw={"inputmode": "numeric", "autocomplete": "off"}))
            setattr(Pipeline, f"remove_{s.id}", BooleanField(_("Remove this stage")))
    return Pipeline(data)


def stage_changes(form: Form, stages: list[service.Stage]) -> list[service.StageChange]:
    """What a valid pipeline form asks of each stage."""
    changes = []
    for s in stages:
        order = getattr(form, f"order_{s.id}", None)
        remove = getattr(form, f"remove_{s.id}", None)
        changes.append(service.StageChange(s.id, getattr(form, f"name_{s.id}").data or "",
                                           int(order.data) if order is not None else 0,
                                           bool(remove is not None and remove.data)))
    return changes
