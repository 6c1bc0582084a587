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
* ``sitemap.xml`` and ``robots.txt``.

Every link in the output is root-relative (the 404 page is served at any
depth) except those the owner typed (map, links in text) and the sitemap's,
which must be absolute (sitemaps.org protocol).
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from typing import Mapping

from storage.errors import InvalidInput, NotFound

from . import model, palette, render

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

    colours = palette.palette(
        theme.background, theme.text, theme.surface, profile.colour or theme.colour, profile.accent or theme.accent
    )
    css = colours.css() + "\n" + theme.css()
    env = render.environment(theme)
    phones = sources.phones
    image_info = {
        file: {"src": f"/images/{file}", "width": images[file][1], "height": images[file][2],
               "srcset": _srcset(file, images[file][1], phones.get(file))}
        for file in used
    }
    base_url = base_url.rstrip("/")
    common = {
        "profile": profile,
        "palette": colours,
        "theme": theme,
        "images": image_info,
        "logo": image_info.get(profile.logo) if profile.logo else None,
        "year": year,
        "css_version": hashlib.sha256(css.encode()).hexdigest()[:10],
        "has_contact": bool(profile.address or profile.phone or profile.email or profile.map),
    }
    nav_names = [n for n in sources.nav if n in pages]

    files: dict[str, bytes] = {}
    template = env.get_template("page.html")
    for page in pages.values():
        files[_output_path(page.name)] = _render(
            template, common, page, nav_names, pages, canonical=base_url + page.path,
        )
    not_found = model.Page("404", "Page not found", "Not found", "")
    files["404.html"] = _render(env.get_template("404.html"), common, not_found, nav_names, pages, canonical="")
    files["style.css"] = css.encode()
    files["favicon.svg"] = _favicon(profile.name, colours.brand, colours.on_brand).encode()
    for file in sorted(used):
        files[f"images/{file}"] = images[file][3]
        if file in phones:
            files[f"images/phone/{file}"] = phones[file][2]
    files["sitemap.xml"] = _sitemap(base_url, [p.path for p in pages.values()]).encode()
    files["robots.txt"] = f"User-agent: *\nAllow: /\n\nSitemap: {base_url}/sitemap.xml\n".encode()
    log.debug("built %d files with theme %s", len(files), theme.name)
    return files


def _srcset(file: str, width: int, phone: tuple | None) -> str:
    """The ``srcset`` of a picture with a phone variant ("" without one)."""
    if not phone or phone[0] >= width:
        return ""
    return f"/images/phone/{file} {phone[0]}w, /images/{file} {width}w"


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
