"""Markdown rendering and nh3 sanitising of owners' text."""

from __future__ import annotations

from sitegen import markup


def test_script_tags_are_removed_with_their_content():
    """<script> in Markdown text leaves neither the tag nor its code."""
    html = markup.render("Hello <script>alert('owned')</script> world")
    assert "<script" not in html and "alert" not in html
    assert "Hello" in html and "world" in html


def test_javascript_urls_are_dropped_from_links():
    """A javascript: link keeps its text but loses the href, in Markdown and in raw HTML alike."""
    html = markup.render('[click](javascript:alert(1)) <a href="JaVaScRiPt:alert(2)">two</a> <a href="data:text/html,x">three</a>')
    assert "javascript" not in html.lower() and "data:" not in html
    assert "click" in html and "two" in html


def test_event_handlers_and_style_attributes_are_removed():
    """on* attributes and style= do not survive; the element's text does."""
    html = markup.render('<p onclick="steal()" style="position:fixed">text</p> <a href="https://ok.example" onmouseover="x()">ok</a>')
    assert "onclick" not in html and "onmouseover" not in html and "style=" not in html and "steal" not in html
    assert 'href="https://ok.example"' in html


def test_embedding_tags_are_removed():
    """iframe, img, object, form and style elements are not in the allow-list."""
    html = markup.render('<iframe src="https://evil.example"></iframe><img src=x onerror=alert(1)><form action="/x"><input></form><style>body{}</style><object data="x"></object>')
    for tag in ("<iframe", "<img", "<form", "<input", "<style", "<object", "onerror", "evil.example"):
        assert tag not in html


def test_markdown_formatting_survives_and_headings_shift_down():
    """Bold, lists, links and tables render; '#' becomes <h2> because the page title is the <h1>."""
    html = markup.render("# Title\n\n**bold** and [link](https://shop.example/)\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<h2>Title</h2>" in html and "<h1" not in html
    assert "<strong>bold</strong>" in html
    assert '<a href="https://shop.example/" rel="noopener noreferrer">link</a>' in html
    assert "<li>one</li>" in html and "<td>1</td>" in html


def test_mail_and_phone_links_are_kept():
    """mailto: and tel: links are allowed schemes."""
    html = markup.render("[mail](mailto:a@b.example) [call](tel:+4930123)")
    assert 'href="mailto:a@b.example"' in html and 'href="tel:+4930123"' in html
