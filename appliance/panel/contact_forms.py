"""The forms of the contacts pages (WTForms): fields and their limits,
declared once, labels and messages in the user's language (see
:mod:`.forms`). The limits are the contacts service's; it checks them
again with the rest of its rules."""

from __future__ import annotations

from wtforms import DateField, FileField, Form, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from appliance import contactfiles, vcard
from appliance.services import contacts as service
from storage import crm

from .forms import FormData, Gettext

#: The largest file (or pasted text) an import takes.
MAX_UPLOAD_BYTES = service.MAX_IMPORT_BYTES


def stage_labels(_: Gettext) -> dict[str, str]:
    return {"lead": _("Lead"), "prospect": _("Prospect"), "customer": _("Customer"), "former": _("Former customer")}


def activity_labels(_: Gettext) -> dict[str, str]:
    return {"note": _("Note"), "call": _("Call"), "meeting": _("Meeting"), "stage": _("Stage"), "deal": _("Deal")}


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _tags(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def search(_: Gettext, tags: list[str], data: FormData | None = None) -> Form:
    class Search(Form):
        q = StringField(_("Search"), [Optional(), Length(max=service.MAX_QUERY, message=_(
            "A search has at most %(max)d characters.", max=service.MAX_QUERY))],
            render_kw={"type": "search", "autocomplete": "off"})
        stage = SelectField(_("Stage"), choices=[("", _("Any stage")), *stage_labels(_).items()], default="",
                            invalid_choice_message=_("Choose one of the stages."))
        tag = SelectField(_("Tag"), choices=[("", _("Any tag")), *((t, t) for t in tags)], default="",
                          invalid_choice_message=_("Choose one of the tags."))

    return Search(data)


def _card(_: Gettext) -> type[Form]:
    """The fields people and companies share."""
    def emails_ok(form: Form, f) -> None:
        emails = _lines(f.data)
        if len(emails) > service.MAX_EMAILS:
            raise ValidationError(_("At most %(max)d addresses.", max=service.MAX_EMAILS))
        for email in emails:
            if len(email) > service.MAX_ADDRESS or not service.EMAIL_RE.fullmatch(email):
                raise ValidationError(_("This is not an e-mail address: %(value)s", value=email[:80]))

    def phones_ok(form: Form, f) -> None:
        phones = _lines(f.data)
        if len(phones) > service.MAX_PHONES:
            raise ValidationError(_("At most %(max)d numbers.", max=service.MAX_PHONES))
        for phone in phones:
            if len(phone) > service.MAX_PHONE or not service.PHONE_RE.fullmatch(" ".join(phone.split())):
                raise ValidationError(_("This is not a phone number: %(value)s", value=phone[:80]))

    def tags_ok(form: Form, f) -> None:
        tags = _tags(f.data)
        if len(tags) > service.MAX_TAGS or any(len(t) > service.MAX_TAG for t in tags):
            raise ValidationError(_("At most %(count)d tags of at most %(max)d characters each.",
                                    count=service.MAX_TAGS, max=service.MAX_TAG))

    class Card(Form):
        emails = TextAreaField(_("E-mail addresses"), [Optional(), emails_ok], render_kw={"rows": 2, "spellcheck": "false"})
        phones = TextAreaField(_("Phone numbers"), [Optional(), phones_ok], render_kw={"rows": 2})
        tags = StringField(_("Tags"), [Optional(), tags_ok], render_kw={"autocomplete": "off"})
        note = TextAreaField(_("Note"), [Optional(), Length(max=service.MAX_NOTE, message=_(
            "A note has at most %(max)d characters.", max=service.MAX_NOTE))], render_kw={"rows": 4})
        etag = HiddenField()

    return Card


def _name_rules(_: Gettext, required: bool) -> list:
    rules = [InputRequired(_("Enter a name."))] if required else [Optional()]
    return rules + [Length(max=service.MAX_NAME, message=_("A name has at most %(max)d characters.", max=service.MAX_NAME))]


def person(_: Gettext, data: FormData | None = None, fields: vcard.Fields | None = None, etag: str = "") -> Form:
    """A person's card; ``fields`` fill it (editing)."""

    class Person(_card(_)):
        given = StringField(_("Given name"), _name_rules(_, False), render_kw={"autocomplete": "off"})
        family = StringField(_("Family name"), _name_rules(_, False), render_kw={"autocomplete": "off"})
        org = StringField(_("Company"), [Optional(), Length(max=service.MAX_NAME, message=_(
            "A name has at most %(max)d characters.", max=service.MAX_NAME))], render_kw={"autocomplete": "off"})
        title = StringField(_("Job title"), [Optional(), Length(max=service.MAX_TEXT, message=_(
            "A job title has at most %(max)d characters.", max=service.MAX_TEXT))], render_kw={"autocomplete": "off"})

        def validate(self, extra_validators=None) -> bool:
            valid = super().validate(extra_validators)
            # Either name will do; Optional() on each stops their own checks.
            if not (self.given.data or "").strip() and not (self.family.data or "").strip():
                self.family.errors = [*self.family.errors, _("Enter a given or a family name.")]
                valid = False
            return valid

    form = Person(data)
    if data is None and fields is not None:
        form.given.data, form.family.data = fields.given, fields.family
        if not (fields.given or fields.family):
            form.family.data = fields.name
        form.org.data, form.title.data = fields.org, fields.title
        _fill(form, fields, etag)
    return form


def company(_: Gettext, data: FormData | None = None, fields: vcard.Fields | None = None, etag: str = "") -> Form:
    """A company's card; ``fields`` fill it (editing)."""

    class Company(_card(_)):
        name = StringField(_("Company name"), _name_rules(_, True), render_kw={"autocomplete": "off"})

    form = Company(data)
    if data is None and fields is not None:
        form.name.data = fields.name
        _fill(form, fields, etag)
    return form


def _fill(form: Form, fields: vcard.Fields, etag: str) -> None:
    form.emails.data = "\n".join(fields.emails)
    form.phones.data = "\n".join(fields.phones)
    form.tags.data = ", ".join(fields.tags)
    form.note.data = fields.note
    form.etag.data = etag


def fields_of(form: Form, kind: str) -> vcard.Fields:
    """What a valid person or company form says, for the service."""
    f = vcard.Fields(kind=kind, emails=_lines(form.emails.data), phones=_lines(form.phones.data),
                     tags=_tags(form.tags.data), note=form.note.data or "")
    if kind == "org":
        f.name = form.name.data or ""
    else:
        f.given, f.family = form.given.data or "", form.family.data or ""
        f.org, f.title = form.org.data or "", form.title.data or ""
    return f


def stage(_: Gettext, current: str | None, data: FormData | None = None) -> Form:
    class Stage(Form):
        stage = SelectField(_("Stage"), choices=[("", _("No stage")), *stage_labels(_).items()],
                            default=current or "", invalid_choice_message=_("Choose one of the stages."))

    return Stage(data)


def activity(_: Gettext, data: FormData | None = None) -> Form:
    class AddActivity(Form):
        kind = SelectField(_("What"), choices=[(k, activity_labels(_)[k]) for k in service.ACTIVITY_KINDS],
                           invalid_choice_message=_("Choose a note, a call or a meeting."))
        text = TextAreaField(_("Text"), [
            InputRequired(_("Write what happened.")),
            Length(max=crm.MAX_ACTIVITY_CHARS, message=_("At most %(max)d characters.", max=crm.MAX_ACTIVITY_CHARS)),
        ], render_kw={"rows": 3})

    return AddActivity(data)


def import_text(_: Gettext, data: FormData | None = None) -> Form:
    class ImportText(Form):
        upload = FileField(_("A .vcf or .csv file"))
        text = TextAreaField(_("Or paste its contents"), [
            Optional(),
            Length(max=MAX_UPLOAD_BYTES, message=_("This is too much at once: import it in parts.")),
        ], render_kw={"rows": 8, "spellcheck": "false"})
        confirm = HiddenField()

        def validate(self, extra_validators=None) -> bool:
            valid = super().validate(extra_validators)
            if len(self.upload.data or "") > MAX_UPLOAD_BYTES:
                self.upload.errors = [*self.upload.errors, _("This is too much at once: import it in parts.")]
                valid = False
            if not (self.content().strip() or self.errors):
                self.upload.errors = [*self.upload.errors, _("Choose a .vcf or .csv file, or paste its contents.")]
                valid = False
            return valid

        def content(self) -> str:
            """The file's text, else what was pasted."""
            upload = self.upload.data if isinstance(self.upload.data, str) else ""
            return upload or self.text.data or ""

    return ImportText(data)


def skip_labels(_: Gettext) -> dict[str, str]:
    return {
        contactfiles.MALFORMED: _("cannot be read"),
        contactfiles.NO_NAME: _("has no name"),
        contactfiles.DUPLICATE: _("is already in the address book (same e-mail address), or twice in the file"),
        contactfiles.INVALID: _("has a value that is not valid or is too long, such as an e-mail address or a phone number"),
        contactfiles.TOO_MANY: _("and what follows: one import takes at most %(max)d contacts", max=service.MAX_IMPORT),
    }


class _Date(DateField):
    """A date field whose "cannot read this date" message is ours (in the
    user's language), not WTForms' own."""

    def __init__(self, *args, unreadable: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.unreadable = unreadable

    def process_formdata(self, valuelist) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(self.unreadable) from None

    def _value(self) -> str:
        # A date input holds a valid date or nothing (HTML's rule): what
        # could not be read is not sent back; the error says why.
        return self.data.strftime("%Y-%m-%d") if self.data else ""


def followup(_: Gettext, data: FormData | None = None) -> Form:
    class FollowUp(Form):
        summary = StringField(_("What to do"), [
            InputRequired(_("Say what is to be done.")),
            Length(max=service.MAX_SUMMARY, message=_("At most %(max)d characters.", max=service.MAX_SUMMARY)),
        ], render_kw={"autocomplete": "off"})
        due = _Date(_("Due on (optional)"), [Optional()], format="%Y-%m-%d", render_kw={"type": "date"},
                    unreadable=_("Enter a date such as 2026-03-31."))

        def validate_due(self, f) -> None:
            if f.data is not None and not 1900 <= f.data.year <= 2999:
                raise ValidationError(_("Enter a date such as 2026-03-31."))

    return FollowUp(data)
