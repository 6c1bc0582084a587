"""The fixed words a site's pages show, in the site's language.

Owners write their own text in whatever language they like; the words the
themes add (headings of the profile's parts, links, the "not found" page)
and the contact form's (field labels, errors, the thank-you page) come
from here, keyed by the primary subtag of the profile's ``language``
(``fr-CA`` reads ``fr``). A language without an entry gets English. Every
language has every key: a test compares them.
"""

from __future__ import annotations

from typing import Mapping

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "skip": "Skip to content",
        "main_menu": "Main",
        "contact": "Contact",
        "reach_us": "How to reach us",
        "hours": "Opening hours",
        "phone": "Phone",
        "email_label": "E-mail",
        "map": "Show on a map",
        "call": "Call {phone}",
        "find_us": "Find us",
        "not_found_title": "Page not found",
        "not_found_menu": "Not found",
        "not_found_text": "Sorry, there is no page at this address. It may have moved.",
        "home_link": "Go to the home page",
        "form_heading": "Send us a message",
        "form_intro": "We answer by e-mail. Every field is required.",
        "name": "Your name",
        "email": "Your e-mail address",
        "message": "Your message",
        "honeypot": "Leave this field empty",
        "send": "Send the message",
        "problem": "The message was not sent. Check the fields marked below.",
        "name_missing": "Enter your name.",
        "name_long": "Your name may have at most {max} characters.",
        "email_missing": "Enter your e-mail address, so that we can answer.",
        "email_bad": "Enter an e-mail address such as name@example.com.",
        "message_missing": "Write your message.",
        "message_long": "Your message may have at most {max} characters.",
        "sent_title": "Thank you",
        "sent_lead": "Your message has been sent. We will answer by e-mail.",
        "back": "Back to the site",
        "busy_title": "Please try again later",
        "busy_lead": "Many messages were sent from here lately, so this one was not sent. Please try again in a while, or call us.",
        "failed_title": "The message could not be sent",
        "failed_lead": "Something went wrong on our side; nothing was sent. Please try again later, or call us.",
        "subject": "Message from your website: {name}",
        "mail_intro": "{name} <{email}> sent this message with the form on {page}.",
        "mail_reply": "Answering this e-mail answers them.",
        "open_map": "Open the map",
        "map_frame": "Map of the surroundings, from OpenStreetMap",
        "news": "News",
        "no_news": "No news yet.",
        "read_more": "Read more",
        "news_feed": "Follow our news (Atom feed)",
        "feed_title": "News from {name}",
        "months": "January February March April May June July August September October November December",
        "date": "{day} {month} {year}",
    },
    "fr": {
        "skip": "Aller au contenu",
        "main_menu": "Principal",
        "contact": "Contact",
        "reach_us": "Nous joindre",
        "hours": "Horaires d’ouverture",
        "phone": "Téléphone",
        "email_label": "E-mail",
        "map": "Voir sur une carte",
        "call": "Appeler le {phone}",
        "find_us": "Nous trouver",
        "not_found_title": "Page introuvable",
        "not_found_menu": "Introuvable",
        "not_found_text": "Désolés, il n’y a pas de page à cette adresse. Elle a peut-être été déplacée.",
        "home_link": "Aller à la page d’accueil",
        "form_heading": "Écrivez-nous",
        "form_intro": "Nous répondons par e-mail. Tous les champs sont obligatoires.",
        "name": "Votre nom",
        "email": "Votre adresse e-mail",
        "message": "Votre message",
        "honeypot": "Laissez ce champ vide",
        "send": "Envoyer le message",
        "problem": "Le message n’a pas été envoyé. Vérifiez les champs signalés ci-dessous.",
        "name_missing": "Indiquez votre nom.",
        "name_long": "Votre nom peut compter au plus {max} caractères.",
        "email_missing": "Indiquez votre adresse e-mail, pour que nous puissions vous répondre.",
        "email_bad": "Indiquez une adresse e-mail comme nom@exemple.fr.",
        "message_missing": "Écrivez votre message.",
        "message_long": "Votre message peut compter au plus {max} caractères.",
        "sent_title": "Merci",
        "sent_lead": "Votre message a été envoyé. Nous vous répondrons par e-mail.",
        "back": "Retour au site",
        "busy_title": "Merci de réessayer plus tard",
        "busy_lead": "Beaucoup de messages ont été envoyés d’ici récemment ; celui-ci ne l’a pas été. Réessayez dans un moment, ou appelez-nous.",
        "failed_title": "Le message n’a pas pu être envoyé",
        "failed_lead": "Un problème est survenu de notre côté ; rien n’a été envoyé. Réessayez plus tard, ou appelez-nous.",
        "subject": "Message depuis votre site : {name}",
        "mail_intro": "{name} <{email}> a envoyé ce message avec le formulaire de {page}.",
        "mail_reply": "Répondre à cet e-mail lui répond.",
        "open_map": "Ouvrir la carte",
        "map_frame": "Carte des environs, d’OpenStreetMap",
        "news": "Actualités",
        "no_news": "Pas encore d’actualités.",
        "read_more": "Lire la suite",
        "news_feed": "Suivre nos actualités (flux Atom)",
        "feed_title": "Actualités de {name}",
        "months": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
        "date": "{day} {month} {year}",
    },
}


def texts(language: str) -> Mapping[str, str]:
    """The words for a site whose language is ``language`` (a tag such as
    ``fr`` or ``fr-CA``); English when there are none for it."""
    return TEXTS.get(language.split("-", 1)[0].lower(), TEXTS["en"])


def long_date(language: str, iso: str) -> str:
    """``iso`` (``YYYY-MM-DD``) written out in the site's language: "5 December 2026", "5 décembre 2026"."""
    words = texts(language)
    year, month, day = (int(part) for part in iso.split("-"))
    return words["date"].format(day=day, month=words["months"].split()[month - 1], year=year)
