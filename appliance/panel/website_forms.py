"""The website editor's forms (WTForms): the theme, the business profile,
a new page, a page's text, the blocks (the map and the news with their
posts too), and the small forms of the page list.

Each value is checked with the site builder's own rules (``sitegen.model``,
the one definition of a valid name, colour, phone number...), and a value
it refuses gets a message in the user's language beside its field. The
service checks everything again when it saves.
"""

from __future__ import annotations

import datetime
from typing import Callable

from wtforms import BooleanField, Form, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from sitegen import model
from storage.errors import InvalidInput, LimitExceeded

from .forms import FormData, Gettext

#: Longest name, tagline, address and hours the profile holds (``sitegen.model``).
MAX_NAME, MAX_TAGLINE, MAX_ADDRESS, MAX_HOURS = 100, 200, 300, 600
MAX_EMAIL, MAX_URL, MAX_PHONE, MAX_COLOUR, MAX_LANGUAGE = 254, 500, 32, 7, 20
#: Longest page content edited in the panel, in characters: the whole form
#: must stay within the 64 KiB the panel reads (``core.MAX_FORM_BYTES``)
#: once URL-encoded. Longer pages are edited with ``appliance site page``.
MAX_BODY = 10_000


def _lines(value: object) -> object:
    """Lines typed in a text box as the profile stores them: joined by ';'."""
    if not isinstance(value, str):
        return value
    return "; ".join(line.strip() for line in value.splitlines() if line.strip())


def _checked(check: Callable[[str], object], message: str):
    """A validator running ``check`` (a ``sitegen.model`` rule) on the data;
    what it refuses gets ``message``."""

    def validate(form: Form, field) -> None:
        if not field.data or field.errors:  # one message at a time
            return
        try:
            check(field.data)
        except (InvalidInput, LimitExceeded):
            raise ValidationError(message) from None

    return validate


def _profile_rule(key: str):
    return lambda value: model.check_profile_value(key, value)


def theme(_: Gettext, themes: list[tuple[str, str]], current: str | None = None,
          data: FormData | None = None) -> Form:
    """``themes`` is (name, title shown) of each theme."""

    class Theme(Form):
        theme = SelectField(_("Theme"), choices=themes, default=current,
                            invalid_choice_message=_("Choose one of the themes."))

    return Theme(data)


def profile(_: Gettext, data: FormData | None = None, values: dict | None = None) -> Form:
    """The business profile; ``values`` fill it when nothing was submitted."""

    def limit(most: int) -> Length:
        return Length(max=most, message=_("At most %(max)d characters.", max=most))

    colour_message = _("Write a colour as # and six hexadecimal digits, for example #1a5fb4, or leave it empty.")

    class Profile(Form):
        name = StringField(_("Business name"), [
            InputRequired(_("Enter the name of the business.")), limit(MAX_NAME),
            _checked(_profile_rule("name"), _("Enter the name of the business."))])
        tagline = StringField(_("Tagline"), [Optional(), limit(MAX_TAGLINE)])
        colour = StringField(_("Brand colour"), [
            Optional(), limit(MAX_COLOUR), _checked(_profile_rule("colour"), colour_message)],
            render_kw={"spellcheck": "false", "autocomplete": "off"})
        accent = StringField(_("Accent colour"), [
            Optional(), limit(MAX_COLOUR), _checked(_profile_rule("accent"), colour_message)],
            render_kw={"spellcheck": "false", "autocomplete": "off"})
        address = TextAreaField(_("Address"), [
            Optional(), limit(MAX_ADDRESS),
            _checked(_profile_rule("address"), _("Write the address on at most 6 lines."))],
            filters=[_lines], render_kw={"rows": 4, "autocomplete": "street-address"})
        phone = StringField(_("Phone"), [
            Optional(), limit(MAX_PHONE),
            _checked(_profile_rule("phone"), _("Use digits, spaces and + ( ) - . / only."))],
            render_kw={"type": "tel", "autocomplete": "tel"})
        email = StringField(_("E-mail address"), [
            Optional(), limit(MAX_EMAIL),
            _checked(_profile_rule("email"), _("Enter an e-mail address such as hello@example.com."))],
            render_kw={"type": "email", "autocomplete": "email", "spellcheck": "false"})
        hours = TextAreaField(_("Opening hours"), [
            Optional(), limit(MAX_HOURS),
            _checked(_profile_rule("hours"), _("Write at most 14 lines of at most 80 characters."))],
            filters=[_lines], render_kw={"rows": 4})
        map = StringField(_("Map link"), [
            Optional(), limit(MAX_URL),
            _checked(_profile_rule("map"), _("Enter a web address starting with https://."))],
            render_kw={"type": "url", "spellcheck": "false"})
        language = StringField(_("Language of the site"), [
            Optional(), limit(MAX_LANGUAGE),
            _checked(_profile_rule("language"), _("Enter a language code such as en, fr or de."))],
            id="site-language",
            render_kw={"spellcheck": "false", "autocomplete": "off"})

    form = Profile(data)
    if data is None and values:
        form.process(data=values)
        # Shown one line per line (the filter joins them again when sent).
        for f in (form.address, form.hours):
            f.data = "\n".join(p.strip() for p in (f.data or "").split(";") if p.strip())
    return form


def new_page(_: Gettext, data: FormData | None = None) -> Form:
    class NewPage(Form):
        name = StringField(_("Address of the page"), [
            InputRequired(_("Enter the page's address.")),
            Length(max=40, message=_("At most %(max)d characters.", max=40)),
            _checked(model.page_name, _("Use 1 to 40 lower-case letters, digits and hyphens; some names are reserved.")),
        ], filters=[lambda v: v.strip().lower() if isinstance(v, str) else v],
            render_kw={"spellcheck": "false", "autocomplete": "off"})
        title = StringField(_("Title"), _title_rules(_))

    return NewPage(data)


def _title_rules(_: Gettext) -> list:
    return [InputRequired(_("Enter a title.")),
            Length(max=model.MAX_TITLE, message=_("At most %(max)d characters.", max=model.MAX_TITLE))]


def edit_page(_: Gettext, data: FormData | None = None, values: dict | None = None) -> Form:
    """A page's title, menu label, description and body."""

    class EditPage(Form):
        title = StringField(_("Title"), _title_rules(_))
        menu = StringField(_("Name in the menu"), [
            Optional(), Length(max=model.MAX_MENU, message=_("At most %(max)d characters.", max=model.MAX_MENU))])
        description = TextAreaField(_("Description"), [
            Optional(), Length(max=model.MAX_DESCRIPTION,
                               message=_("At most %(max)d characters.", max=model.MAX_DESCRIPTION))],
            render_kw={"rows": 2})
        body = TextAreaField(_("Content"), [
            Optional(), Length(max=MAX_BODY, message=_("At most %(max)d characters.", max=MAX_BODY))],
            render_kw={"rows": 18, "spellcheck": "true"})

    form = EditPage(data)
    if data is None and values:
        form.process(data=values)
    return form


def move(_: Gettext, data: FormData | None = None) -> Form:
    class Move(Form):
        direction = SelectField(_("Direction"), choices=[("up", _("Up")), ("down", _("Down"))],
                                invalid_choice_message=_("Choose up or down."))

    return Move(data)


def menu(_: Gettext, data: FormData | None = None) -> Form:
    class Menu(Form):
        shown = SelectField(_("In the menu"), choices=[("yes", _("Yes")), ("no", _("No"))],
                            invalid_choice_message=_("Choose yes or no."))

    return Menu(data)


def roll_back(_: Gettext, data: FormData | None = None) -> Form:
    class RollBack(Form):
        version = StringField(_("Version"), [
            InputRequired(_("Choose a version.")), Regexp(r"^[1-9][0-9]{0,14}\Z", message=_("Choose a version.")),
        ])

    return RollBack(data)


def block(_: Gettext, kind: str, data: FormData | None = None, values: dict | None = None,
          mailboxes: list[str] | None = None) -> Form:
    """The form of one block of ``kind`` (``sitegen.model.FORM_BLOCKS``),
    shaped like it: a heading and the line under it; the Markdown of a text
    or of the note beside the contact details; the services, one a line;
    the mailbox a contact form sends to, one of ``mailboxes`` (the
    business's addresses), and its heading."""

    def limit(most: int) -> Length:
        return Length(max=most, message=_("At most %(max)d characters.", max=most))

    class Heading(Form):
        title = StringField(_("Heading"), [DataRequired(_("Write the heading.")), limit(model.MAX_TITLE)],
                            filters=[lambda v: v.strip() if isinstance(v, str) else v])
        lead = TextAreaField(_("Text under the heading"), [Optional(), limit(600)], render_kw={"rows": 3})

    class Text(Form):
        markdown = TextAreaField(_("Text"), [InputRequired(_("Write the text.")), limit(MAX_BODY)],
                                 render_kw={"rows": 12})

    class Services(Form):
        items = TextAreaField(_("Services"), [InputRequired(_("List at least one service.")), limit(MAX_BODY)],
                              render_kw={"rows": 10})

    class Contact(Form):
        markdown = TextAreaField(_("Text beside the contact details"), [Optional(), limit(MAX_BODY)],
                                 render_kw={"rows": 4})

    class ContactForm(Form):
        mailbox = SelectField(_("Messages go to"), choices=[(m, m) for m in mailboxes or []],
                              invalid_choice_message=_("Choose one of the business's addresses."))
        heading = StringField(_("Heading above the form"), [Optional(), limit(model.MAX_TITLE)])

    form = {"heading": Heading, "text": Text, "services": Services, "contact": Contact,
            "contact-form": ContactForm}[kind](data)
    if data is None and values:
        form.process(data=values)
    return form


def block_action(_: Gettext, data: FormData | None = None) -> Form:
    class BlockAction(Form):
        action = SelectField(_("Action"), choices=[("up", _("Up")), ("down", _("Down")),
                                                   ("duplicate", _("Duplicate")), ("remove", _("Remove"))],
                             invalid_choice_message=_("Choose what to do with the block."))

    return BlockAction(data)


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class _Checkboxes(SelectMultipleField):
    """Several choices as checkboxes, each with its own label."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _as_text(field) -> None:
    """A refused value shown again in a plain text box: an ``url`` or
    ``date`` input's value must be one (HTML), and what was typed is kept."""
    if field.errors:
        field.render_kw = {k: v for k, v in (field.render_kw or {}).items() if k != "type"}


def _picture_choices(_: Gettext, pictures: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [("", _("No picture"))] + [(n, f"{n}: {a}" if a else n) for n, a in pictures]


def map_block(_: Gettext, pictures: list[tuple[str, str]], data: FormData | None = None,
              values: dict | None = None) -> Form:
    """The map block: its heading, the address shown (empty: the
    profile's), the place (latitude and longitude) or the owner's own map
    link, a picture of the library (``pictures``: (name, alt) pairs) or
    none, and the opt-in to OpenStreetMap's interactive map."""

    def limit(most: int) -> Length:
        return Length(max=most, message=_("At most %(max)d characters.", max=most))

    def coordinate(what: str):
        return _checked(lambda v: model.coordinate(v, what), _("Write decimal degrees, for example 45.7640."))

    class Map(Form):
        heading = StringField(_("Heading"), [Optional(), limit(model.MAX_TITLE)], filters=[_strip])
        address = TextAreaField(_("Address shown"), [
            Optional(), limit(MAX_ADDRESS),
            _checked(_profile_rule("address"), _("Write the address on at most 6 lines."))],
            filters=[_lines], render_kw={"rows": 3, "autocomplete": "street-address"})
        lat = StringField(_("Latitude"), [Optional(), limit(12), coordinate("latitude")], filters=[_strip],
                          render_kw={"inputmode": "decimal", "spellcheck": "false", "autocomplete": "off"})
        lon = StringField(_("Longitude"), [Optional(), limit(12), coordinate("longitude")], filters=[_strip],
                          render_kw={"inputmode": "decimal", "spellcheck": "false", "autocomplete": "off"})
        link = StringField(_("Your own map link"), [
            Optional(), limit(MAX_URL),
            _checked(lambda v: model.https_url(v, "link"), _("Enter a web address starting with https://."))],
            filters=[_strip], render_kw={"type": "url", "spellcheck": "false"})
        image = SelectField(_("Picture of the map"), choices=_picture_choices(_, pictures), default="",
                            invalid_choice_message=_("Choose a picture of your library."))
        alt = StringField(_("What the picture shows (empty: the description in the library)"),
                          [Optional(), limit(model.MAX_LINE)])
        embed = BooleanField(_("Show an interactive map from OpenStreetMap "
                               "(visitors' browsers will contact openstreetmap.org)"))

        def validate(self, extra_validators=None) -> bool:
            valid = super().validate(extra_validators)
            lat, lon = self.lat.data or "", self.lon.data or ""
            if lat and not lon and not self.lon.errors:
                self.lon.errors.append(_("Give the longitude with the latitude."))
            elif lon and not lat and not self.lat.errors:
                self.lat.errors.append(_("Give the latitude with the longitude."))
            elif not lat and not self.link.data and not self.lat.errors and not self.link.errors:
                self.lat.errors.append(_("Give the latitude and longitude of the place, or your own map link."))
            if self.embed.data and not (lat and lon):
                self.embed.errors.append(_("An interactive map needs the latitude and longitude."))
            _as_text(self.link)
            return valid and not any(f.errors for f in (self.lat, self.lon, self.embed))

    form = Map(data)
    if data is None and values:
        form.process(data=values)
        form.embed.data = values.get("embed") == "yes"
        form.address.data = values.get("address", "")
    return form


def news_block(_: Gettext, pictures: list[tuple[str, str]], posts: tuple = (), data: FormData | None = None,
               values: dict | None = None, editing: int = 0, today: datetime.date | None = None) -> Form:
    """The news block: its heading, a box to delete each of its ``posts``
    (``sitegen.model.Post``, newest first), and the fields of one post -
    post number ``editing`` (1 = the first) when the owner chose to edit
    it, else a new post, added when any of its fields is filled. The form
    stays small whatever the number of posts (the panel reads at most
    ``core.MAX_FORM_FIELDS`` fields). A new post past
    ``sitegen.model.MAX_POSTS`` is an error beside its title."""

    def limit(most: int) -> Length:
        return Length(max=most, message=_("At most %(max)d characters.", max=most))

    date_rules = [_checked(model.post_date, _("Write the date as YYYY-MM-DD, for example 2026-12-05."))]
    chosen = editing if 1 <= editing <= len(posts) else 0
    if chosen:
        labels = (_("Title of post %(number)d", number=chosen), _("Date of post %(number)d", number=chosen),
                  _("Text of post %(number)d", number=chosen), _("Picture of post %(number)d", number=chosen),
                  _("What the picture of post %(number)d shows", number=chosen))
    else:
        labels = (_("Title of the new post"), _("Date of the new post"), _("Text of the new post"),
                  _("Picture of the new post"), _("What the new post's picture shows"))

    class News(Form):
        heading = StringField(_("Heading"), [Optional(), limit(model.MAX_TITLE)], filters=[_strip])
        remove = _Checkboxes(_("Delete"), choices=[(str(n), _("Delete post %(number)d", number=n))
                                                   for n in range(1, len(posts) + 1)],
                             validate_choice=True)
        title = StringField(labels[0], [Optional(), limit(model.MAX_TITLE)], filters=[_strip])
        date = StringField(labels[1], [Optional(), *date_rules], filters=[_strip], render_kw={"type": "date"})
        text = TextAreaField(labels[2], [Optional(), limit(model.MAX_POST_TEXT)], render_kw={"rows": 6})
        image = SelectField(labels[3], choices=_picture_choices(_, pictures), default="",
                            invalid_choice_message=_("Choose a picture of your library."))
        alt = StringField(labels[4], [Optional(), limit(model.MAX_LINE)])

        @property
        def editing(self) -> int:
            """The number of the post edited; 0: a new post."""
            return chosen

        def writes(self) -> bool:
            """Whether the post's fields are in use: an edited post always,
            a new one when filled (its date alone is the default)."""
            return bool(chosen or self.title.data or (self.text.data or "").strip() or self.image.data)

        def removed(self) -> set[int]:
            return {int(n) for n in self.remove.data or []}

        def validate(self, extra_validators=None) -> bool:
            valid = super().validate(extra_validators)
            if self.writes():
                if not self.title.data and not self.title.errors:
                    self.title.errors.append(_("Write the post's title."))
                if not self.date.data and not self.date.errors:
                    self.date.errors.append(_("Give the post's date."))
                if not chosen and len(posts) - len(self.removed()) >= model.MAX_POSTS:
                    self.title.errors.append(
                        _("This block has %(max)d posts, as many as it may have: delete one first.",
                          max=model.MAX_POSTS))
            _as_text(self.date)
            return valid and not self.title.errors and not self.date.errors

    form = News(data)
    if data is None:
        shown = {"heading": (values or {}).get("heading", ""), "date": (today or datetime.date.today()).isoformat()}
        if chosen:
            post = posts[chosen - 1]
            shown.update(title=post.title, date=post.date, text=post.markdown, image=post.image, alt=post.alt)
        form.process(data=shown)
    return form


def news_values(form: Form, posts: tuple) -> dict[str, str]:
    """The site builder's fields of the news block from its valid form and
    the block's ``posts`` as they were: the edited post changed, the new
    one added, those ticked deleted."""
    rows = [{"title": p.title, "date": p.date, "text": p.markdown, "image": p.image, "alt": p.alt} for p in posts]
    written = {"title": form.title.data or "", "date": form.date.data or "", "text": form.text.data or "",
               "image": form.image.data or "", "alt": form.alt.data or ""}
    if form.editing:
        rows[form.editing - 1] = written
    removed = form.removed()
    rows = [row for number, row in enumerate(rows, start=1) if number not in removed]
    if not form.editing and form.writes():
        rows.append(written)
    values = {"heading": form.heading.data or ""}
    for n, row in enumerate(rows):
        values.update({f"posts-{n}-{key}": value for key, value in row.items()})
    return values
