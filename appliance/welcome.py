"""The welcome message the box writes to the owner of a business that just
signed itself up: signed by the reseller's brand (never this project's
name), saying where the panel is, how to set up a phone or a computer, and
whom to ask for help.

It is put straight into the owner's INBOX (nothing is sent over SMTP), in
the language the visitor signed up in (English or French).
"""

from __future__ import annotations

import email.policy
import email.utils
from email.headerregistry import Address
from email.message import EmailMessage

#: Per language: subject, body, and the help lines (each only when set).
TEXTS = {
    "en": {
        "subject": "Welcome to {brand}: {business} is ready",
        "body": (
            "Hello,\n\n"
            "{business} now has its mail, calendars, contacts and website with {brand}.\n\n"
            "Your address: {address}\n"
            "Your control panel: {panel}\n"
            "Sign in there with this address and the password you chose.\n\n"
            "To read your mail on a phone or a computer, open \"Your devices\" in the panel:\n"
            "it gives the settings for Outlook, Thunderbird, iPhone and Android.\n"
        ),
        "help_email": "Questions? Write to {email}.\n",
        "help_url": "Help pages: {url}\n",
        "signature": "\n{brand}\n",
    },
    "fr": {
        "subject": "Bienvenue chez {brand} : {business} est prête",
        "body": (
            "Bonjour,\n\n"
            "{business} a désormais sa messagerie, ses agendas, ses contacts et son site avec {brand}.\n\n"
            "Votre adresse : {address}\n"
            "Votre panneau de gestion : {panel}\n"
            "Connectez-vous-y avec cette adresse et le mot de passe que vous avez choisi.\n\n"
            "Pour lire votre courrier sur un téléphone ou un ordinateur, ouvrez « Vos appareils » dans le panneau :\n"
            "vous y trouverez les réglages pour Outlook, Thunderbird, iPhone et Android.\n"
        ),
        "help_email": "Des questions ? Écrivez à {email}.\n",
        "help_url": "Pages d'aide : {url}\n",
        "signature": "\n{brand}\n",
    },
}


def message(*, brand: str, hostname: str, address: str, business: str, panel: str, support_email: str = "",
            support_url: str = "", lang: str = "en") -> bytes:
    """The welcome message for ``address`` (RFC 5322, CRLF lines), from
    ``no-reply@`` the box's host name under the brand's name, marked
    auto-generated (RFC 3834) so that vacation replies leave it alone."""
    texts = TEXTS.get(lang, TEXTS["en"])
    values = {"brand": brand, "business": business, "address": address, "panel": panel,
              "email": support_email, "url": support_url}
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = Address(display_name=brand, addr_spec=f"no-reply@{hostname}")
    msg["To"] = address
    msg["Subject"] = texts["subject"].format(**values)
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=hostname)
    msg["Auto-Submitted"] = "auto-generated"
    text = texts["body"].format(**values)
    if support_email or support_url:
        text += "\n"
    if support_email:
        text += texts["help_email"].format(**values)
    if support_url:
        text += texts["help_url"].format(**values)
    text += texts["signature"].format(**values)
    msg.set_content(text)
    return msg.as_bytes()
