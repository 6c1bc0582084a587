"""Screenshots of the control panel for the README, taken as a person sees
it: a real daemon, headless Chromium, sign-in by the form.

Run by hand (not collected by pytest)::

    .venv/bin/python -m tests.screenshots docs/screenshots

It writes ``signin-en-desktop.png``, ``people-en-desktop.png``,
``devices-iphone-en-desktop.png``, ``domain-check-en-desktop.png``,
``mail-en-desktop.png``, ``message-en-desktop.png``,
``contacts-en-desktop.png``, ``website-en-desktop.png``,
``agenda-en-desktop.png``, ``added-fr-phone.png``,
``overview-fr-phone.png``, ``plan-fr-phone.png`` and
``compose-fr-phone.png``.
The domain check asks the daemon's own DNS server, as the demo's does.
"""

from __future__ import annotations

import smtplib
import socket
import sys
import tempfile
import time
from pathlib import Path

from appliance.settings import loopback_listen
from appliance.testing import Cli, Daemon
from tests.browser import Browser

PASSWORD = "a long secret for the demo"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


DNS_PORT = _free_port()
CONFIG = f"""
[box]
hostname = "box.appliance.test"
domain = "appliance.test"

[panel]
check_resolver = "127.0.0.1:{DNS_PORT}"

{loopback_listen(dns=DNS_PORT)}
"""
DESKTOP = (1280, 800, False)
#: What reached Claire's inbox before the pictures are taken.
MAIL = (
    ("orders@grand-hotel.example", "Bread for the weekend",
     "Hello Claire,\n\nCould you deliver 40 baguettes and 20 croissants on Saturday at 7?\n\nThanks,\nMarc"),
    ("flour@moulin-dupont.example", "Your flour delivery on Monday",
     "Dear customer,\n\nYour 12 bags of T65 flour leave the mill on Monday morning.\n"),
)
CONTACTS = ("First Name,Last Name,Company,E-mail Address,Business Phone,Categories\r\n"
            "Marc,Lefèvre,Grand Hôtel,orders@grand-hotel.example,+33 1 42 00 00 01,Customers\r\n"
            "Agnès,Dupont,Moulin Dupont,flour@moulin-dupont.example,+33 2 35 00 00 02,Suppliers\r\n"
            "Julien,Roux,Café des Arts,julien@cafe-des-arts.example,+33 1 43 00 00 03,Customers\r\n")
PHONE = (390, 844, True)


def _shoot(browser: Browser, out: Path, name: str, url: str | None = None, press: str | None = None) -> None:
    visit = browser.visit(url) if url else browser.press(press)
    (out / f"{name}.png").write_bytes(visit.screenshot)
    print(out / f"{name}.png", "-", visit.h1)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "state").mkdir()
        config = work / "appliance.toml"
        config.write_text(CONFIG)
        cli = Cli(work / "state", config)
        cli("tenant", "add", "bakery", "--name", "Boulangerie Martin", "--domain", "boulangerie-martin.example")
        for address in ("claire@boulangerie-martin.example", "paul@boulangerie-martin.example"):
            cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
        daemon = Daemon(work / "state", config, work / "daemon.log").start()
        browser = Browser(work / "chromium", args=(
            "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1",
        ))
        try:
            time.sleep(2)  # the web routes learn of the new domain
            with smtplib.SMTP("127.0.0.1", daemon.port("smtp"), timeout=30) as smtp:
                for sender, subject, body in MAIL:
                    smtp.sendmail(sender, ["claire@boulangerie-martin.example"],
                                  f"From: {sender}\r\nTo: claire@boulangerie-martin.example\r\nSubject: {subject}\r\n"
                                  f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n".encode())
            base = f"https://box.appliance.test:{daemon.port('https')}"
            for language, (width, height, mobile), shots in (
                ("en", DESKTOP, ("signin", "people", "devices", "domain", "mail", "contacts", "website", "agenda")),
                ("fr", PHONE, ("overview", "added", "plan", "compose")),
            ):
                browser.clear_cookies()
                browser.viewport(width, height, mobile=mobile)
                browser.call("Emulation.setLocaleOverride", {"locale": language}, session=True)
                browser.call("Network.setExtraHTTPHeaders", {"headers": {"Accept-Language": language}}, session=True)
                suffix = f"{language}-{'phone' if mobile else 'desktop'}"
                if "signin" in shots:
                    _shoot(browser, out, f"signin-{suffix}", url=base + "/")
                else:
                    browser.visit(base + "/")
                browser.fill("E-mail address" if language == "en" else "Adresse e-mail", "claire@boulangerie-martin.example")
                browser.fill("Password" if language == "en" else "Mot de passe", PASSWORD)
                visit = browser.press("Sign in" if language == "en" else "Se connecter")
                if "overview" in shots:
                    (out / f"overview-{suffix}.png").write_bytes(visit.screenshot)
                if "people" in shots:
                    _shoot(browser, out, f"people-{suffix}", url=base + "/people")
                if "devices" in shots:
                    _shoot(browser, out, f"devices-iphone-{suffix}", url=base + "/devices/iphone")
                if "domain" in shots:
                    browser.visit(base + "/domains/boulangerie-martin.example")
                    _shoot(browser, out, f"domain-check-{suffix}", press="Check now")
                if "plan" in shots:
                    _shoot(browser, out, f"plan-{suffix}", url=base + "/plan")
                if "mail" in shots:
                    _shoot(browser, out, f"mail-{suffix}", url=base + "/mail")
                    _shoot(browser, out, f"message-{suffix}", press="Bread for the weekend")
                if "contacts" in shots:
                    browser.visit(base + "/contacts/import")
                    browser.fill("Or paste its contents", CONTACTS)
                    browser.press("Preview")
                    browser.press("Import 3 contacts")
                    _shoot(browser, out, f"contacts-{suffix}", url=base + "/contacts")
                if "website" in shots:
                    _shoot(browser, out, f"website-{suffix}", url=base + "/website")
                if "agenda" in shots:
                    _shoot(browser, out, f"agenda-{suffix}", url=base + "/agenda")
                if "compose" in shots:
                    browser.visit(base + "/mail/compose")
                    browser.fill("À", "orders@grand-hotel.example")
                    browser.fill("Objet", "Re: Bread for the weekend")
                    browser.fill("Message", "Bonjour Marc,\n\nC’est noté pour samedi à 7 h.\n\nClaire")
                    # The form as she typed it, not reloaded.
                    (out / f"compose-{suffix}.png").write_bytes(browser._measure(base + "/mail/compose").screenshot)
                    print(out / f"compose-{suffix}.png")
                if "added" in shots:
                    browser.visit(base + "/people/add")
                    browser.fill("Nom complet", "Sophie Durand")
                    browser.fill("Adresse (avant le @)", "sophie")
                    browser.fill("Domaine", "@boulangerie-martin.example")
                    _shoot(browser, out, f"added-{suffix}", press="Ajouter cette personne")
        finally:
            browser.close()
            daemon.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
