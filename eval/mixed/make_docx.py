"""Write the two Word files of eval/mixed/corpus/ with python-docx from Debian's plain-text READMEs.

Run once from the repository root (its output is committed; run again only to remake them):

    /work/main/.venv/bin/python eval/mixed/make_docx.py

- base-passwd.docx: /usr/share/doc/base-passwd/README (base-passwd, GPL-2). The README has no
  headings below its title; the Heading 2 lines here name its parts and are ours. Its two
  registries of reserved uids and gids become two Word tables (id | name | description).
- mawk-readme.docx: /usr/share/doc/mawk/README (mawk, GPL-2), whose own underlined headings
  (Portability, Options, Limitations) become Heading 2, its list of platforms a bulleted list.

Every sentence is the README's own, lines re-joined into paragraphs; nothing else is changed.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import docx

OUT = Path(__file__).resolve().parent / "corpus"
BASE_PASSWD = Path("/usr/share/doc/base-passwd/README")
MAWK = Path("/usr/share/doc/mawk/README")


def paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks, each block's lines joined by single spaces."""
    return [" ".join(line.strip() for line in block.splitlines() if line.strip())
            for block in re.split(r"\n\s*\n", text) if block.strip()]


def new_document(title: str):
    document = docx.Document()
    props = document.core_properties
    props.title, props.author = title, "make_docx.py (text by the Debian package's authors)"
    props.created = props.modified = datetime.datetime(2026, 12, 1)
    document.add_heading(title, level=0)  # the Title style
    return document


def add_table(document, header: str, rows: list[str]) -> None:
    cells = [[c.strip() for c in line.split("|")] for line in [header, *rows]]
    table = document.add_table(rows=len(cells), cols=len(cells[0]))
    table.style = "Table Grid"
    for r, row in enumerate(cells):
        for c, value in enumerate(row):
            table.cell(r, c).text = value


def base_passwd() -> None:
    text = BASE_PASSWD.read_text(encoding="utf-8")
    head, _, rest = text.partition("There are some exceptions to this:")
    exceptions, _, rest = rest.partition("The following uid/gid pairs")
    registry_intro, _, rest = ("The following uid/gid pairs" + rest).partition("Reserved uids:")
    uids, _, rest = rest.partition("Reserved gids:")
    gids, _, tail = rest.partition("(Next uid/gid allocation")
    tail = "(Next uid/gid allocation" + tail

    document = new_document("base-passwd for Debian")
    for para in paragraphs(head)[1:]:  # [0] is the underlined title
        document.add_paragraph(para)
    document.add_heading("Exceptions", level=2)
    document.add_paragraph("There are some exceptions to this:")
    for item in re.split(r"\n\* ", "\n" + exceptions.strip().lstrip("* ")):
        if item.strip():
            document.add_paragraph(" ".join(item.split()), style="List Bullet")
    document.add_heading("The static range 60000-64999", level=2)
    for para in paragraphs(registry_intro):
        document.add_paragraph(para)
    for heading, block in (("Reserved uids", uids), ("Reserved gids", gids)):
        document.add_heading(heading, level=3)
        lines = [line for line in block.strip().splitlines() if line.strip() and not line.strip().startswith("---")]
        add_table(document, lines[0], lines[1:])
    document.add_heading("Requesting an allocation", level=2)
    for para in paragraphs(tail):
        document.add_paragraph(para)
    document.save(OUT / "base-passwd.docx")


def mawk() -> None:
    text = MAWK.read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("-- "))  # RCS/vile lines
    document = new_document("mawk -- an implementation of new/posix awk")
    parts = re.split(r"\n(\w[\w ]*):\n-+\n", text)
    intro = parts[0].split("mawk -- an implementation of new/posix awk", 1)[1]
    for para in paragraphs(intro.replace("-" * 79, "")):
        document.add_paragraph(para)
    for heading, body in zip(parts[1::2], parts[2::2]):
        document.add_heading(heading, level=2)
        if heading == "Portability":
            first, *platforms = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
            document.add_paragraph(" ".join(first.split()))
            for line in "\n".join(platforms).splitlines():
                if line.strip():
                    document.add_paragraph(line.strip(), style="List Bullet")
        elif heading == "Options":
            blocks = [b for b in re.split(r"\n\s*\n", body) if b.strip()]
            document.add_paragraph(" ".join(blocks[0].split()))
            for block in blocks[1:]:
                if re.match(r"\s*--", block):  # an option line: "--name    what it does"
                    option, _, gist = block.strip().partition("  ")
                    document.add_paragraph(f"{option.strip()}: {' '.join(gist.split())}")
                else:
                    document.add_paragraph(" ".join(block.split()))
        else:
            for para in paragraphs(body):
                document.add_paragraph(para)
    document.save(OUT / "mawk-readme.docx")


if __name__ == "__main__":
    base_passwd()
    mawk()
