"""Websites served by the daemon from the business's file, checked with
curl: types, validators and 304, HEAD, Range, gzip, directories, the site's
404, the placeholder, isolation between businesses, traversal attempts, and
publishing while visitors keep reading."""

from __future__ import annotations

import gzip
import http.client
import threading

import pytest

from tests.conftest import wait_for

HTML = b"<!DOCTYPE html><title>Acme</title><h1>Acme Bakery</h1>" + b"<p>Fresh bread every morning.</p>" * 40
CSS = b"body { font-family: sans-serif; color: #222; }\n" * 50
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
ACME = {
    "index.html": HTML,
    "style.css": CSS,
    "img/logo.png": PNG,
    "about/index.html": b"<h1>About us</h1>",
    "404.html": b"<h1>Acme: page not found</h1>",
    "caf\u00e9.html": b"<h1>Cafe</h1>",
}
OTHER = {"index.html": b"<h1>Other</h1>", "secret.html": b"other's page"}


@pytest.fixture(scope="module")
def web(env):
    env.site("acme", ACME)
    env.site("other", OTHER)
    env.wait_body("acme.example", "/", HTML)
    return env


def test_files_are_served_with_their_types(web):
    """HTML, CSS and PNG come back byte for byte with the right Content-Type and security headers."""
    for path, body, ctype in (("/", HTML, "text/html; charset=utf-8"), ("/style.css", CSS, "text/css; charset=utf-8"),
                              ("/img/logo.png", PNG, "image/png")):
        reply = web.curl("acme.example", path)
        assert (reply.status, reply.body, reply.headers["content-type"]) == (200, body, ctype), path
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_www_and_plain_http_serve_the_same_site(web):
    """www.<domain> over HTTP serves the same bytes as <domain> over HTTPS."""
    assert web.curl("www.acme.example", "/style.css", scheme="http").body == CSS


def test_etag_and_last_modified_give_304(web):
    """If-None-Match with the ETag, or If-Modified-Since the Last-Modified, answers 304 without a body."""
    first = web.curl("acme.example", "/style.css")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    by_tag = web.curl("acme.example", "/style.css", "-H", f"If-None-Match: {etag}")
    by_date = web.curl("acme.example", "/style.css", "-H", f"If-Modified-Since: {modified}")
    assert (by_tag.status, by_tag.body, by_date.status, by_date.body) == (304, b"", 304, b"")
    assert by_tag.headers["etag"] == etag
    changed = web.curl("acme.example", "/style.css", "-H", 'If-None-Match: "something-else"')
    assert changed.status == 200 and changed.body == CSS


def test_head_sends_headers_without_body(web):
    """HEAD answers 200 with the GET's Content-Length and no body."""
    conn = http.client.HTTPConnection("127.0.0.1", web.daemon.port("http"), timeout=20)
    try:
        conn.request("HEAD", "/img/logo.png", headers={"Host": "acme.example"})
        reply = conn.getresponse()
        assert reply.status == 200 and reply.read() == b""
        assert reply.getheader("content-length") == str(len(PNG))
        assert reply.getheader("content-type") == "image/png"
    finally:
        conn.close()


def test_single_range_gives_206_and_past_the_end_416(web):
    """bytes=10-19 returns those ten bytes with Content-Range; a range past the end is 416."""
    part = web.curl("acme.example", "/img/logo.png", "-H", "Range: bytes=10-19")
    assert part.status == 206 and part.body == PNG[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(PNG)}"
    suffix = web.curl("acme.example", "/img/logo.png", "-H", "Range: bytes=-5")
    assert suffix.status == 206 and suffix.body == PNG[-5:]
    past = web.curl("acme.example", "/img/logo.png", "-H", f"Range: bytes={len(PNG)}-")
    assert past.status == 416 and past.headers["content-range"] == f"bytes */{len(PNG)}"


def test_gzip_variant_when_the_client_accepts_it(web):
    """Accept-Encoding: gzip gets the precompressed CSS (Vary set); without it, the plain bytes."""
    packed = web.curl("acme.example", "/style.css", "-H", "Accept-Encoding: gzip")
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(packed.body) == CSS and len(packed.body) < len(CSS)
    refused = web.curl("acme.example", "/style.css", "-H", "Accept-Encoding: gzip;q=0, br")
    assert "content-encoding" not in refused.headers and refused.body == CSS
    image = web.curl("acme.example", "/img/logo.png", "-H", "Accept-Encoding: gzip")
    assert "content-encoding" not in image.headers and image.body == PNG


def test_directories_serve_index_and_redirect_without_slash(web):
    """/about redirects to /about/ (query kept), which serves about/index.html."""
    moved = web.curl("acme.example", "/about?x=1")
    assert moved.status == 301 and moved.headers["location"] == "/about/?x=1"
    assert web.curl("acme.example", "/about/").body == b"<h1>About us</h1>"


def test_percent_encoded_unicode_names_are_served(web):
    """/caf%C3%A9.html reaches the file named café.html."""
    assert web.curl("acme.example", "/caf%C3%A9.html").body == b"<h1>Cafe</h1>"


def test_missing_page_gets_the_sites_own_404(web):
    """A missing path answers 404 with the site's 404.html."""
    reply = web.curl("acme.example", "/no/such/page.html")
    assert reply.status == 404 and reply.body == ACME["404.html"]


def test_site_without_404_page_gets_the_neutral_404(web):
    """other.example has no 404.html: the neutral 404, identical to an unknown host's."""
    missing = web.curl("other.example", "/nope")
    unknown = web.curl("nobody.example", "/nope")
    assert missing.status == unknown.status == 404 and missing.body == unknown.body


def test_a_business_never_serves_anothers_files(web):
    """other's page is not reachable through acme's names, by any spelling."""
    for path in ("/secret.html", "/../other/secret.html", "/%2e%2e/other/secret.html"):
        for host in ("acme.example", "www.acme.example", "acme.appliance.test"):
            assert b"other's page" not in web.curl(host, path).body, (host, path)
    assert web.curl("other.example", "/secret.html").body == b"other's page"


ATTACKS = [
    "/../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E/style.css",
    "/img/..%2fstyle.css",
    "/img%2flogo.png",
    "/img%5clogo.png",
    "/img\\logo.png",
    "/..\\..\\etc\\passwd",
    "/style.css%00.png",
    "/%c0%ae%c0%ae/etc/passwd",
    "/%c0%af",
    "/%e0%80%ae%e0%80%ae/",
    "/%252e%252e/etc/passwd",
    "/%25%32%65",
    "/./style.css",
    "/img/./logo.png",
    "//etc/passwd",
    "/img//logo.png",
    "/%ff",
    "/%0astyle.css",
]


@pytest.mark.parametrize("path", ATTACKS)
def test_traversal_and_encoding_tricks_are_refused(web, path):
    """Every spelling of traversal, encoded separators, NUL, overlong UTF-8 and double encoding gets 400 or 404."""
    reply = web.curl("acme.example", path)
    assert reply.status in (400, 404), (path, reply.status)
    assert b"root:" not in reply.body and reply.body not in (CSS, PNG, HTML)


def test_business_without_a_site_gets_a_neutral_placeholder(env):
    """A business that published nothing shows the same placeholder at / whoever it is, and 404 elsewhere."""
    env.cli("tenant", "add", "empty1", "--domain", "empty1.example")
    env.cli("tenant", "add", "empty2", "--domain", "empty2.example")
    # The daemon learns of new domains within a second or two.
    wait_for(lambda: env.curl("empty2.example", "/").status == 200, timeout=10, interval=0.1)
    first, second = env.curl("empty1.example", "/"), env.curl("empty2.example", "/")
    assert first.status == second.status == 200 and first.body == second.body
    assert b"empty1" not in first.body
    assert env.curl("empty1.example", "/index.html").status == 404


def test_a_new_version_is_served_after_upload(web):
    """Uploading again replaces what visitors get, within the recheck time."""
    web.site("other", {"index.html": b"<h1>Other v2</h1>"}, name="v2")
    web.wait_body("other.example", "/", b"<h1>Other v2</h1>")
    assert web.curl("other.example", "/secret.html").status == 404


def test_visitors_during_a_publish_see_one_version_or_the_other(web):
    """While versions are published in a loop, every response is whole and from one version."""
    versions = {}
    for tag in (b"A", b"B"):
        page = (tag * 70_000)
        versions[tag] = page
        web.site("acme", {**ACME, "index.html": page, "page.html": page}, name=f"swap-{tag.decode()}")
    seen: set[bytes] = set()
    errors: list[str] = []
    stop = threading.Event()
    port = web.daemon.port("http")

    def read() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            while not stop.is_set():
                conn.request("GET", "/page.html", headers={"Host": "acme.example"})
                body = conn.getresponse().read()
                if body not in versions.values():
                    errors.append(f"mixed or partial body of {len(body)} bytes")
                    return
                seen.add(body[:1])
        finally:
            conn.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for tag in (b"A", b"B", b"A", b"B"):
            web.cli("site", "upload", "acme", str(web.work / f"acme-swap-{tag.decode()}"))
    finally:
        stop.set()
        reader.join(30)
    assert not errors, errors
    assert seen, "no response was read"
    web.cli("site", "upload", "acme", str(web.work / "acme-site"))
    web.wait_body("acme.example", "/", HTML)
