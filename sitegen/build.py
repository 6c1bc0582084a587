"""From the stored sources to the files of a static site.

:func:`build` is pure: it takes the sources (as ``storage.sitegen.sources``
returns them), the site's address and the year for the footer, and returns
``{path: bytes}`` ready for ``storage.sites.publish``:

* ``index.html`` for the home page, ``NAME/index.html`` for every other page;
* ``404.html``, the site's own "not found" page;
* ``style.css`` (the palette as custom properties, the shared layout and the
  theme's rules) and ``favicon.svg`` (the name's initial on the brand colour);
* ``images/NAME`` for every image a page or the logo shows (nothing else),
  and ``images/phone/NAME``, its small variant, for those that have one
  (pages offer both with ``srcset`` and ``sizes``);
* ``sitemap.xml`` and ``robots.txt``;
* ``feed.atom`` beside every page with news posts (``NAME/feed.atom``):
  an Atom feed (RFC 4287) of its posts, newest first, with absolute
  addresses on the site's own host; the page's head links to it.

Every page's head carries the business as schema.org ``LocalBusiness``
JSON-LD (:func:`local_business`). :func:`form_page` renders, on demand, the
pages a contact form answers with (the form again with its errors, the
thank-you page) in the site's theme.

Every link in the output is root-relative (the 404 page is served at any
depth) except those the owner typed (map, links in text) and the sitemap's,
which must be absolute (sitemaps.org protocol).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Mapping

import markupsafe

from storage.errors import InvalidInput, NotFound

from . import model, palette, render, strings

log = logging.getLogger(__name__)


def build(sources, *, base_url: str, year: int) -> dict[str, bytes]:
    """Render every page of ``sources`` with its theme; see module doc."""
    theme = render.theme(sources.theme)
    profile = model.Profile.from_dict(sources.profile)
    if not profile.name:
        raise InvalidInput("the profile has no name; set one with 'appliance site profile SLUG --set name=...'")
    pages = {}
    for name, source in sources.pages.items():
        try:
            pages[name] = model.parse_page(name, source)
        except InvalidInput as exc:
            raise InvalidInput(f"cannot build: {exc}") from None
    if model.HOME not in pages:
        raise NotFound("the site has no page named home; add one with 'appliance site page add SLUG home FILE'")

    images: Mapping[str, tuple[str, int, int, bytes]] = sources.images
    used: set[str] = set()
    for page in pages.values():
        for file in sorted(page.images()):
            if file not in images:
                raise NotFound(f"page {page.name} shows image {file}, which is not stored; add it with 'appliance site image add'")
        used |= page.images()
    if profile.logo:
        if profile.logo not in images:
            raise NotFound(f"the logo {profile.logo} is not stored; set it again with 'appliance site profile --logo'")
        used.add(profile.logo)

    base_url = base_url.rstrip("/")
    common = _common(theme, profile, images, used, year, base_url, sources.phones)
    env = render.environment(theme)
    css = common.pop("_css")
    nav_names = [n for n in sources.nav if n in pages]

    files: dict[str, bytes] = {}
    template = env.get_template("page.html")
    for page in pages.values():
        files[_output_path(page.name)] = _render(
            template, common, page, nav_names, pages, canonical=base_url + page.path,
        )
    t = common["t"]
    not_found = model.Page("404", t["not_found_title"], t["not_found_menu"], "")
    files["404.html"] = _render(env.get_template("404.html"), common, not_found, nav_names, pages, canonical="")
    files["style.css"] = css.encode()
    colours = common["palette"]
    files["favicon.svg"] = _favicon(profile.name, colours.brand, colours.on_brand).encode()
    for file in sorted(used):
        files[f"images/{file}"] = images[file][3]
        if file in sources.phones:
            files[f"images/phone/{file}"] = sources.phones[file][2]
    for page in pages.values():
        if page.posts():
            files[page.feed_path.lstrip("/")] = atom_feed(page, profile, base_url)
    files["sitemap.xml"] = _sitemap(base_url, [p.path for p in pages.values()]).encode()
    files["robots.txt"] = f"User-agent: *\nAllow: /\n\nSitemap: {base_url}/sitemap.xml\n".encode()
    log.debug("built %d files with theme %s", len(files), theme.name)
    return files


def _srcset(file: str, width: int, phone: tuple | None) -> str:
    """The ``srcset`` of a picture with a phone variant ("" without one)."""
    if not phone or phone[0] >= width:
        return ""
    return f"/images/phone/{file} {phone[0]}w, /images/{file} {width}w"


def _common(theme: render.Theme, profile: model.Profile, images: Mapping[str, tuple], used: set[str], year: int,
            base_url: str, phones: Mapping[str, tuple] | None = None) -> dict:
    """What every page's template is given (``_css``: the stylesheet);
    ``phones`` are the pictures' small variants (name -> width, height, ...)."""
    colours = palette.palette(
        theme.background, theme.text, theme.surface, profile.colour or theme.colour, profile.accent or theme.accent
    )
    css = colours.css() + "\n" + theme.css()
    phones = phones or {}
    image_info = {
        file: {"src": f"/images/{file}", "width": images[file][1], "height": images[file][2],
               "srcset": _srcset(file, images[file][1], phones.get(file))}
        for file in used
    }
    return {
        "profile": profile,
        "palette": colours,
        "theme": theme,
        "images": image_info,
        "logo": image_info.get(profile.logo) if profile.logo else None,
        "year": year,
        "css_version": hashlib.sha256(css.encode()).hexdigest()[:10],
        "has_contact": bool(profile.address or profile.phone or profile.email or profile.map),
        "t": strings.texts(profile.language),
        "jsonld": local_business(profile, base_url, image_info.get(profile.logo) if profile.logo else None),
        "form_state": None,
        "long_date": lambda iso: strings.long_date(profile.language, iso),
        "_css": css,
    }


def local_business(profile: model.Profile, base_url: str, logo: dict | None = None) -> markupsafe.Markup:
    """The business as schema.org ``LocalBusiness`` JSON-LD: name, address,
    phone, e-mail, opening hours (the profile's lines as written), the
    site's address and logo, whichever the profile has.

    The result goes inside ``<script type="application/ld+json">``: ``<``,
    ``>`` and ``&`` are written as JSON escapes (the same string to a JSON
    parser), so no value can close the element (``</script>``) or open a
    comment, and U+2028/U+2029 likewise.
    """
    data: dict = {"@context": "https://schema.org", "@type": "LocalBusiness", "name": profile.name}
    if profile.tagline:
        data["description"] = profile.tagline
    if base_url:
        data["url"] = base_url + "/"
        if logo is not None:
            data["logo"] = base_url + logo["src"]
    if profile.address_lines:
        data["address"] = ", ".join(profile.address_lines)
    if profile.phone:
        data["telephone"] = profile.phone
    if profile.email:
        data["email"] = profile.email
    if profile.hours_lines:
        data["openingHours"] = profile.hours_lines
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return markupsafe.Markup(text)


ATOM = "http://www.w3.org/2005/Atom"


def atom_feed(page: model.Page, profile: model.Profile, base_url: str) -> bytes:
    """The Atom feed (RFC 4287) of ``page``'s posts, newest first.

    The feed's id is its own address; an entry's is a ``tag:`` URI (RFC
    4151) of the site's host, the post's date, the page and its anchor, so
    it stays the same while the post keeps its date and title. Dates carry
    no time of day: a post's is midnight UTC of its day (4.2.9, 3.3).
    """
    posts = page.posts()
    host = urllib.parse.urlsplit(base_url).hostname or "localhost"
    t = strings.texts(profile.language)
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str = "", **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": profile.language})
    sub(feed, "id", base_url + page.feed_path)
    sub(feed, "title", t["feed_title"].format(name=profile.name) if page.name == model.HOME
        else f"{page.title} – {profile.name}")
    sub(feed, "updated", f"{posts[0].date}T00:00:00Z")
    author = sub(feed, "author")
    sub(author, "name", profile.name)
    sub(author, "uri", base_url + "/")
    sub(feed, "link", rel="self", type="application/atom+xml", href=base_url + page.feed_path)
    sub(feed, "link", rel="alternate", type="text/html", href=base_url + page.path)
    for post in posts:
        entry = sub(feed, "entry")
        sub(entry, "id", f"tag:{host},{post.date}:{page.path}{post.anchor}")
        sub(entry, "title", post.title)
        sub(entry, "updated", f"{post.date}T00:00:00Z")
        sub(entry, "published", f"{post.date}T00:00:00Z")
        sub(entry, "link", rel="alternate", type="text/html", href=f"{base_url}{page.path}#{post.anchor}")
        if post.markdown:
            sub(entry, "content", str(post.html), type="html")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False) + b"\n"


def form_page(sources, *, page: str, number: int, form: model.ContactForm, year: int, outcome: str,
              values: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None) -> bytes:
    """The page a contact form answers with, in the site's theme and language.

    ``form`` is the ``number``-th contact form of ``page`` as published
    (its address is not shown). ``outcome`` is ``form`` (the
    form again, filled with ``values``, each of ``errors`` - field name to
    message - beside its field), ``sent``, ``busy`` or ``failed``. The
    page shows only the form or the message, never the rest of the draft:
    ``sources`` are the draft, which may hold what is not published yet.
    ``sources.images`` needs only the logo (its bytes are not read).
    """
    theme = render.theme(sources.theme)
    profile = model.Profile.from_dict(sources.profile)
    used = {profile.logo} if profile.logo and profile.logo in sources.images else set()
    common = _common(theme, profile, sources.images, used, year, "")
    common.pop("_css")
    t = common["t"]
    back = f"[{_markdown_text(t['back'])}]({model.page_path(page)})"
    if outcome == "form":
        shown = model.Page("contact", form.heading or t["form_heading"], "", "", (form,))
        common["form_state"] = {"page": page, "number": number, "values": dict(values or {}),
                                "errors": dict(errors or {})}
    else:
        title, lead = {"sent": ("sent_title", "sent_lead"), "busy": ("busy_title", "busy_lead"),
                       "failed": ("failed_title", "failed_lead")}[outcome]
        shown = model.Page("contact", t[title], "", t[lead], (model.Text(back),))
    nav_pages = {}
    for name in sources.nav:
        try:
            nav_pages[name] = model.parse_page(name, sources.pages[name])
        except (InvalidInput, KeyError):
            continue
    nav = [n for n in sources.nav if n in nav_pages]
    return _render(render.environment(theme).get_template("page.html"), common, shown, nav, nav_pages, canonical="")


def _markdown_text(text: str) -> str:
    """``text`` with Markdown's punctuation escaped (it goes into a link)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!<>|])", r"\\\1", text)


def _output_path(name: str) -> str:
    return "index.html" if name == model.HOME else f"{name}/index.html"


def _render(template, common: dict, page: model.Page, nav_names: list[str], pages: dict, *, canonical: str) -> bytes:
    nav = [
        {"path": pages[n].path, "label": pages[n].menu, "current": n == page.name}
        for n in nav_names
    ]
    text = template.render(
        **common,
        page=page,
        nav=nav,
        canonical=canonical,
        description=page.description or common["profile"].tagline,
    )
    # Blank lines left by template logic carry nothing.
    text = re.sub(r"\n\s*\n+", "\n", text)
    return text.encode()


def _favicon(name: str, background: str, foreground: str) -> str:
    initial = html.escape(name.strip()[:1].upper() or "?")
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
        f'<rect width="64" height="64" rx="14" fill="{background}"/>'
        f'<text x="32" y="44" font-size="36" font-family="sans-serif" font-weight="700" text-anchor="middle" fill="{foreground}">{initial}</text>'
        "</svg>\n"
    )


def _sitemap(base_url: str, paths: list[str]) -> str:
    urls = "".join(f"<url><loc>{html.escape(base_url + p)}</loc></url>" for p in sorted(paths))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>\n'
    )
