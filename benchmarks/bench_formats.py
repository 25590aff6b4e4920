"""Compare the format libraries on the same files in one run: speed, peak memory and what text each keeps.

    PYTHONPATH=src python benchmarks/bench_formats.py [--out DIR] [--seconds S]

Each library reads each file in its own subprocess (so ru_maxrss is that library's peak alone), as
often as fits in --seconds (at least once). Files: the generated test files of tests/ingest_files.py
(a manual, two columns, a 300-page report, web pages with furniture, one in windows-1252, a Word
file) and the real HTML/PDF documentation Debian installs under /usr/share/doc, where present.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

# Real documents Debian installs, with furniture each is known to have: a string, and "#N" after it
# where the text legitimately holds it N times (a running head that is also the title).
DEBIAN = {
    "/usr/share/doc/libtasn1-doc/libtasn1.pdf": ["Chapter 2: ASN.1 structure handling"],
    # the running head is also the title and is named twice in the text: 3 are content
    "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf": ["Shared MIME-info Database#3"],
    "/usr/share/doc/bzip2/manual.html": [],
    "/usr/share/doc/ninja-build/manual.html": [],
    "/usr/share/doc/python3/python-policy.html": [],
    "/usr/share/doc/libffi-dev/html/Closure-Example.html": ["Previous: The Closure API"],
    "/usr/share/doc/libjs-underscore/index.html": [],
    "/usr/share/doc/bc/bc.html": ["Previous: Introduction", "Previous: Top"],
}
LIBRARIES = {
    ".pdf": ["pypdfium2", "pypdf", "qa"],
    ".html": ["trafilatura", "selectolax", "qa"],
    ".docx": ["python-docx", "qa"],
}


# --- the candidates, each as plainly as its documentation shows -------------------------------


def pypdfium2_text(path: Path) -> tuple[str, int]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    parts = []
    for i in range(len(pdf)):
        page = pdf.get_page(i)
        textpage = page.get_textpage()
        parts.append(textpage.get_text_range())
        textpage.close()
        page.close()
    n = len(pdf)
    pdf.close()
    return "\n\n".join(parts), n


def pypdf_text(path: Path) -> tuple[str, int]:
    from pypdf import PdfReader

    reader = PdfReader(path)
    return "\n\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


def trafilatura_text(path: Path) -> tuple[str, int]:
    import trafilatura
    from lxml import etree

    xml = trafilatura.extract(path.read_bytes(), output_format="xml", include_tables=True, include_comments=False)
    if not xml:
        return "", 0
    main = etree.fromstring(xml.encode()).find("main")
    blocks = []
    for el in main:  # trafilatura's XML: head, p, list/item, table/row/cell, code, quote
        rows = el.findall("row") if el.tag == "table" else [el]
        cells = [[" ".join("".join(c.itertext()).split()) for c in (row.findall("cell") or [row])] for row in rows]
        blocks.append("\n".join(" | ".join(c) for c in cells))
    HEADINGS[0] = len(main.findall("head"))
    return "\n\n".join(b for b in blocks if b), 0


# Structural rules over the page's own markup: the furniture tags, and ids/classes/roles that name
# furniture; what is left, read block by block.
_DROP_TAGS = "script, style, noscript, template, svg, nav, aside, footer, form, button, iframe"
_FURNITURE_NAME = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|navigation|menu|breadcrumbs?|sidebar|footer|cookie|consent|banner|"
    r"pagination|pager|share|social|related|widget|advert|ads)(?:$|[-_\s])",
    re.I,
)
_BLOCKS = "h1, h2, h3, h4, h5, h6, p, li, pre, blockquote, tr, dt, dd"


HEADINGS = [None]  # headings the last extraction found, where the library tells


def selectolax_text(path: Path) -> tuple[str, int]:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(path.read_bytes())
    for node in tree.css(_DROP_TAGS):
        node.decompose()
    for node in tree.css("[class], [id], [role]"):
        names = " ".join(node.attributes.get(a) or "" for a in ("class", "id", "role"))
        if _FURNITURE_NAME.search(names) or names.strip() in ("contentinfo", "complementary"):
            node.decompose()
    root = tree.css_first("main") or tree.css_first("article") or tree.body
    if root is None:
        return "", 0
    parts, seen = [], set()
    for node in root.css(_BLOCKS):
        parent, nested = node.parent, False
        while parent is not None:
            nested = nested or parent.mem_id in seen
            parent = parent.parent
        seen.add(node.mem_id)
        if nested:
            continue
        if node.tag.startswith("h") and node.tag[1:].isdigit():
            HEADINGS[0] = (HEADINGS[0] or 0) + 1
        if node.tag == "tr":
            parts.append(" | ".join(c.text(strip=True) for c in node.css("td, th")))
        else:
            parts.append(" ".join(node.text(separator=" ").split()))
    return "\n\n".join(p for p in parts if p), 0


def python_docx_text(path: Path) -> tuple[str, int]:
    import docx

    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts += [" | ".join(c.text for c in row.cells) for row in table.rows]
    return "\n\n".join(parts), 0


def qa_text(path: Path) -> tuple[str, int]:
    from qa.ingest import reader

    doc = reader(path.suffix)(path, path.name, lambda message: None)
    if doc is None:
        return "", 0
    HEADINGS[0] = len(doc.sections)
    return doc.text, len(doc.pages or ())


EXTRACT = {
    "pypdfium2": pypdfium2_text,
    "pypdf": pypdf_text,
    "trafilatura": trafilatura_text,
    "selectolax": selectolax_text,
    "python-docx": python_docx_text,
    "qa": qa_text,
}


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from
    the parent through fork and exec, so a child would report the (larger) parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(library: str, path: Path, seconds: float, out: Path) -> None:
    extract = EXTRACT[library]
    runs, start = 0, time.perf_counter()
    while True:
        HEADINGS[0] = None
        text, pages = extract(path)
        runs += 1
        if time.perf_counter() - start >= seconds:
            break
    elapsed = (time.perf_counter() - start) / runs
    out.write_text(text, encoding="utf-8")
    rss = peak_rss_mb()
    print(json.dumps({"seconds": elapsed, "runs": runs, "pages": pages, "chars": len(text), "rss_mb": rss,
                      "headings": HEADINGS[0]}))


# --- the files and what they should and should not keep --------------------------------------


def generated(folder: Path) -> dict[Path, tuple[list[str], list[str]]]:
    """The generated files, each with (content that must survive, furniture that must not)."""
    import ingest_files as F

    pdf_furniture = [F.HEADER, F.FOOTER, "Page 2"]
    html_furniture = [F.COOKIE, "Sign in", F.SIDEBAR[0], F.COPYRIGHT, "Previous: Installing", "Contact us"]
    files = {
        F.write_manual_pdf(folder / "manual.pdf"): ([F.INTRO, F.GLOB, "example", "Python | 3.11 | required"], pdf_furniture),
        F.write_two_column_pdf(folder / "two-columns.pdf"): ([F.INTRO, F.INSTALL, F.GLOB], []),
        F.write_long_pdf(folder / "report-300-pages.pdf"): (["150. Chapter 150"], ["minutes of the Widget Board"]),
        F.write_html(folder / "docs.html", F.docs_page()): (
            [F.INTRO, F.GLOB, "interval | 5 s | how often the folders are scanned", "Precedence of patterns"],
            html_furniture,
        ),
        F.write_html(folder / "wordpress.html", F.wordpress_page()): (
            [F.JOURNAL, F.CRASH],
            [F.COMMENT, "Leave a Reply", "Recent Posts", "Previous Post", "Tagged", F.COPYRIGHT, "Skip to content"],
        ),
        F.write_html(folder / "blog-1252.html", F.blog_page("windows-1252"), "windows-1252"): (
            [F.JOURNAL, F.CRASH],
            [F.COOKIE, "About us", F.SIDEBAR[1], F.COPYRIGHT],
        ),
    }
    if hasattr(F, "write_docx"):
        files[F.write_docx(folder / "manual.docx")] = (
            [F.INTRO, F.GLOB, "Python | 3.11 | required"],
            [F.HEADER, F.FOOTER],
        )
    return files


def squash(text: str) -> str:
    return " ".join(text.split())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=None, help="folder for the files and extracted texts")
    parser.add_argument("--seconds", type=float, default=1.0, help="time each library spends on each file")
    parser.add_argument("--child", nargs=3, metavar=("LIBRARY", "FILE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.seconds, Path(args.child[2]))
        return
    folder = args.out or Path(tempfile.mkdtemp(prefix="bench-formats-"))
    folder.mkdir(parents=True, exist_ok=True)
    files = generated(folder)
    for name, furniture in DEBIAN.items():
        if Path(name).is_file():
            files[Path(name)] = ([], furniture)
    print(f"files in {folder}; each library {args.seconds:g} s a file, in its own process\n")
    print("| file | MB | library | pages | per run | pages/s | MB/s | peak RSS MB | chars | headings | lost | furniture kept |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    for path, (content, furniture) in files.items():
        size = path.stat().st_size / 1e6
        # Debian's files are named by their package too: two of them are "manual.html".
        label = path.name if path.parent == folder else f"{path.parent.name}/{path.name} (Debian)"
        for library in LIBRARIES[path.suffix]:
            out = folder / f"{label.split(' ')[0].replace('/', '-')}.{library}.txt"
            cmd = [sys.executable, __file__, "--seconds", str(args.seconds), "--child", library, str(path), str(out)]
            done = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if done.returncode:
                print(f"| {label} | {size:.2f} | {library} | failed: {done.stderr.strip().splitlines()[-1]} |")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            text = squash(out.read_text(encoding="utf-8"))
            lost = sum(squash(c) not in text for c in content)
            kept = []
            for marker in furniture:
                marker, _, allowed = marker.partition("#")
                n = text.count(squash(marker))
                if n > int(allowed or 0):
                    kept.append(f"{marker} ×{n}")
            pages = r["pages"] or ""
            rate = f"{r['pages'] / r['seconds']:.0f}" if r["pages"] else ""
            print(
                f"| {label} | {size:.2f} | {library} | {pages} | {r['seconds'] * 1000:.0f} ms | {rate} "
                f"| {size / r['seconds']:.1f} | {r['rss_mb']:.0f} | {r['chars']} | {'' if r['headings'] is None else r['headings']} "
                f"| {f'{lost}/{len(content)}' if content else ''} "
                f"| {', '.join(kept) or '-'} |"
            )


if __name__ == "__main__":
    main()
