"""The website builder: a business profile and pages of blocks, rendered
with a theme into the static files of a site.

``model`` parses and checks what owners write (profile values, pages in the
block format), ``markup`` turns their Markdown into sanitised HTML,
``images`` identifies pictures from their bytes, ``palette`` makes the chosen
colours readable (WCAG AA), ``strings`` holds the words themes add in each
language, ``render`` loads themes from ``themes/`` into a Jinja2
environment, and ``build`` turns the stored sources into ``{path: bytes}``
(and renders the pages a contact form answers with). The sources live in the business's own file
(``storage.sitegen``), kept by the site builder service
(``appliance.services.sitebuilder``), which publishes the built files with
``storage.sites.publish``; ``appliance site init|profile|page|nav|image|build``
is its command line (``appliance.cli.sitebuilder``). Nothing here imports
the appliance's services or front ends.
"""
