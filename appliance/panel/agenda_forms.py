"""The agenda's event form (WTForms): fields and limits declared once,
labels and messages in the user's language. The limits are the agenda
service's, which checks them again."""

from __future__ import annotations

import datetime as dt
import re

from wtforms import BooleanField, Form, HiddenField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from appliance import vevent
from appliance.services import agenda as service

from .contact_forms import _Date
from .forms import FormData, Gettext

_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])(?::[0-5][0-9](?:\.[0-9]+)?)?")


class _Checkboxes(SelectMultipleField):
    """Several choices as checkboxes, each with its own label."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def reminder_label(_: Gettext, minutes: int) -> str:
    if minutes == 1440:
        return _("1 day before")
    if minutes % 1440 == 0:
        return _("%(n)d days before", n=minutes // 1440)
    if minutes == 60:
        return _("1 hour before")
    if minutes % 60 == 0:
        return _("%(n)d hours before", n=minutes // 60)
    return _("%(n)d minutes before", n=minutes)


def _time(text: str) -> dt.time | None:
    m = _TIME_RE.fullmatch((text or "").strip())
    return dt.time(int(m.group(1)), int(m.group(2))) if m else None


def event(_: Gettext, calendars: list[service.Calendar], colleagues: list[str], contacts: list[tuple[str, str]],
          data: FormData | None = None, current: service.Editable | None = None,
          zone: dt.tzinfo = dt.timezone.utc, day: dt.date | None = None) -> Form:
    """An event's fields; ``current`` fills them (editing, in its own zone
    or ``zone``), ``day`` is a new event's date."""
    known = set(colleagues) | {e for _, e in contacts}
    extra = [a for a in (current.fields.attendees if current else ()) if a not in known]
    reminders = list(service.REMINDERS)
    if current and current.fields.reminder is not None and current.fields.reminder not in reminders:
        reminders.append(current.fields.reminder)

    people = [(a, a) for a in colleagues + extra]
    cards = [(e, f"{n} <{e}>" if n else e) for n, e in contacts]
    calendar_choices = [(c.ref, _("%(name)s (shared)", name=c.name) if c.shared else c.name) for c in calendars]
    reminder_choices = [("", _("No reminder"))] + [(str(m), reminder_label(_, m)) for m in reminders]

    def time_ok(form: Form, f) -> None:
        if not form.all_day.data and _time(f.data) is None:
            raise ValidationError(_("Enter a time such as 09:30."))

    class EventForm(Form):
        title = StringField(_("Title"), [
            InputRequired(_("Give the event a title.")),
            Length(max=service.MAX_TITLE, message=_("At most %(max)d characters.", max=service.MAX_TITLE)),
        ], render_kw={"autocomplete": "off"})
        calendar = SelectField(_("Calendar"), choices=calendar_choices, invalid_choice_message=_("Choose one of your calendars."))
        all_day = BooleanField(_("All day"))
        start_date = _Date(_("Start date"), [InputRequired(_("Enter a date such as 2026-03-31."))], format="%Y-%m-%d",
                           render_kw={"type": "date"}, unreadable=_("Enter a date such as 2026-03-31."))
        start_time = StringField(_("Start time"), [time_ok], default="09:00", render_kw={"type": "time"})
        end_date = _Date(_("End date"), [InputRequired(_("Enter a date such as 2026-03-31."))], format="%Y-%m-%d",
                         render_kw={"type": "date"}, unreadable=_("Enter a date such as 2026-03-31."))
        end_time = StringField(_("End time"), [time_ok], default="10:00", render_kw={"type": "time"})
        place = StringField(_("Place (optional)"), [Optional(), Length(
            max=service.MAX_PLACE, message=_("At most %(max)d characters.", max=service.MAX_PLACE))])
        description = TextAreaField(_("Description (optional)"), [Optional(), Length(
            max=service.MAX_DESCRIPTION, message=_("At most %(max)d characters.", max=service.MAX_DESCRIPTION))],
            render_kw={"rows": 4})
        colleagues = _Checkboxes(_("Colleagues"), choices=people,
                                 validate_choice=False)
        contacts = SelectMultipleField(_("Contacts"), choices=cards,
                                       validate_choice=False, render_kw={"size": min(8, max(2, len(cards)))})
        reminder = SelectField(_("Reminder"), choices=reminder_choices, invalid_choice_message=_("Choose one of the reminders."))
        etag = HiddenField()
        # Only shown (and only read) for one occurrence of a repeating event.
        scope = scope_field(_)

        def validate_title(self, f) -> None:
            if not (f.data or "").strip():
                raise ValidationError(_("Give the event a title."))

        def validate_start_date(self, f) -> None:
            if f.data is not None and not 1900 <= f.data.year <= 2999:
                raise ValidationError(_("Enter a date such as 2026-03-31."))

        def validate_end_date(self, f) -> None:
            if f.data is None:
                return
            if not 1900 <= f.data.year <= 2999:
                raise ValidationError(_("Enter a date such as 2026-03-31."))
            if self.start_date.data is None:
                return
            if self.all_day.data:
                wrong = f.data < self.start_date.data
            else:
                start, end = _time(self.start_time.data), _time(self.end_time.data)
                wrong = start is not None and end is not None and (
                    dt.datetime.combine(f.data, end) <= dt.datetime.combine(self.start_date.data, start))
            if wrong:
                raise ValidationError(_("The end must come after the start."))

    form = EventForm(data)
    if data is None and current is not None:
        f = current.fields
        form.title.data = f.title
        form.calendar.data = current.calendar.ref
        form.all_day.data = f.all_day
        if f.all_day:
            form.start_date.data, form.end_date.data = f.start, f.end - dt.timedelta(days=1)
        else:
            start, end = _shown(f.start, zone), _shown(f.end, zone)
            form.start_date.data, form.start_time.data = start.date(), start.strftime("%H:%M")
            form.end_date.data, form.end_time.data = end.date(), end.strftime("%H:%M")
        form.place.data, form.description.data = f.place, f.description
        form.colleagues.data = [a for a in f.attendees if a in set(colleagues) | set(extra)]
        form.contacts.data = [a for a in f.attendees if a not in form.colleagues.data]
        form.reminder.data = "" if f.reminder is None else str(f.reminder)
        form.etag.data = current.etag
    elif data is None:
        form.start_date.data = form.end_date.data = day
        if calendars:
            form.calendar.data = calendars[0].ref
    return form


def scope_field(_: Gettext) -> RadioField:
    """What a change to one occurrence of a repeating event applies to."""
    return RadioField(_("Apply to"), choices=[
        ("occurrence", _("Only this occurrence")),
        ("series", _("Every occurrence (the whole series)")),
    ], default="occurrence", invalid_choice_message=_("Choose this occurrence or the whole series."))


def scope(_: Gettext, data: FormData | None = None) -> Form:
    """The delete page's choice for one occurrence of a repeating event."""
    class ScopeForm(Form):
        scope = scope_field(_)

    return ScopeForm(data)


def _shown(value: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    return value if value.tzinfo is None else value.astimezone(zone)


def zone_of(current: service.Editable | None, default: dt.tzinfo) -> dt.tzinfo:
    """The zone a form's times are in: the event's own, else ``default``."""
    if current is not None and isinstance(current.fields.start, dt.datetime) and current.fields.start.tzinfo:
        return current.fields.start.tzinfo
    return default


def fields_of(form: Form, zone: dt.tzinfo, current: service.Editable | None) -> vevent.Fields:
    """What a valid event form says, for the service (times in ``zone``;
    an event a client wrote with floating times keeps them floating)."""
    if form.all_day.data:
        start, end = form.start_date.data, form.end_date.data + dt.timedelta(days=1)
    else:
        floating = current is not None and isinstance(current.fields.start, dt.datetime) \
            and current.fields.start.tzinfo is None
        tz = None if floating else zone
        start = dt.datetime.combine(form.start_date.data, _time(form.start_time.data), tz)
        end = dt.datetime.combine(form.end_date.data, _time(form.end_time.data), tz)
    attendees = tuple(form.colleagues.data or ()) + tuple(form.contacts.data or ())
    return vevent.Fields(
        title=form.title.data or "", start=start, end=end, place=form.place.data or "",
        description=form.description.data or "", attendees=attendees,
        reminder=int(form.reminder.data) if form.reminder.data else None,
        organizer=current.fields.organizer if current else "")
