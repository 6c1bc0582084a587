"""The owner's website editor: start the site with a theme, switch theme
(each shown as the draft's home page built in it), the business profile,
the pages (add, edit, order in the menu, hide, remove, restore until the
next publish), their blocks (add from a palette, edit each in a form shaped like
it, move, duplicate, remove), the preview of the draft, publishing, and
rolling back to a version kept. A ready-made site uploaded instead of the
builder is :mod:`.website_upload`.

Each handler parses its form, calls one method of the site builder service
(``app.core.site_builder``, on a thread: it reads and writes the business's
file), the one the CLI's ``appliance site`` commands call, and renders; the
audit log names the signed-in owner. A ``{page}`` the owner's own site does
not have is the panel's 404, the same as a page that does not exist. "Saved"
and "Published" are said only once the service has committed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound

from sitegen import model, photos
from storage import sites

from . import website_forms as forms
from . import website_image_forms as image_forms
from .account import _size
from .core import CSP, Context, Response

log = logging.getLogger(__name__)

#: Where the preview is served; the built pages' root-relative links
#: (``/style.css``, ``/prices/``) are pointed under it.
PREVIEW = "/website/preview/"
#: Where each theme's build of the draft is served, for the theme picker's frames.
THEME_PREVIEW = "/website/themes/"
#: The policy of those answers: the panel's, but framed by the panel's own pages.
FRAME_CSP = "default-src 'self'; frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
_ROOT_LINK = re.compile(rb'(href|src)="/(?!/)')
#: A ``srcset`` (several root-relative addresses, each with its width).
_SRCSET = re.compile(rb'srcset="([^"]*)"')
_SRCSET_LINK = re.compile(rb'(^|,\s*)/(?!/)')
#: A picture of the built site (``sitegen.build``): ``images/NAME``, ``images/phone/NAME``.
_PICTURE = re.compile(r"images/(phone/)?([^/]+)")
#: A built page's frame of OpenStreetMap's map, and where it comes from.
_EMBED = f'<iframe class="map-frame" src="{model.OSM_EMBED}?'.encode()
_EMBED_ORIGIN = "https://www.openstreetmap.org"


def _builder(ctx: Context) -> Any:
    return ctx.app.core.site_builder


async def _call(method, *args: Any, **kw: Any) -> Any:
    return await asyncio.to_thread(method, *args, **kw)


def _themes(ctx: Context) -> list[tuple[str, str, str]]:
    """(name, title, description) of each theme, in the user's language."""
    texts = {
        "bold": (ctx._("Bold"), ctx._("Dark, strong type and a bright accent, for trades: builders, mechanics, electricians.")),
        "clean": (ctx._("Clean"), ctx._("Light and calm, for services: a practice, a studio, an office.")),
        "warm": (ctx._("Warm"), ctx._("Cream paper and serif headings, for a café, a bakery or a shop.")),
    }
    return [(t.name, *texts.get(t.name, (t.title, t.description))) for t in _builder(ctx).themes()]


async def _overview_page(ctx: Context, status: int = 200, *, theme_form=None, notice: str = "",
                         problem: str = "", detail: str = "") -> Response:
    overview = await _call(_builder(ctx).overview, ctx.session.slug)
    removed = await _call(_builder(ctx).removed_pages, ctx.session.slug)
    themes = _themes(ctx)
    form = theme_form or forms.theme(ctx._, [(n, t) for n, t, _ in themes], overview.theme)
    used = overview.published_bytes
    percent = min(100, round(100 * used / overview.limit_bytes)) if overview.limit_bytes else 0
    return ctx.render("website.html", status, path="/website", site=overview, themes=themes, theme_form=form,
                      used=_size(ctx, used), limit=_size(ctx, overview.limit_bytes), percent=percent,
                      images_size=_size(ctx, overview.image_bytes), removed=removed,
                      notice=notice, problem=problem, detail=detail)


async def overview(ctx: Context) -> Response:
    return await _overview_page(ctx)


async def start(ctx: Context) -> Response:
    themes = _themes(ctx)
    form = forms.theme(ctx._, [(n, t) for n, t, _ in themes], None, ctx.form_data())
    if not form.validate():
        return await _overview_page(ctx, 400, theme_form=form)
    try:
        await _call(_builder(ctx).start, ctx.session.slug, form.theme.data, actor=ctx.session.address)
    except Conflict:
        return ctx.redirect("/website")
    return await _overview_page(ctx, notice=ctx._("Your website is started. Fill in the profile, then add pages."))


async def theme(ctx: Context) -> Response:
    themes = _themes(ctx)
    form = forms.theme(ctx._, [(n, t) for n, t, _ in themes], None, ctx.form_data())
    if not form.validate():
        return await _overview_page(ctx, 400, theme_form=form)
    try:
        await _call(_builder(ctx).set_theme, ctx.session.slug, form.theme.data, actor=ctx.session.address)
    except NotFound:
        return ctx.redirect("/website")
    return await _overview_page(ctx, notice=ctx._("The theme is changed. Publish to show it on your site."))


async def publish(ctx: Context) -> Response:
    try:
        built = await _call(_builder(ctx).build, ctx.session.slug, actor=ctx.session.address)
    except LimitExceeded as exc:
        return await _overview_page(ctx, 400, problem=ctx._("The site does not fit in your plan's web space."),
                                    detail=str(exc))
    except (InvalidInput, NotFound) as exc:
        return await _overview_page(ctx, 400, problem=ctx._("The site cannot be published yet:"), detail=str(exc))
    ctx.panel.site_published(ctx.session.slug)
    log.info("%s: %s published the site of %s, version %d", ctx.request.peer, ctx.session.address,
             ctx.session.slug, built.version)
    return await _overview_page(ctx, notice=ctx._("Published: version %(version)d is on your site now.",
                                                  version=built.version))


def profile_view(ctx: Context, form: Any, status: int = 200, *, saved: bool = False, logo: str = "",
                 logo_error: str = "", logo_saved: bool = False) -> Response:
    """The profile's page: its form, and the logo's upload form."""
    return ctx.render("website_profile.html", status, form=form, saved=saved, logo=logo, logo_error=logo_error,
                      logo_saved=logo_saved, logo_pixels=photos.LOGO)


async def profile_page(ctx: Context) -> Response:
    try:
        values = await _call(_builder(ctx).profile, ctx.session.slug)
    except NotFound:
        return ctx.redirect("/website")
    return profile_view(ctx, forms.profile(ctx._, values=values), logo=values.get("logo") or "")


async def profile(ctx: Context) -> Response:
    form = forms.profile(ctx._, ctx.form_data())
    if not form.validate():
        return profile_view(ctx, form, 400)
    changes = {name: field.data or "" for name, field in form._fields.items()}
    try:
        saved = await _call(_builder(ctx).change_profile, ctx.session.slug, changes, actor=ctx.session.address)
    except NotFound:
        return ctx.redirect("/website")
    except (InvalidInput, LimitExceeded):
        form.name.errors.append(ctx._("Check the values: one of them is not accepted."))
        return profile_view(ctx, form, 400)
    return profile_view(ctx, form, saved=True, logo=saved.get("logo") or "")


async def new_page_form(ctx: Context) -> Response:
    return ctx.render("website_new_page.html", form=forms.new_page(ctx._))


async def new_page(ctx: Context) -> Response:
    form = forms.new_page(ctx._, ctx.form_data())
    if not form.validate():
        return ctx.render("website_new_page.html", 400, form=form)
    try:
        await _call(_builder(ctx).add_page, ctx.session.slug, form.name.data, form.title.data,
                    actor=ctx.session.address)
    except Conflict:
        form.name.errors.append(ctx._("Your site already has a page at this address."))
    except LimitExceeded:
        form.name.errors.append(ctx._("Your site has as many pages as it may have. Remove one first."))
    except InvalidInput:
        form.title.errors.append(ctx._("Check the title: use printable characters only."))
    except NotFound:
        return ctx.redirect("/website")
    else:
        return ctx.redirect(f"/website/pages/{form.name.data}")
    return ctx.render("website_new_page.html", 400, form=form)


async def _page(ctx: Context) -> Any:
    """The owner's own page ``{page}``, or None."""
    try:
        return await _call(_builder(ctx).page_text, ctx.session.slug, ctx.params["page"])
    except (NotFound, InvalidInput):
        return None


async def page_form(ctx: Context) -> Response:
    page = await _page(ctx)
    if page is None:
        return ctx.not_found()
    values = {"title": page.title, "menu": page.menu if page.menu != page.title else "",
              "description": page.description, "body": page.body}
    return _page_editor(ctx, page, forms.edit_page(ctx._, values=values))


async def edit_page(ctx: Context) -> Response:
    page = await _page(ctx)
    if page is None:
        return ctx.not_found()
    form = forms.edit_page(ctx._, ctx.form_data())
    if not form.validate():
        return _page_editor(ctx, page, form, 400)
    try:
        await _call(_builder(ctx).edit_page, ctx.session.slug, page.name, form.title.data, form.menu.data or "",
                    form.description.data or "", form.body.data or "", actor=ctx.session.address)
    except (InvalidInput, LimitExceeded, NotFound) as exc:
        form.body.errors.append(ctx._("The content has a mistake; nothing is saved. Fix it and save again."))
        return _page_editor(ctx, page, form, 400, detail=str(exc))
    return _page_editor(ctx, await _page(ctx) or page, form, saved=True)


async def move_page(ctx: Context) -> Response:
    form = forms.move(ctx._, ctx.form_data())
    if not form.validate():
        return await _overview_page(ctx, 400, problem=ctx._("Choose up or down."))
    try:
        await _call(_builder(ctx).move_page, ctx.session.slug, ctx.params["page"], form.direction.data == "up",
                    actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    except InvalidInput:
        return await _overview_page(ctx, 400, problem=ctx._("Only pages in the menu can move in it."))
    return ctx.redirect("/website#pages")


async def page_menu(ctx: Context) -> Response:
    form = forms.menu(ctx._, ctx.form_data())
    if not form.validate():
        return await _overview_page(ctx, 400, problem=ctx._("Choose yes or no."))
    try:
        await _call(_builder(ctx).show_in_menu, ctx.session.slug, ctx.params["page"], form.shown.data == "yes",
                    actor=ctx.session.address)
    except (NotFound, InvalidInput):
        return ctx.not_found()
    return ctx.redirect("/website#pages")


async def remove_page_form(ctx: Context) -> Response:
    page = await _page(ctx)
    if page is None:
        return ctx.not_found()
    return ctx.render("website_remove_page.html", page=page)


async def remove_page(ctx: Context) -> Response:
    try:
        await _call(_builder(ctx).remove_page, ctx.session.slug, ctx.params["page"], actor=ctx.session.address)
    except (NotFound, InvalidInput):
        return ctx.not_found()
    except Conflict:
        return ctx.forbidden(ctx._("The home page cannot be removed: every site has one."))
    return ctx.redirect("/website#pages")


async def restore_page(ctx: Context) -> Response:
    """Put back a page removed since the last publish; a page the owner's
    own site has not removed is the 404."""
    slug = ctx.session.slug
    name = ctx.params["page"]
    if name not in {p.name for p in await _call(_builder(ctx).removed_pages, slug)}:
        return ctx.not_found()
    try:
        await _call(_builder(ctx).restore_page, slug, name, actor=ctx.session.address)
    except Conflict:
        return await _overview_page(ctx, 409, problem=ctx._(
            "Your site has a page at this address again: remove or rename it first."))
    except LimitExceeded:
        return await _overview_page(ctx, 400, problem=ctx._(
            "Your site has as many pages as it may have. Remove one first."))
    except (NotFound, InvalidInput) as exc:
        return await _overview_page(ctx, 400, problem=ctx._("The page cannot be restored:"), detail=str(exc))
    return await _overview_page(ctx, notice=ctx._("The page %(name)s is back in your draft.", name=name))


async def preview(ctx: Context) -> Response:
    """One file of the draft, built as publishing would build it, for the
    owner's eyes only: ``/website/preview/`` is the home page,
    ``/website/preview/prices/`` a page, and so on."""
    return await _draft_file(ctx, None, PREVIEW)


async def theme_preview(ctx: Context) -> Response:
    """One file of the draft built in the theme ``{theme}`` (the draft
    keeps its own): the theme picker shows each theme's home page
    (``/website/themes/NAME/``) scaled down in a frame of the website
    page, so these answers may be framed by the panel itself. A theme
    that does not exist is the 404."""
    name = ctx.params["theme"]
    if name not in {t.name for t in _builder(ctx).themes()}:
        return ctx.not_found()
    response = await _draft_file(ctx, name, f"{THEME_PREVIEW}{name}/")
    if response.status != 404:  # the draft's file, or why it cannot be built, shown in the frame
        # Its own policy, not the preview's: a thumbnail frames nothing,
        # not even a map the owner chose to embed.
        response.headers = [h for h in response.headers if h[0] != "content-security-policy"]
        response.headers += [("content-security-policy", FRAME_CSP), ("x-frame-options", "SAMEORIGIN")]
    return response


async def _draft_file(ctx: Context, theme: str | None, prefix: str) -> Response:
    """The file ``{file}`` of the draft built in ``theme`` (None: its own),
    its root-relative links pointed under ``prefix``."""
    picture = _PICTURE.fullmatch(ctx.params.get("file", ""))
    if picture:
        # The build copies the library's pictures as they are: one is
        # served without building the whole site again (a page of a few
        # frames asks for many).
        try:
            ctype, data = await _call(ctx.app.core.image_library.file, ctx.session.slug, picture.group(2),
                                      bool(picture.group(1)))
        except (NotFound, InvalidInput):
            return ctx.not_found()
        return Response(200, data, ctype)
    try:
        files = await _call(_builder(ctx).preview, ctx.session.slug, theme)
    except (InvalidInput, NotFound) as exc:
        return ctx.render("error.html", 400, title=ctx._("The preview cannot be built"),
                          message=ctx._("The site cannot be published yet:") + " " + str(exc))
    path = ctx.params.get("file", "")
    wanted = path + "index.html" if path == "" or path.endswith("/") else path
    if wanted not in files:
        if path and f"{path}/index.html" in files:
            return ctx.redirect(f"{prefix}{path}/")
        return ctx.not_found()
    body = files[wanted]
    content_type = sites.content_type(wanted)
    headers = []
    if content_type.startswith("text/html"):
        body = _ROOT_LINK.sub(rb'\1="' + prefix.encode(), body)
        body = _SRCSET.sub(lambda m: b'srcset="' + _SRCSET_LINK.sub(rb"\1" + prefix.encode(), m.group(1)) + b'"', body)
        if _EMBED in body:
            # A map block whose owner chose OpenStreetMap's interactive map
            # (owners' text cannot hold a frame): that page, and only it,
            # may frame that one address.
            headers.append(("content-security-policy", f"{CSP}; frame-src {_EMBED_ORIGIN}"))
    return Response(200, body, content_type, headers)


async def roll_back(ctx: Context) -> Response:
    form = forms.roll_back(ctx._, ctx.form_data())
    if not form.validate():
        return await _overview_page(ctx, 400, problem=ctx._("Choose a version."))
    version = int(form.version.data)
    try:
        await _call(ctx.app.core.sites.roll_back, ctx.session.slug, version, actor=ctx.session.address)
    except NotFound:
        return await _overview_page(ctx, 400, problem=ctx._("This version is no longer kept."))
    ctx.panel.site_published(ctx.session.slug)
    log.info("%s: %s rolled the site of %s back to version %d", ctx.request.peer, ctx.session.address,
             ctx.session.slug, version)
    return await _overview_page(ctx, notice=ctx._("Version %(version)d is on your site again.", version=version))


# -- blocks ----------------------------------------------------------------------------


def _kind_names(ctx: Context) -> dict[str, str]:
    """What each block a form can make is called, in the user's language."""
    return {"heading": ctx._("Heading"), "text": ctx._("Text"), "services": ctx._("Services"),
            "contact": ctx._("Contact details"), "image": ctx._("Picture"), "gallery": ctx._("Gallery"),
            "contact-form": ctx._("Contact form"), "map": ctx._("Map"), "news": ctx._("News")}


def _summaries(ctx: Context, blocks: tuple) -> list[tuple[str, str]]:
    """(kind, a few words of it) of each block, for the page's list."""
    out = []
    for b in blocks:
        words = {
            "heading": lambda: b.title,
            "text": lambda: b.markdown,
            "contact": lambda: b.markdown,
            "contact-form": lambda: ctx._("messages go to %(address)s", address=b.mailbox),
            "services": lambda: ", ".join(s.name for s in b.items),
            "image": lambda: b.alt,
            "gallery": lambda: ", ".join(i.alt for i in b.items),
            "map": lambda: "; ".join(b.address_lines) or b.url,
            "news": lambda: ", ".join(f"{p.date} {p.title}" for p in b.posts[:3]),
        }[b.kind]()
        words = " ".join(words.split())
        out.append((b.kind, words if len(words) <= 80 else words[:79] + "…"))
    return out


def _page_editor(ctx: Context, page: Any, form: Any, status: int = 200, *, saved: bool = False,
                 detail: str = "") -> Response:
    kinds = _kind_names(ctx)
    return ctx.render("website_page.html", status, page=page, form=form, saved=saved, detail=detail,
                      blocks=_summaries(ctx, page.blocks), palette=kinds, kinds=kinds)


async def _page_blocks(ctx: Context) -> Any:
    """The owner's own page ``{page}`` with its blocks, or None."""
    try:
        return await _call(_builder(ctx).page_blocks, ctx.session.slug, ctx.params["page"])
    except (NotFound, InvalidInput):
        return None


def _block_page(ctx: Context, page: Any, kind: str, form: Any, action: str, *, new: bool, status: int = 200,
                problem: str = "", detail: str = "", pictures: list | None = None, posts: tuple = ()) -> Response:
    name = _kind_names(ctx)[kind]
    heading = ctx._("Add a block: %(kind)s", kind=name) if new else ctx._("Edit a block: %(kind)s", kind=name)
    return ctx.render("website_block.html", status, page=page, kind=kind, form=form, action=action,
                      heading=heading, problem=problem, detail=detail, pictures=pictures or [], posts=posts)


async def _pictures(ctx: Context) -> list[tuple[str, str]]:
    """(name, alt text) of each picture of the owner's library."""
    return sorted((await _call(ctx.app.core.image_library.alts, ctx.session.slug)).items())


async def _block_form(ctx: Context, kind: str, data: Any = None, values: dict | None = None, *,
                      posts: tuple = (), editing: int = 0) -> tuple[Any, list]:
    """The form of a block of ``kind`` and, for pictures, the library; a
    news block's form gets its ``posts`` and the number of the one edited."""
    if kind in ("image", "gallery"):
        pictures = await _pictures(ctx)
        return image_forms.picture_block(ctx._, kind, pictures, data, values), pictures
    if kind == "map":
        pictures = await _pictures(ctx)
        return forms.map_block(ctx._, pictures, data, values), pictures
    if kind == "news":
        pictures = await _pictures(ctx)
        return forms.news_block(ctx._, pictures, posts, data, values, editing=editing), pictures
    return forms.block(ctx._, kind, data, values, mailboxes=await _mailboxes(ctx, kind)), []


def _block_values(kind: str, form: Any, posts: tuple = ()) -> dict[str, str]:
    """The site builder's fields of a block from its valid form (a news
    block's ``posts``: those it had)."""
    if kind == "gallery":
        return {"files": "\n".join(form.files.data or [])}
    if kind == "map":
        return {name: field.data or "" for name, field in form._fields.items() if name != "embed"} | {
            "embed": "yes" if form.embed.data else ""}
    if kind == "news":
        return forms.news_values(form, posts)
    return {name: field.data or "" for name, field in form._fields.items()}


async def _mailboxes(ctx: Context, kind: str) -> list[str] | None:
    """The business's addresses, for a contact form's choice (None for other blocks)."""
    if kind != "contact-form":
        return None
    return await _call(_builder(ctx).mailboxes, ctx.session.slug)


async def new_block_form(ctx: Context) -> Response:
    page, kind = await _page_blocks(ctx), ctx.params["kind"]
    if page is None or kind not in _kind_names(ctx):
        return ctx.not_found()
    form, pictures = await _block_form(ctx, kind)
    return _block_page(ctx, page, kind, form, ctx.request.path, new=True, pictures=pictures)


async def new_block(ctx: Context) -> Response:
    return await _save_block(ctx, None)


async def block_form(ctx: Context) -> Response:
    page = await _page_blocks(ctx)
    index = int(ctx.params["block"])
    if page is None or index > len(page.blocks):
        return ctx.not_found()
    block = page.blocks[index - 1]
    if block.kind not in _kind_names(ctx):
        return ctx.redirect(f"/website/pages/{page.name}#text")
    values: dict = model.block_fields(block)
    if block.kind == "gallery":
        values = {"files": [item.file for item in block.items]}
    form, pictures = await _block_form(ctx, block.kind, values=values, **_news_state(block, ctx.query_data()))
    return _block_page(ctx, page, block.kind, form, ctx.request.path, new=False, pictures=pictures,
                       posts=_posts(block))


def _posts(block: Any) -> tuple:
    return block.posts if isinstance(block, model.News) else ()


def _news_state(block: Any, data: Any) -> dict:
    """A news block's posts and the number of the post being edited (its
    form's ``post``: from the link "Edit", then the form's hidden field)."""
    if not isinstance(block, model.News):
        return {}
    chosen = data.get("post") if data is not None and "post" in data else ""
    return {"posts": block.posts, "editing": int(chosen) if re.fullmatch(r"[1-9][0-9]{0,2}", chosen or "") else 0}


async def edit_block(ctx: Context) -> Response:
    return await _save_block(ctx, int(ctx.params["block"]))


async def _save_block(ctx: Context, index: int | None) -> Response:
    page = await _page_blocks(ctx)
    if page is None or (index is not None and index > len(page.blocks)):
        return ctx.not_found()
    kind = ctx.params["kind"] if index is None else page.blocks[index - 1].kind
    if kind not in _kind_names(ctx):
        return ctx.not_found()
    block = page.blocks[index - 1] if index is not None else None
    posts = _posts(block)
    form, pictures = await _block_form(ctx, kind, ctx.form_data(), **_news_state(block, ctx.form_data()))
    if not form.validate():
        return _block_page(ctx, page, kind, form, ctx.request.path, new=index is None, status=400,
                           pictures=pictures, posts=posts)
    values = _block_values(kind, form, posts)
    try:
        await _call(_builder(ctx).put_block, ctx.session.slug, page.name, index, kind, values,
                    actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    except (InvalidInput, LimitExceeded) as exc:
        return _block_page(ctx, page, kind, form, ctx.request.path, new=index is None, status=400,
                           problem=ctx._("This block has a mistake; nothing is saved. Fix it and save again."),
                           detail=str(exc), pictures=pictures, posts=posts)
    return ctx.redirect(f"/website/pages/{page.name}#blocks")


async def change_block(ctx: Context) -> Response:
    form = forms.block_action(ctx._, ctx.form_data())
    if not form.validate():
        return ctx.render("error.html", 400, title=ctx._("Choose what to do with the block."),
                          message=ctx._("Choose what to do with the block."))
    try:
        await _call(_builder(ctx).change_block, ctx.session.slug, ctx.params["page"], int(ctx.params["block"]),
                    form.action.data, actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    except (InvalidInput, LimitExceeded):
        return ctx.render("error.html", 400, title=ctx._("The page is full"),
                          message=ctx._("This page has as many blocks as it may have."))
    return ctx.redirect(f"/website/pages/{ctx.params['page']}#blocks")
