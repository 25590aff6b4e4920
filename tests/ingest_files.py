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

    s = _styles()
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
    if encrypt:
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


def write_long_pdf(path: Path, pages: int = 300) -> Path:
    """A long report drawn line by line (fast to write): a numbered heading and body lines per page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    canvas = Canvas(str(path), pagesize=A4)
    for n in range(1, pages + 1):
        canvas.setFont("Helvetica", 9)
        canvas.drawString(72, 800, "Annual Report of the Widget Board")
        canvas.drawCentredString(297, 30, str(n))
        if n == 1:
            canvas.setFont("Helvetica-Bold", 20)
            canvas.drawString(72, 775, "The Widget Board Report")
        canvas.setFont("Helvetica-Bold", 14)
        canvas.drawString(72, 745, f"{n}. Chapter {n}")
        canvas.setFont("Helvetica", 11)
        y = 715
        for line in range(40):
            canvas.drawString(72, y, f"Line {line} of chapter {n} reports the figures the board approved that year")
            y -= 15
        canvas.showPage()
    canvas.save()
    return path
