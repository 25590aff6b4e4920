"""Assemble the Debian documentation collection of issue #34 (files stay outside the repo), then verify it.

Usage (as root, on Debian 12 with the tools below installed):
    apt-get update && apt-get install -y --no-install-recommends pandoc chromium groff poppler-utils
    python3 scripts/make_collection.py /work/collection          # build, then check eval/collection/SHA256SUMS
    python3 scripts/make_collection.py /work/collection --write-sums   # (re)write the checksum list

Writes OUT/corpus/ (the files to index, by format, writer and package) and OUT/truth/ (for the files whose
true text is known: the source HTML of a page Chromium printed to PDF or pandoc made into Word, the
Markdown of a Word file pandoc made from Markdown). Packages are fetched at the pinned versions below with
`apt-get download` and unpacked with `dpkg-deb -x`; files are chosen by sorted glob, evenly spread, so the
same versions give the same files. Generated files (groff, pandoc, Chromium) are made reproducible with
SOURCE_DATE_EPOCH, and the few bytes Chromium's PDF writer makes from the clock (dates, /ID) are blanked.
Never uses r-doc-pdf, postgresql-doc-*, texlive-latex-recommended-doc or octave-doc (held out in #34).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUMS = REPO / "eval" / "collection" / "SHA256SUMS"
EPOCH = "1700000000"
WORK = "/tmp/qa-make-collection"  # 2023-11-14: fixed dates for every generated file

# Debian 12 (bookworm) versions, pinned: `apt-get download PKG=VERSION`.
PACKAGES = {
    "asymptote-doc": "2.85+ds-1", "autoconf-doc": "2.71-3", "bash-doc": "5.2.15-2",
    "debian-handbook": "11.20220922", "debian-policy": "4.6.2.0", "debian-reference-en": "2.100",
    "developers-reference": "12.18", "diffutils-doc": "1:3.8-4", "doxygen-doc": "1.9.4-4",
    "flex-doc": "2.6.4-8.2", "ghostscript-doc": "10.0.0~dfsg-11+deb12u9", "git-doc": "1:2.39.5-0+deb12u3",
    "gnuplot-doc": "5.4.4+dfsg1-2", "libcurl4-doc": "7.88.1-10+deb12u15", "libeigen3-doc": "3.4.0-4",
    "libglib2.0-doc": "2.74.6-2+deb12u9", "libsdl2-doc": "2.26.5+dfsg-1", "libssh-doc": "0.10.6-0+deb12u3",
    "libxml2-doc": "2.9.14+dfsg-1.3~deb12u6", "m4-doc": "1.4.19-3", "maint-guide": "1.2.53",
    "maxima-doc": "5.46.0-11", "python3.11-doc": "3.11.2-6+deb12u9", "sphinx-doc": "5.3.0-4",
    "sqlite3-doc": "3.40.1-2+deb12u2", "tcl8.6-doc": "8.6.13+dfsg-2", "zsh-doc": "5.9-4",
}
HELD_OUT = re.compile(r"^(r-doc-pdf|postgresql-doc.*|texlive-latex-recommended-doc|octave-doc)$")

# (format/writer folder, package, glob under the unpacked package, how many, excluded names regex)
_NAV = r"(genindex|search|py-modindex|index|contents|copyright|bugs|about|license|download)\.html$"
_DOXY = r"(_source|globals|functions|namespacemembers|dir_|files|annotated|classes|hierarchy|inherits|graph_legend|deprecated|todo|pages|modules)[^/]*\.html$"
_TEXI = r"(index|Index|Concept-Index|Function-Index|Variable-Index|Option-Index|Indices|Macro-Index)[^/]*\.html$"
SELECT = [
    # native PDFs, by the writer that made them
    ("pdf/latex", "gnuplot-doc", "usr/share/doc/gnuplot/gnuplot.pdf", 1, None),
    ("pdf/latex", "asymptote-doc", "usr/share/doc/asymptote/*.pdf", 4, r"^asymptote\.pdf$"),
    ("pdf/latex", "maxima-doc", "usr/share/doc/maxima-doc/maximabook-*.pdf.gz", 1, None),
    ("pdf/sphinx-latex", "debian-policy", "usr/share/doc/debian-policy/policy.pdf.gz", 1, None),
    ("pdf/sphinx-latex", "developers-reference", "usr/share/developers-reference/developers-reference.pdf", 1, None),
    ("pdf/docbook", "debian-policy", "usr/share/doc/debian-policy/fhs/fhs-3.0.pdf.gz", 1, None),
    ("pdf/docbook", "debian-reference-en", "usr/share/debian-reference/debian-reference.en.pdf", 1, None),
    ("pdf/docbook", "maint-guide", "usr/share/doc/maint-guide/maint-guide.en.pdf", 1, None),
    ("pdf/doxygen-latex", "doxygen-doc", "usr/share/doc/doxygen/doxygen_manual.pdf", 1, None),
    ("pdf/texinfo", "asymptote-doc", "usr/share/doc/asymptote/asymptote.pdf", 1, None),
    ("pdf/texinfo", "autoconf-doc", "usr/share/doc/autoconf/autoconf.pdf.gz", 1, None),
    ("pdf/texinfo", "bash-doc", "usr/share/doc/bash/bashref.pdf", 1, None),
    ("pdf/texinfo", "flex-doc", "usr/share/doc/flex-doc/flex.pdf.gz", 1, None),
    ("pdf/texinfo", "zsh-doc", "usr/share/doc/zsh-common/zsh.pdf", 1, None),
    ("pdf/groff", "bash-doc", "usr/share/doc/bash/bash.pdf", 1, None),
    ("pdf/illustrator", "ghostscript-doc", "usr/share/doc/ghostscript/GS9_Color_Management.pdf", 1, None),
    # web pages, by the writer that made them
    ("html/sphinx", "python3.11-doc", "usr/share/doc/python3.11/html/library/*.html", 40, _NAV),
    ("html/sphinx", "python3.11-doc", "usr/share/doc/python3.11/html/tutorial/*.html", 14, _NAV),
    ("html/sphinx", "python3.11-doc", "usr/share/doc/python3.11/html/howto/*.html", 8, _NAV),
    ("html/sphinx", "python3.11-doc", "usr/share/doc/python3.11/html/faq/*.html", 5, _NAV),
    ("html/sphinx", "sphinx-doc", "usr/share/doc/sphinx-doc/html/usage/**/*.html", 12, _NAV),
    ("html/sphinx", "debian-policy", "usr/share/doc/debian-policy/policy.html/*.html", 8, _NAV),
    ("html/sphinx", "developers-reference", "usr/share/developers-reference/*.html", 8, _NAV),
    ("html/docbook", "debian-handbook", "usr/share/doc/debian-handbook/html/en-US/*.html", 24, _NAV),
    ("html/docbook", "debian-reference-en", "usr/share/debian-reference/*.en.html", 10, _NAV),
    ("html/docbook", "maint-guide", "usr/share/doc/maint-guide/html/*.en.html", 8, _NAV),
    ("html/gtk-doc", "libglib2.0-doc", "usr/share/gtk-doc/html/glib/glib-*.html", 16, _NAV),
    ("html/asciidoc", "git-doc", "usr/share/doc/git-doc/git-*.html", 20, _NAV),
    ("html/libxml2", "libxml2-doc", "usr/share/doc/libxml2-doc/html/*.html", 8, _NAV),
    ("html/doxygen", "doxygen-doc", "usr/share/doc/doxygen/html/*.html", 12, _DOXY + "|" + _NAV),
    ("html/doxygen", "libeigen3-doc", "usr/share/doc/libeigen3-dev/html/*.html", 16, _DOXY + "|" + _NAV + r"|^class|^struct|^namespace"),
    ("html/doxygen", "libsdl2-doc", "usr/share/doc/libsdl2-doc/html/**/*.html", 10, _DOXY + "|" + _NAV),
    ("html/doxygen", "libssh-doc", "usr/share/doc/libssh-dev/html/*.html", 10, _DOXY + "|" + _NAV + r"|^struct"),
    ("html/texinfo", "flex-doc", "usr/share/doc/flex-doc/html/*.html", 14, _TEXI),
    ("html/texinfo", "m4-doc", "usr/share/doc/m4/*.html", 12, _TEXI),
    ("html/texinfo", "diffutils-doc", "usr/share/doc/diffutils/*.html", 12, _TEXI),
    ("html/texinfo", "zsh-doc", "usr/share/doc/zsh-common/html/*.html", 10, _TEXI),
    ("html/texinfo", "maxima-doc", "usr/share/doc/maxima-doc/html/*.html", 10, _TEXI),
    ("html/texinfo", "asymptote-doc", "usr/share/doc/asymptote/html/*.html", 10, _TEXI),
    ("html/doc2html", "gnuplot-doc", "usr/share/doc/gnuplot/htmldocs/*.html", 8, _NAV),
    ("html/handwritten", "sqlite3-doc", "usr/share/doc/sqlite3/*.html", 16, _NAV),
    ("html/handwritten", "ghostscript-doc", "usr/share/doc/ghostscript/html/*.html", 8, _NAV),
    # plain text and Markdown as shipped
    ("txt/sphinx-text", "debian-policy", "usr/share/doc/debian-policy/*.txt.gz", 4, r"policy\.txt"),
    ("txt/asciidoc-source", "git-doc", "usr/share/doc/git-doc/[A-Z]*.txt", 3, None),
    ("md/markdown", "libcurl4-doc", "usr/share/doc/libcurl4/*.md", 8, None),
]
# Generated: man pages set by groff (PDF and HTML), web pages printed to PDF by Chromium, Word files
# made by pandoc from Markdown (true text: the Markdown) and from web pages (true text: the page).
GROFF_PDF = ("tcl8.6-doc", "usr/share/man/man3/[a-z]*.3tcl.gz", 10)
GROFF_HTML = ("libcurl4-doc", "usr/share/man/man3/curl_easy_*.3.gz", 8)
CHROMIUM = [("python3.11-doc", "usr/share/doc/python3.11/html/library/*.html", 5, _NAV),
            ("m4-doc", "usr/share/doc/m4/*.html", 3, _TEXI),
            ("debian-handbook", "usr/share/doc/debian-handbook/html/en-US/sect.*.html", 4, _NAV),
            ("sqlite3-doc", "usr/share/doc/sqlite3/*.html", 3, _NAV)]
PANDOC_MD = ("libcurl4-doc", "usr/share/doc/libcurl4/*.md", 14)
PANDOC_HTML = [("python3.11-doc", "usr/share/doc/python3.11/html/howto/*.html", 4, _NAV),
               ("sphinx-doc", "usr/share/doc/sphinx-doc/html/**/*.html", 3, _NAV),
               ("diffutils-doc", "usr/share/doc/diffutils/*.html", 3, _TEXI),
               ("debian-handbook", "usr/share/doc/debian-handbook/html/en-US/sect.*.html", 3, _NAV)]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "TZ": "UTC", "LC_ALL": "C.UTF-8"}
    return subprocess.run(cmd, check=True, env=env, **kw)


def spread(paths: list[Path], n: int) -> list[Path]:
    """n paths evenly spaced through the sorted list (all of them when there are fewer)."""
    if len(paths) <= n:
        return paths
    return [paths[(i * len(paths)) // n] for i in range(n)]


def matches(root: Path, pattern: str, n: int, exclude: str | None, taken: set[Path]) -> list[Path]:
    found = sorted(p for p in root.glob(pattern) if p.is_file() and not p.is_symlink() and p not in taken
                   and not (exclude and re.search(exclude, p.name)))
    chosen = spread(found, n)
    taken.update(chosen)
    return chosen


def target(corpus: Path, folder: str, package: str, name: str) -> Path:
    out = corpus / folder / package / name
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        raise SystemExit(f"two files would be {out}")
    return out


def copy(src: Path, out: Path) -> None:
    """Copy, decompressing .gz (the name loses its .gz)."""
    if src.suffix == ".gz":
        with gzip.open(src, "rb") as fin, open(out, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    else:
        shutil.copyfile(src, out)


def unique_name(src: Path, root: Path) -> str:
    """A flat file name from the path below the package's doc folder (subfolders joined by '_')."""
    name = src.name[:-3] if src.suffix == ".gz" else src.name
    parent = src.parent.name
    return name if parent in {"html", "library", "howto", "tutorial", "faq", "en-US"} else f"{parent}_{name}"


def unpack(work: Path) -> dict[str, Path]:
    for name in PACKAGES:
        assert not HELD_OUT.match(name), name
    debs = work / "debs"
    debs.mkdir()
    run(["apt-get", "download", *[f"{p}={v}" for p, v in PACKAGES.items()]], cwd=debs, stdout=subprocess.DEVNULL)
    roots = {}
    for deb in sorted(debs.glob("*.deb")):
        package = deb.name.split("_")[0]
        roots[package] = work / "x" / package
        roots[package].mkdir(parents=True)
        run(["dpkg-deb", "-x", str(deb), str(roots[package])])
    return roots


def blank_clock(pdf: Path) -> None:
    """Blank, at the same length, the dates and /ID that Chromium's PDF writer takes from the clock."""
    data = pdf.read_bytes()
    data = re.sub(rb"\(D:[0-9+\-Z' ]+\)", lambda m: b"(D:" + b"0" * (len(m.group()) - 4) + b")", data)
    data = re.sub(rb"/ID \[<[0-9A-Fa-f]+> <[0-9A-Fa-f]+>\]", lambda m: re.sub(rb"[0-9A-Fa-f]", b"0", m.group()), data)
    pdf.write_bytes(data)


def generated(roots: dict[str, Path], corpus: Path, truth: Path, taken: set[Path]) -> None:
    package, pattern, n = GROFF_PDF
    for src in matches(roots[package], pattern, n, None, taken):
        out = target(corpus, "pdf/groff", package, src.name[:-3] + ".pdf")
        with open(out, "wb") as fout:  # groff reads no gzip: the page goes in on stdin
            run(["groff", "-man", "-Tpdf", "-P-pa4"], input=gzip.decompress(src.read_bytes()), stdout=fout,
                stderr=subprocess.DEVNULL)
    package, pattern, n = GROFF_HTML
    for src in matches(roots[package], pattern, n, None, taken):
        out = target(corpus, "html/groff", package, src.name[:-3] + ".html")
        html = run(["groff", "-man", "-Thtml"], input=gzip.decompress(src.read_bytes()), capture_output=True).stdout
        out.write_bytes(re.sub(rb"<!-- CreationDate: [^>]*-->\n?", b"", html))
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        for package, pattern, n, exclude in CHROMIUM:
            for src in matches(roots[package], pattern, n, exclude, taken):
                name = unique_name(src, roots[package])
                out = target(corpus, "pdf/chromium", package, name[:-5] + ".pdf")
                run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                     "--no-pdf-header-footer", f"--print-to-pdf={out}", src.as_uri()],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                blank_clock(out)
                shutil.copyfile(src, target(truth, "pdf/chromium", package, name))
    package, pattern, n = PANDOC_MD
    for src in matches(roots[package], pattern, n, None, taken):
        out = target(corpus, "docx/pandoc-markdown", package, src.stem + ".docx")
        run(["pandoc", "-f", "gfm", "-t", "docx", "-o", str(out), str(src)])
        shutil.copyfile(src, target(truth, "docx/pandoc-markdown", package, src.name))
    for package, pattern, n, exclude in PANDOC_HTML:
        for src in matches(roots[package], pattern, n, exclude, taken):
            name = unique_name(src, roots[package])
            out = target(corpus, "docx/pandoc-html", package, name[:-5] + ".docx")
            run(["pandoc", "-f", "html", "-t", "docx", "-o", str(out), str(src)], cwd=src.parent)
            shutil.copyfile(src, target(truth, "docx/pandoc-html", package, name))


def sums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="collection folder (corpus/ and truth/ are made in it)")
    parser.add_argument("--write-sums", action="store_true", help=f"write {SUMS.relative_to(REPO)}")
    args = parser.parse_args()
    corpus, truth = args.out / "corpus", args.out / "truth"
    for folder in (corpus, truth):
        if folder.exists():
            raise SystemExit(f"{folder} exists: remove it first (this script only writes new folders)")
    # a fixed work folder: Chromium writes the page's file:// address into the PDF's links
    work = Path(WORK)
    if work.exists():
        raise SystemExit(f"{work} exists: another build running? remove it first")
    work.mkdir()
    try:
        roots = unpack(work)
        taken: set[Path] = set()
        for folder, package, pattern, n, exclude in SELECT:
            for src in matches(roots[package], pattern, n, exclude, taken):
                copy(src, target(corpus, folder, package, unique_name(src, roots[package])))
        generated(roots, corpus, truth, taken)
    finally:
        shutil.rmtree(work)
    listed = {f"corpus/{k}": v for k, v in sums(corpus).items()} | {f"truth/{k}": v for k, v in sums(truth).items()}
    versions = {p: v for p, v in PACKAGES.items()}
    tools = run(["dpkg-query", "-W", "pandoc", "chromium", "groff", "groff-base", "fonts-dejavu-core"],
                capture_output=True, text=True).stdout.split("\n")
    (args.out / "versions.json").write_text(json.dumps({"packages": versions, "tools": [t for t in tools if t]}, indent=1))
    if args.write_sums:
        SUMS.write_text("".join(f"{h}  {p}\n" for p, h in listed.items()))
        print(f"wrote {len(listed)} checksums to {SUMS}")
    expected = dict(reversed(line.split("  ", 1)) for line in SUMS.read_text().splitlines() if line)
    wrong = sorted(p for p in expected.keys() | listed.keys() if expected.get(p) != listed.get(p))
    print(f"{len(listed)} files in {args.out}: {len(listed) - len(wrong)} match {SUMS.name}, {len(wrong)} differ")
    for p in wrong[:20]:
        print(f"  differs: {p} (expected {expected.get(p, 'absent')[:12]}, got {listed.get(p, 'absent')[:12]})")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
