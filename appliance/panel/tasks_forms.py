"""The task lists' forms (WTForms): a task, a new or renamed list. Labels
and messages in the user's language; the limits are the tasks service's,
which checks them again."""

from __future__ import annotations

from wtforms import Form, HiddenField, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional, Regexp, ValidationError

from appliance.services import tasks as service

from .contact_forms import _Date
from .forms import FormData, Gettext


def status_labels(_: Gettext) -> dict[str, str]:
    return {"NEEDS-ACTION": _("Needs action"), "IN-PROCESS": _("In progress"),
            "COMPLETED": _("Completed"), "CANCELLED": _("Cancelled")}


def priority_labels(_: Gettext) -> dict[int, str]:
    return {0: _("None"), 1: _("High"), 5: _("Normal"), 9: _("Low")}


def task(_: Gettext, lists: list[service.TaskList], colleagues: list[str], data: FormData | None = None,
         current: service.Task | None = None) -> Form:
    """A task's fields; ``current`` fills them when editing."""
    people = list(colleagues)
    if current and current.fields.assignee and current.fields.assignee not in people:
        people.append(current.fields.assignee)
    priorities = priority_labels(_)
    if current and current.fields.priority not in priorities:
        priorities[current.fields.priority] = str(current.fields.priority)

    statuses = list(status_labels(_).items())
    people_choices = [("", _("Nobody"))] + [(a, a) for a in people]
    priority_choices = [(str(k), v) for k, v in sorted(priorities.items())]

    class TaskForm(Form):
        title = StringField(_("Title"), [
            InputRequired(_("Give the task a title.")),
            Length(max=service.MAX_TITLE, message=_("At most %(max)d characters.", max=service.MAX_TITLE)),
        ], render_kw={"autocomplete": "off"})
        list = SelectField(_("List"), choices=[(t.ref, t.name) for t in lists if t.writable],
                           invalid_choice_message=_("Choose one of the lists."))
        status = SelectField(_("Status"), choices=statuses,
                             invalid_choice_message=_("Choose one of the statuses."))
        assignee = SelectField(_("Assigned to"), choices=people_choices,
                               invalid_choice_message=_("Choose one of your colleagues."))
        due = _Date(_("Due date (optional)"), [Optional()], format="%Y-%m-%d", render_kw={"type": "date"},
                    unreadable=_("Enter a date such as 2026-03-31."))
        priority = SelectField(_("Priority"), choices=priority_choices,
                               invalid_choice_message=_("Choose one of the priorities."))
        etag = HiddenField()

        def validate_title(self, f) -> None:
            if not (f.data or "").strip():
                raise ValidationError(_("Give the task a title."))

        def validate_due(self, f) -> None:
            if f.data is not None and not 1900 <= f.data.year <= 2999:
                raise ValidationError(_("Enter a date such as 2026-03-31."))

    form = TaskForm(data)
    if data is None and current is not None:
        f = current.fields
        form.title.data, form.list.data, form.status.data = f.title, current.list, f.status
        form.assignee.data, form.due.data, form.priority.data = f.assignee, f.due, str(f.priority)
        form.etag.data = current.etag
    elif data is None:
        form.status.data, form.priority.data = "NEEDS-ACTION", "0"
    return form


def fields_of(form: Form) -> service.Fields:
    return service.Fields(title=form.title.data or "", status=form.status.data, assignee=form.assignee.data or "",
                          due=form.due.data, priority=int(form.priority.data or 0))


def task_list(_: Gettext, data: FormData | None = None, prefix: str = "") -> Form:
    """A new list's name and colour; ``prefix`` tells apart two such forms
    on one page (a shared list's and one's own)."""
    class ListForm(Form):
        name = StringField(_("Name"), [
            InputRequired(_("Give the list a name.")),
            Length(max=service.MAX_LIST_NAME, message=_("At most %(max)d characters.", max=service.MAX_LIST_NAME)),
        ], render_kw={"autocomplete": "off"})
        colour = StringField(_("Colour"), [Optional(), Regexp(r"^#[0-9A-Fa-f]{6}$", message=_("Choose a colour."))],
                             default="#2e7d32", render_kw={"type": "color"})

        def validate_name(self, f) -> None:
            if not (f.data or "").strip():
                raise ValidationError(_("Give the list a name."))

    return ListForm(data, prefix=prefix)
