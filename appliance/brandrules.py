"""What a reseller's brand may be: its name, colour, support contact and
logo, checked the same way whether they come from the settings file
(``[brand]``) or from an operator's form (:mod:`appliance.services.brand`).

The colour is the panel's primary colour: buttons are drawn in it with
:data:`TEXT_ON_COLOUR` text, and links are written in it on the panel's
page background (:data:`PAGE_BACKGROUNDS`). A colour under WCAG 2.2 AA for
normal text (4.5:1, success criterion 1.4.3) against any of them is
refused, not adjusted: the reseller chose it and must see why it cannot be.

Every check raises :class:`storage.errors.InvalidInput` with one line fit
for the operator, ``field`` naming the input (the logo also
:class:`storage.errors.LimitExceeded`).
"""

from __future__ import annotations

import re

from sitegen import palette
from storage.errors import InvalidInput, LimitExceeded

#: The longest brand name.
MAX_NAME = 60
#: The longest support link and address.
MAX_URL = 300
MAX_EMAIL = 254
#: The largest logo file taken (upload or settings), in bytes.
MAX_LOGO_BYTES = 1024 * 1024
#: The panel's own primary colour (``--accent`` in panel.css).
DEFAULT_COLOUR = "#0b5cad"
#: White text on buttons drawn in the colour (``--accent-ink``).
TEXT_ON_COLOUR = "#ffffff"
#: The backgrounds links in the colour are written on: cards and the page.
PAGE_BACKGROUNDS = ("#ffffff", "#f2f4f7")

_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")
_URL_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][^\s<>\"]*)?$")


def name(value: str) -> str:
    """The brand's name: 1 to :data:`MAX_NAME` printable characters, spaces trimmed."""
    text = " ".join(value.split())
    if not text:
        raise InvalidInput("the brand needs a name", field="name")
    if len(text) > MAX_NAME or any(not c.isprintable() for c in text):
        raise InvalidInput(f"a brand name has at most {MAX_NAME} printable characters", field="name")
    return text


def colour(value: str) -> str:
    """``#rrggbb`` readable as the panel's primary colour (module doc)."""
    try:
        parsed = palette.parse(value)
    except InvalidInput:
        raise InvalidInput("a colour is written #rrggbb, for example #0b5cad", field="colour") from None
    worst = min(palette.contrast(parsed, other) for other in (TEXT_ON_COLOUR, *PAGE_BACKGROUNDS))
    if worst < palette.AA_TEXT:
        raise InvalidInput(f"{parsed} is unreadable with white text or on the panel's light background "
                           f"(contrast {worst:.1f}:1, at least {palette.AA_TEXT}:1 is needed): choose a darker colour",
                           field="colour")
    return parsed


def support_email(value: str) -> str:
    """"" or one plain address (``help@reseller.example``)."""
    text = value.strip()
    if text and (len(text) > MAX_EMAIL or not _EMAIL_RE.match(text)):
        raise InvalidInput("expected an e-mail address such as help@example.com", field="support_email")
    return text


def support_url(value: str) -> str:
    """"" or an ``http(s)://`` link of at most :data:`MAX_URL` characters."""
    text = value.strip()
    if text and (len(text) > MAX_URL or not _URL_RE.match(text)):
        raise InvalidInput("expected a web address starting with https://", field="support_url")
    return text


def mail_system(brand: str, hostname: str) -> str:
    """The line that opens the notices the box writes itself (bounces,
    refusals): whose mail system speaks, by the brand's name when it has
    one of its own."""
    brand = " ".join(brand.split())
    if brand and brand != hostname:
        return f"This is the mail system of {brand} ({hostname})."
    return f"This is the mail system at {hostname}."


def logo(data: bytes, label: str = "the logo") -> bytes:
    """The logo as the panel shows it: a PNG of at most
    ``sitegen.photos.LOGO`` pixels each way, no metadata. Refuses more
    than :data:`MAX_LOGO_BYTES` (LimitExceeded) and anything but a JPEG,
    PNG, WebP or HEIC picture, SVG included, since an SVG is a document
    that can carry scripts (InvalidInput). CPU-bound: run it off the loop."""
    # Imported here: the settings import this module, and the picture
    # codecs (Pillow, HEIC) are not needed to read a settings file.
    from sitegen import photos

    if len(data) > MAX_LOGO_BYTES:
        raise LimitExceeded(f"{label} has {len(data)} bytes; a logo may have at most {MAX_LOGO_BYTES}")
    return photos.logo(data, label).data
