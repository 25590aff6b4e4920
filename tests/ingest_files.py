"""Real test files for the format readers, written by real writers (reportlab, python-docx, plain HTML)."""

from __future__ import annotations

from pathlib import Path

INTRO = (
    "The widget controller reads its settings when it starts and again whenever the "
    "configuration file changes on disk. Settings that cannot be parsed are reported with "
    "the line number and the previous value is kept, so a typing mistake never stops a "
    "running controller."
)
INSTALL = (
    "Install the package with the system package manager and enable the service. The "
    "installer creates the state folder and a default configuration that listens only on "
    "the local interface."
)
GLOB = (
    "Each glob file lists the patterns of the files that the controller watches. A pattern "
    "that starts with an exclamation mark removes the files it matches from the watched set, "
    "which makes it easy to ignore editor backups and temporary files."
)
# Long enough to run from the bottom of one page onto the next.
LONG = " ".join(
    f"Note {word} says the watcher keeps its state in a small journal that it writes before every "
    "change, reads again after a crash and trims once the change is safely on disk, so that a power "
    "cut never loses more than the change in flight."
    for word in ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
)
ITEMS = (
    "A pattern that starts with an exclamation mark removes files from the set that the earlier patterns matched.",
    "A pattern that ends with a slash matches folders only, and never the files with that name.",
)
HEADER = "Acme Widget Controller Manual"
FOOTER = "Confidential draft for internal review"


def _styles():
    from reportlab.lib.styles import getSampleStyleSheet

    return getSampleStyleSheet()


def _furniture(canvas, doc):
    # The running header, footer and page number that every page repeats.
    from reportlab.lib.pagesizes import A4

    width, height = A4
    canvas.saveState()
    canvas.setFont("Helvetica", 9)
    canvas.drawString(72, height - 40, HEADER)
    canvas.drawString(72, 30, FOOTER)
    canvas.drawRightString(width - 72, 30, f"Page {doc.page}")
    canvas.restoreState()


def manual_flowables(outline: bool):
    """The manual's story: title, numbered headings, a hyphenated line end, a table, a page break."""
    from reportlab.platypus import PageBreak, Paragraph, Spacer, Table

    from reportlab.lib.styles import ParagraphStyle

    s = _styles()
    # A list set tight, as most are: no space between the items, a hanging indent after the bullet.
    tight = ParagraphStyle("tight", parent=s["BodyText"], spaceBefore=0, leftIndent=18, bulletIndent=6)
    story = [
        Paragraph("Widget Controller Guide", s["Title"]),
        Paragraph("1. Introduction", s["Heading1"]),
        Paragraph(INTRO, s["BodyText"]),
        Paragraph("The controller is a small exam-<br/>ple of a well-known design.", s["BodyText"]),
        Paragraph("2. Installing", s["Heading1"]),
        Paragraph(INSTALL, s["BodyText"]),
        Paragraph("Its event loop follows the well-<br/>known reactor pattern.", s["BodyText"]),
        Paragraph("2.1. Requirements", s["Heading2"]),
        Table([["Component", "Version", "Notes"], ["Python", "3.11", "required"], ["SQLite", "3.40", "bundled"]]),
        Spacer(1, 12),
        Paragraph("2.4. The glob files", s["Heading2"]),
        Paragraph(GLOB, s["BodyText"]),
        *(Paragraph(item, tight, bulletText="\u2022") for item in ITEMS),
        PageBreak(),
        Paragraph("3. Operating", s["Heading1"]),
        Spacer(1, 500),
        Paragraph(LONG, s["BodyText"]),
        Paragraph("The last paragraph closes the manual.", s["BodyText"]),
    ]
    return story


def write_manual_pdf(path: Path, outline: bool = True, encrypt: str | None = None) -> Path:
    """A three-or-more page manual with running header/footer, page numbers and (optionally) an outline."""
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    class Doc(SimpleDocTemplate):
        def afterFlowable(self, flowable):
            # Bookmarks the way reportlab's own docs do it: one outline entry per heading paragraph.
            if outline and isinstance(flowable, Paragraph):
                level = {"Title": 0, "Heading1": 1, "Heading2": 2}.get(flowable.style.name)
                if level is not None:
                    key = f"h{id(flowable)}"
                    self.canv.bookmarkPage(key)
                    self.canv.addOutlineEntry(flowable.getPlainText(), key, level=level)

    kwargs = {}
    if encrypt is not None:  # "" is an owner password alone: anyone may open it, as readers do
        from reportlab.lib.pdfencrypt import StandardEncryption

        kwargs["encrypt"] = StandardEncryption(encrypt, ownerPassword="owner", strength=128)
    doc = Doc(str(path), pagesize=A4, title="Widget Controller Guide", **kwargs)
    doc.build(manual_flowables(outline), onFirstPage=_furniture, onLaterPages=_furniture)
    return path


def write_two_column_pdf(path: Path) -> Path:
    """One page set in two columns: the left column's text must come before the right's."""
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph

    width, height = A4
    col = (width - 144 - 20) / 2
    frames = [Frame(72, 72, col, height - 144, id="left"), Frame(72 + col + 20, 72, col, height - 144, id="right")]
    doc = BaseDocTemplate(str(path), pagesize=A4)
    doc.addPageTemplates([PageTemplate(id="two", frames=frames)])
    s = _styles()
    story = [Paragraph("Two Column Notes", s["Title"]), Paragraph(INTRO, s["BodyText"]), Paragraph(INSTALL, s["BodyText"])]
    from reportlab.platypus import FrameBreak

    story += [FrameBreak(), Paragraph("Right Column", s["Heading2"]), Paragraph(GLOB, s["BodyText"])]
    doc.build(story)
    return path


# A reference manual's page, laid out the way man pages and texinfo manuals are (see write_reference_pdf).
TAG_TEXT = (
    "Request verbose logging. Log messages are saved into a file in the current folder, one for the "
    "server and one for each client, named after the process that writes them, so that two runs "
    "never mix their messages."
)
MARGIN_HEADING = "DEFAULT KEY BINDINGS"
MARGIN_BODY = "tmux may be controlled from an attached client by a key combination of a prefix key and a command key."
TAIL = (
    "The journal is written before every change and read again after a crash, so that a reader "
    "of the folder always finds a consistent state, whatever was in flight when the power went."
)
LIST_INTRO = "The main features of this library are:"
FEATURES = ("On-line structure management.", "No limits for integer values.", "Thread safety.")
CODE_INTRO = "Consider this definition:"
CODE = ("Group ::= SEQUENCE {", "    id    OBJECT IDENTIFIER,", "    value Value }")
FUNCTION = "asn1 check version"
FUNCTION_TEXT = "Check that the version of the library is at minimum the requested one."
FUNCTION_RETURNS = "Returns: the version string, or NULL."


def write_reference_pdf(path: Path) -> Path:
    """Two pages set as manuals are: a hanging tag whose text wraps under itself, a bold heading out in
    the margin over indented text that reads on from it, a paragraph with a hyphenated line end in its
    middle, a spaced-out list after the sentence that introduces it, a code example in Courier after a
    colon, a table of contents with dot leaders, and (only in the outline's chapter) a function's name
    set larger than the body with its short description and "Returns:" line."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import PageBreak, Paragraph, Preformatted, SimpleDocTemplate

    body = ParagraphStyle("body", fontName="Times-Roman", fontSize=10, leading=12, spaceAfter=6, leftIndent=36)
    tag = ParagraphStyle("tag", parent=body, leftIndent=108, rightIndent=150, bulletIndent=36, bulletFontName="Times-Bold")
    margin = ParagraphStyle("margin", parent=body, fontName="Times-Bold", leftIndent=0, spaceAfter=0)
    item = ParagraphStyle("item", parent=body, leftIndent=54, bulletIndent=42, spaceBefore=4)
    code = ParagraphStyle("code", parent=body, fontName="Courier", leading=16, leftIndent=54)
    chapter = ParagraphStyle("chapter", parent=body, fontName="Times-Bold", fontSize=16, leading=20, leftIndent=0)
    function = ParagraphStyle("function", parent=body, fontName="Times-Bold", fontSize=13, leading=16, leftIndent=0)

    class Doc(SimpleDocTemplate):
        def afterFlowable(self, flowable):
            if isinstance(flowable, Paragraph) and flowable.style.name == "chapter":
                key = f"c{id(flowable)}"
                self.canv.bookmarkPage(key)
                self.canv.addOutlineEntry(flowable.getPlainText(), key, level=0)

    story = [
        Paragraph("1 Options", chapter),
        Paragraph("Contents " + ". " * 30 + "2", body),
        Paragraph(TAG_TEXT, tag, bulletText="-v"),
        Paragraph(MARGIN_HEADING, margin),
        Paragraph(MARGIN_BODY, body),
        Paragraph("A journal entry is a small exam-<br/>ple of a record that the reader trusts. " + TAIL, body),
        Paragraph(LIST_INTRO, body),
        *(Paragraph(f, item, bulletText="\u2022") for f in FEATURES),
        Paragraph(CODE_INTRO, body),
        Preformatted("\n".join(CODE), code),
        PageBreak(),
        Paragraph("2 Functions", chapter),
        Paragraph(FUNCTION, function),
        Paragraph(FUNCTION_TEXT, body),
        Paragraph(FUNCTION_RETURNS, body),
    ]
    Doc(str(path), pagesize=A4, title="Reference").build(story)
    return path


def write_scanned_pdf(path: Path, text_pages: int = 0) -> Path:
    """Image-only pages (a picture of text, no text layer), after `text_pages` ordinary pages."""
    from PIL import Image, ImageDraw
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas

    image = Image.new("L", (600, 200), 255)
    ImageDraw.Draw(image).text((20, 80), "A scanned page: pixels, not text.", fill=0)
    canvas = Canvas(str(path), pagesize=A4)
    for i in range(text_pages):
        canvas.drawString(72, 700, f"Typed page {i + 1} has a real text layer.")
        canvas.showPage()
    canvas.drawImage(ImageReader(image), 72, 500, width=450, height=150)
    canvas.showPage()
    canvas.save()
    return path


PARTS = ("Spring", "Summer", "Autumn")


def write_long_pdf(path: Path, pages: int = 300) -> Path:
    """A long report drawn line by line (fast to write): a numbered heading and body lines per page,
    an outline whose entries leave the number out, and a running head that names the part (so no one
    text repeats on most pages) followed by the printed page number, four ahead of the page's index."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    canvas = Canvas(str(path), pagesize=A4)
    for n in range(1, pages + 1):
        canvas.bookmarkPage(f"p{n}")
        canvas.addOutlineEntry(f"Chapter {n}", f"p{n}", level=0)
        canvas.setFont("Helvetica", 9)
        canvas.drawString(72, 812, f"{PARTS[(n - 1) * len(PARTS) // pages]} minutes of the Widget Board")
        canvas.drawRightString(523, 812, str(n + 4))
        canvas.drawCentredString(297, 30, str(n + 4))
        if n == 1:
            canvas.setFont("Helvetica-Bold", 20)
            canvas.drawString(72, 788, "The Widget Board Report")
        # The heading sits high, among the running heads' band, and is alike on every page but for its
        # numbers: it must not be taken for a running head.
        canvas.setFont("Helvetica-Bold", 14)
        canvas.drawString(72, 768, f"{n}. Chapter {n}")
        canvas.setFont("Helvetica", 11)
        y = 715
        for line in range(40):
            canvas.drawString(72, y, f"Line {line} of chapter {n} reports the figures the board approved that year")
            y -= 15
        canvas.showPage()
    canvas.save()
    return path


# Web pages as sites write them: the article sits among navigation, a sidebar, breadcrumbs,
# previous/next links, a footer and a cookie banner, in semantic tags (DOCS_PAGE) or in plain divs
# named by class (BLOG_PAGE).
COOKIE = "We use cookies to improve your experience. By continuing you accept our cookie policy."
NAV = ["Home", "Documentation", "Blog", "Pricing", "Sign in"]
SIDEBAR = ["Getting started", "Configuration reference", "Troubleshooting guide"]
COPYRIGHT = "Copyright 2024 Acme Widgets Ltd. All rights reserved."
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Configuring the watcher | Acme Docs</title>
<link rel="stylesheet" href="site.css"><script>window.dataLayer = [];</script></head>
<body>
<header class="site-header"><a class="logo" href="/">Acme Docs</a>
<nav class="main-nav"><ul>{nav}</ul></nav></header>
<div id="cookie-banner" class="cookie-consent"><p>{cookie}</p><button>Accept</button></div>
<nav aria-label="breadcrumb"><ol class="breadcrumb"><li><a href="/">Home</a></li>
<li><a href="/docs">Docs</a></li><li>Configuring the watcher</li></ol></nav>
<div class="layout">
<aside class="sidebar"><h2>In this section</h2><ul>{sidebar}</ul></aside>
<main><article>
<h1>Configuring the watcher</h1>
<p>{intro}</p>
<h2>The glob files</h2>
<p>{glob}</p>
<ul><li>Patterns are matched against the path relative to the root.</li>
<li>A pattern that ends with a slash matches folders only.</li></ul>
<h3>Precedence of patterns</h3>
<p>Later patterns win over earlier ones, so put the exclusions last.</p>
<h2>Settings</h2>
<table><thead><tr><th>Setting</th><th>Default</th><th>Meaning</th></tr></thead>
<tbody><tr><td>interval</td><td>5 s</td><td>how often the folders are scanned</td></tr>
<tr><td>journal</td><td>on</td><td>whether changes are journalled first</td></tr></tbody></table>
<p>{install}</p>
</article>
<nav class="pagination"><a rel="prev" href="install.html">&larr; Previous: Installing</a>
<a rel="next" href="operate.html">Next: Operating &rarr;</a></nav>
</main></div>
<footer class="site-footer"><p>{copyright}</p><ul><li><a href="/privacy">Privacy</a></li>
<li><a href="/contact">Contact us</a></li></ul></footer>
</body></html>
"""
BLOG_PAGE = """<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}">
<title>Why the journal comes first - Acme Blog</title></head><body>
<div class="navbar"><a href="/">Home</a> | <a href="/blog">Blog</a> | <a href="/about">About us</a></div>
<div class="breadcrumbs"><a href="/">Home</a> &gt; <a href="/blog">Blog</a> &gt; Why the journal comes first</div>
<div class="container"><div class="content">
<h1>Why the journal comes first</h1>
<div class="meta">Posted by Zo\u00eb on 3 March 2024</div>
<p>{journal}</p>
<h2>What a crash leaves behind</h2>
<p>{crash}</p>
</div>
<div class="sidebar widget-area"><h3>Popular posts</h3><ul>{sidebar}</ul></div></div>
<div id="footer">{copyright}</div>
<div class="cookie-notice">{cookie} <a href="#">OK</a></div>
</body></html>
"""
# Characters windows-1252 has and ISO-8859-1 lacks (curly quotes, the euro sign, the dash) and
# accented letters both have: a decoder that ignores the page's charset gets them wrong.
JOURNAL = (
    "The caf\u00e9 owner\u2019s \u201cna\u00efve\u201d question \u2014 why pay \u20ac5 for a journal? \u2014 "
    "has a plain answer: the journal is written before the change, so a crash can always be replayed."
)
CRASH = "After a crash the watcher reads the journal again and finishes or undoes the change in flight."


def _items(words) -> str:
    return "".join(f'<li><a href="#">{w}</a></li>' for w in words)


def docs_page() -> str:
    return DOCS_PAGE.format(
        nav=_items(NAV), sidebar=_items(SIDEBAR), cookie=COOKIE, intro=INTRO, glob=GLOB, install=INSTALL,
        copyright=COPYRIGHT,
    )


def write_html(path: Path, html: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(html.encode(encoding))
    return path


def blog_page(charset: str = "utf-8") -> str:
    return BLOG_PAGE.format(
        charset=charset, journal=JOURNAL, crash=CRASH, sidebar=_items(SIDEBAR), copyright=COPYRIGHT, cookie=COOKIE
    )


# A page labelled ISO-8859-1 whose bytes use windows-1252's curly quotes (as such pages do: browsers
# decode the label as windows-1252), and a Japanese page in Shift_JIS.
LATIN1_PAGE = (
    '<html><head><meta charset="iso-8859-1"><title>R\u00e9sum\u00e9 tips</title></head><body>'
    "<h1>R\u00e9sum\u00e9 tips</h1><p>Keep it to one page \u2014 \u201cless is more\u201d, as the se\u00f1or says.</p>"
    "</body></html>"
)
JAPANESE = "\u8a2d\u5b9a\u30d5\u30a1\u30a4\u30eb\u306f\u8d77\u52d5\u6642\u306b\u8aad\u307f\u8fbc\u307e\u308c\u307e\u3059\u3002"
SJIS_PAGE = (
    '<html><head><meta http-equiv="content-type" content="text/html;charset=Shift_JIS">'
    "<title>\u8a2d\u5b9a</title></head><body><h1>\u8a2d\u5b9a</h1><p>" + JAPANESE + "</p></body></html>"
)


def sections(doc) -> list[tuple[str, int]]:
    """The document's (heading, level) pairs, after checking that every section's range starts at its
    heading line and ends at the end of its content (no blank line at either end), and so do pages."""
    for s in doc.sections:
        content = doc.text[s.start:s.end]
        assert content.split("\n", 1)[0] == s.heading, (s, content[:60])
        assert content == content.strip(), s
    for start, end in doc.pages or ():
        assert doc.text[start:end] == doc.text[start:end].strip()
    return [(s.heading, s.level) for s in doc.sections]


def write_docx(path: Path, title: bool = True, property_title: str = "") -> Path:
    """The manual as Word writes it: Title and Heading styles, a bulleted list, a table, a page break,
    and a running header and footer (which are not body text)."""
    import docx

    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = HEADER
    section.footer.paragraphs[0].text = FOOTER
    document.core_properties.title = property_title
    if title:
        document.add_heading("Widget Controller Guide", level=0)
    document.add_heading("1. Introduction", level=1)
    document.add_paragraph(INTRO)
    document.add_heading("2. Installing", level=1)
    document.add_paragraph(INSTALL)
    document.add_heading("2.1. Requirements", level=2)
    table = document.add_table(rows=0, cols=3)
    for row in (["Component", "Version", "Notes"], ["Python", "3.11", "required"], ["SQLite", "3.40", "bundled"]):
        cells = table.add_row().cells
        for cell, text in zip(cells, row):
            cell.text = text
    document.add_paragraph("Patterns are matched against the path relative to the root.", style="List Bullet")
    document.add_paragraph("A pattern that ends with a slash matches folders only.", style="List Bullet")
    document.add_heading("2.4. The glob files", level=2)
    document.add_paragraph(GLOB)
    document.add_page_break()
    document.add_heading("3. Operating", level=1)
    document.add_paragraph("The last paragraph closes the manual.")
    document.save(str(path))
    return path


def skip_warning(read, path: Path) -> str:
    """Read a bad file: the reader must return None after exactly one warning, which is returned."""
    warnings: list[str] = []
    assert read(path, path.name, warnings.append) is None
    assert len(warnings) == 1, warnings
    return warnings[0]


def check_never_raises(read, data: bytes, path: Path, tries: int = 40) -> None:
    """Truncate or flip bytes of a real file `tries` times (a fixed seed): the reader never raises, and
    returns None after exactly one "skipped" warning, or a document."""
    import random

    rng = random.Random(7)
    for i in range(tries):
        mangled = bytearray(data[: rng.randrange(len(data))] if i % 2 else data)
        for _ in range(0 if i % 2 else rng.randint(1, 30)):
            mangled[rng.randrange(len(mangled))] = rng.randrange(256)
        path.write_bytes(bytes(mangled))
        warnings: list[str] = []
        doc = read(path, path.name, warnings.append)
        if doc is None:
            assert len(warnings) == 1 and warnings[0].startswith(f"skipped {path.name}: "), warnings
        else:
            assert all(w.startswith(f"{path.name}: ") for w in warnings), warnings


# The shape a WordPress theme gives a post: the article inside <main> among its own furniture (entry
# meta, tags, post navigation, comments and the reply form), the sidebar widgets and the site footer.
COMMENT = "Great post, thanks! Does the journal also work on network drives?"
WORDPRESS_PAGE = """<!DOCTYPE html><html><head><meta charset="UTF-8"><title>Why the journal comes first &#8211; Acme Blog</title></head>
<body class="post-template-default single has-sidebar"><div id="page" class="site">
<a class="skip-link screen-reader-text" href="#content">Skip to content</a>
<div id="masthead" class="site-header"><p class="site-title"><a href="/">Acme Blog</a></p>
<div id="site-navigation" class="main-navigation"><ul id="primary-menu" class="menu">{nav}</ul></div></div>
<div id="content" class="site-content"><div id="primary" class="content-area"><main id="main" class="site-main">
<article id="post-42" class="post-42 post type-post status-publish">
<header class="entry-header"><h1 class="entry-title">Why the journal comes first</h1>
<div class="entry-meta"><span class="posted-on">Posted on <time>3 March 2024</time></span></div></header>
<div class="entry-content"><p>{journal}</p><h2>What a crash leaves behind</h2><p>{crash}</p></div>
<footer class="entry-footer"><span class="cat-links">Posted in <a href="/c/eng">Engineering</a></span>
<span class="tags-links">Tagged <a href="/t/journal">journal</a></span></footer></article>
<nav class="navigation post-navigation"><div class="nav-links"><div class="nav-previous"><a href="/p/41">Previous Post: Installing the controller</a></div></div></nav>
<div id="comments" class="comments-area"><h2 class="comments-title">One thought on this post</h2>
<ol class="comment-list"><li class="comment"><p>{comment}</p></li></ol>
<div id="respond" class="comment-respond"><h3 class="comment-reply-title">Leave a Reply</h3>
<form><textarea></textarea></form></div></div>
</main></div>
<aside id="secondary" class="widget-area"><section class="widget widget_recent_entries"><h2 class="widget-title">Recent Posts</h2><ul>{sidebar}</ul></section></aside>
</div><footer id="colophon" class="site-footer"><div class="site-info">{copyright}</div></footer></div></body></html>
"""


def wordpress_page() -> str:
    return WORDPRESS_PAGE.format(nav=_items(NAV), journal=JOURNAL, crash=CRASH, comment=COMMENT,
                                 sidebar=_items(SIDEBAR), copyright=COPYRIGHT)
