"""``appliance demo``: the README's first command ends here."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time

from appliance import settings
from appliance.app import App
from tests.conftest import ROOT


def read_banner(proc: subprocess.Popen, timeout: float = 90) -> str:
    """Read the daemon's stdout up to the end of the how-to-connect block."""
    lines = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("State directory:"):
            return "".join(lines)
    raise AssertionError("no banner:\n" + "".join(lines))


def _sign_in_to_the_panel(banner: str, address: str, password: str) -> None:
    """The banner's control panel addresses: HTTPS shows the sign-in page
    and the sign-up page with its question; plain HTTP from this computer does too, says it is the demo, and the
    owner signs in with the printed login."""
    import requests

    https = re.search(r"^  (https://127\.0\.0\.1:\d+/) ", banner, re.M)[1]
    http = re.search(r"^  (http://127\.0\.0\.1:\d+/) +\(plain HTTP", banner, re.M)[1]
    assert "Sign in" in requests.get(https, verify=False, timeout=30).text
    signup = re.search(r"^  New businesses sign up at (https://127\.0\.0\.1:\d+/signup)$", banner, re.M)[1]
    assert re.search(r"What is \d+ plus \d+\?", requests.get(signup, verify=False, timeout=30).text)
    browser = requests.Session()
    page = browser.get(http, timeout=30).text
    assert "<h1>Sign in</h1>" in page and "plain HTTP" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    reply = browser.post(http, data={"csrf": csrf, "address": address, "password": password},
                         headers={"Origin": http.rstrip("/")}, allow_redirects=False, timeout=30)
    assert (reply.status_code, reply.headers["location"]) == (303, "/home")
    assert "You are an owner of the business." in browser.get(http + "home", timeout=30).text


def _operator_signs_in(banner: str) -> None:
    """The banner's operator login: the right name and password lead to
    setting up the printed TOTP secret, where its code is accepted."""
    import pyotp
    import requests

    found = re.search(r"^  (https://127\.0\.0\.1:\d+)/operator +name (\S+) +password (\S+)$", banner, re.M)
    secret = re.search(r"^  TOTP secret (\S+) ", banner, re.M)[1]
    base, name, password = found[1], found[2], found[3]
    browser = requests.Session()
    page = browser.get(base + "/operator", timeout=30, verify=False).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    reply = browser.post(base + "/operator", data={"csrf": csrf, "name": name, "password": password},
                         headers={"Origin": base}, allow_redirects=False, timeout=30, verify=False)
    assert (reply.status_code, reply.headers["location"]) == (303, "/operator/setup")
    page = browser.get(base + "/operator/setup", timeout=30, verify=False).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    reply = browser.post(base + "/operator/setup", data={"csrf": csrf, "code": pyotp.TOTP(secret).now()},
                         headers={"Origin": base}, allow_redirects=False, timeout=30, verify=False)
    assert reply.status_code == 200 and "recovery-codes" in reply.text, reply.text[:300]


def test_demo_creates_the_business_and_prints_working_logins(state_dir, config_file):
    """The demo prints logins that authenticate, the servers and ports to use, a website that curl gets,
    and the control panel, where the owner signs in, and the operator's login, which works with its
    TOTP secret; a second start keeps the business and gives the operator a new secret."""
    cmd = [sys.executable, "-m", "appliance", "--state", str(state_dir), "--config", str(config_file), "demo"]
    for _ in range(2):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            banner = read_banner(proc)
            logins = dict(re.findall(r"^  (\S+@demo\.appliance\.test)  (\S+)$", banner, re.M))
            assert set(logins) == {"alice@demo.appliance.test", "bob@demo.appliance.test"}
            assert "How to connect" in banner and "127.0.0.1:" in banner
            site = re.search(r"curl -H 'Host: (\S+)' (http://\S+)$", banner, re.M)
            page = subprocess.run(["curl", "-sS", "--max-time", "10", "-H", f"Host: {site[1]}", site[2]],
                                  capture_output=True, text=True, check=True).stdout
            assert "<title>Demo Bakery</title>" in page and 'class="theme-warm' in page
            _sign_in_to_the_panel(banner, "alice@demo.appliance.test", logins["alice@demo.appliance.test"])
            _operator_signs_in(banner)
            app = App(settings.load(config_file), state_dir)
            try:
                for address, password in logins.items():
                    principal = asyncio.run(app.auth.login(address, password, protocol="test", peer="127.0.0.1"))
                    assert principal.slug == "demo"
            finally:
                app.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
    app = App(settings.load(config_file), state_dir)
    try:
        assert [t["slug"] for t in app.provisioning.list_tenants()] == ["demo"]
        assert len(app.provisioning.list_users("demo")) == 2
    finally:
        app.close()
