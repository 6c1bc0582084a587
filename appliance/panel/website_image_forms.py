"""The image library's forms (WTForms): the upload's descriptions, a
picture's alt text, and the picture and gallery blocks, which choose from
the library instead of naming a file.

The service (``appliance.services.imagelibrary``, the site builder) checks
everything again when it saves.
"""

from __future__ import annotations

from wtforms import Form, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from appliance.services.imagelibrary import MAX_ALT, MAX_FILES

from .forms import FormData, Gettext


def _limit(_: Gettext, most: int) -> Length:
    return Length(max=most, message=_("At most %(max)d characters.", max=most))


def upload(_: Gettext, data: FormData | None = None) -> Form:
    """The descriptions of the pictures sent with them: one line each, in
    the order of their file names."""

    class Upload(Form):
        alts = TextAreaField(_("What each picture shows"), [
            InputRequired(_("Describe each picture, one line for each.")),
            _limit(_, MAX_FILES * (MAX_ALT + 2)),
        ], render_kw={"rows": 4})

    return Upload(data)


def alt(_: Gettext, data: FormData | None = None, value: str = "") -> Form:
    class Alt(Form):
        alt = StringField(_("What the picture shows"), [
            DataRequired(_("Describe the picture for people who cannot see it.")), _limit(_, MAX_ALT),
        ], default=value, filters=[lambda v: v.strip() if isinstance(v, str) else v])

    return Alt(data)


class _Checkboxes(SelectMultipleField):
    """Several choices as checkboxes, each with its own label."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def picture_block(_: Gettext, kind: str, pictures: list[tuple[str, str]], data: FormData | None = None,
                  values: dict | None = None) -> Form:
    """The form of a picture (``image``) or ``gallery`` block: the
    library's ``pictures`` ((name, alt) pairs) to choose from; a picture
    may get its own alt text (empty: the library's) and a caption."""

    class Picture(Form):
        file = SelectField(_("Picture"), choices=[(n, f"{n}: {a}" if a else n) for n, a in pictures],
                           validate_choice=True, invalid_choice_message=_("Choose a picture of your library."))
        alt = StringField(_("What it shows (empty: the description in the library)"),
                          [Optional(), _limit(_, MAX_ALT)])
        caption = StringField(_("Caption"), [Optional(), _limit(_, MAX_ALT)])

    class Gallery(Form):
        files = _Checkboxes(_("Pictures"), choices=[(n, f"{n}: {a}" if a else n) for n, a in pictures],
                            validators=[DataRequired(_("Choose at least one picture."))],
                            validate_choice=True)

    form = (Picture if kind == "image" else Gallery)(data)
    if data is None and values:
        form.process(data=values)
    return form
