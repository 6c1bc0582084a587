"""The website builder: a business profile and pages of blocks, rendered
with a theme into the static files of a site.

``model`` parses and checks what owners write (profile values, pages in the
block format), ``markup`` turns their Markdown into sanitised HTML,
``images`` identifies pictures from their bytes, ``palette`` makes the chosen
colours readable (WCAG AA), ``render`` loads themes from ``themes/`` into a
Jinja2 environment, ``build`` turns the stored sources into ``{path: bytes}``
and ``commands`` is ``appliance site init|profile|page|nav|image|build``.
The sources live in the business's own file (``storage.sitegen``); the built
files are published with ``storage.sites.publish``.
"""
