"""The control panel: owners and staff run their business from a browser.

Framework-free: :class:`.core.Panel` takes a :class:`.core.Request` and
returns a :class:`.core.Response`; ``protocols/web/panel.py`` adapts it to
twisted.web. :mod:`.rights` is the table of every route and who may use it,
:mod:`.sessions` the server-side sessions, :mod:`.i18n` the languages
(English and French), :mod:`.forms` the forms; :mod:`.account` and
:mod:`.people` are the pages, which call the same services as the CLI.
"""
