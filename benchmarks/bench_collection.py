"""Read the Debian collection of issue #34 with qa's readers, beside pypdfium2's and pypdf's plain text of the same PDFs.

    python3 scripts/make_collection.py /work/collection        # once: the files (see eval/collection/README.md)
    PYTHONPATH=src python benchmarks/bench_collection.py /work/collection [--out results.json]

Per format (and per writer, the corpus's second folder level): files read, read on the plain path,
skipped (with the readers' reasons), pages and passages per second, and each reader's peak RSS.
Each (library, format) pair reads all its files in a subprocess of its own, so the peak is that
library's alone. qa's outcome per file comes from the warnings `qa.ingest.files.read_document`
gives (a document with no warning: read; a warning naming the plain path: plain; no document:
skipped, the warning's reason). qa's time is reading plus cutting into passages (`split_document`).

Text fidelity, where the true text is known (OUT/truth: the page Chromium printed to PDF or pandoc
made into Word, the Markdown pandoc made into Word): the share of the source's main-content words
found in order in the extracted text (difflib's matching blocks over the word sequences), and the
furniture words that got in: occurrences in the extracted text of words that the page has only
outside its main content (navigation, sidebars, headers, footers, "¶" links).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_formats import pypdf_text, pypdfium2_text  # noqa: E402  the same plain extraction as there
PDF_LIBRARIES = ["qa", "pypdfium2", "pypdf"]
GROUP_SECONDS = 1800  # a whole (library, format) group; a reader stuck past it is reported, not waited on
_WORD = re.compile(r"\w+")
# Where the true text of a generated file's source page is: its main content; the rest is furniture.
_MAIN = ["[role=main]", "div.fancy", "div.section", "main", "article", "body"]
_FURNITURE_INSIDE = "script, style, a.headerlink, div.header, div.nav-panel, div.fancy_toc, div.navfooter, div.navheader"


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- one library reading one file (in the child) ---------------------------------------------


def read_qa(path: Path, name: str) -> dict:
    from qa.ingest.files import read_document
    from qa.ingest.passages import split_document

    warnings: list[str] = []
    document = read_document(path, name, warnings.append)
    passages = split_document(document) if document is not None else []
    pages = len(document.pages) if document is not None and document.pages else 0
    return {"text": document.text if document is not None else "", "pages": pages, "passages": len(passages),
            "warnings": warnings, "read": document is not None}


def read_plain_pdf(extract):
    """A reader row from bench_formats' plain extraction (pypdfium2's text page by page, or pypdf's)."""
    def read(path: Path, name: str) -> dict:
        text, pages = extract(path)
        return {"text": text, "pages": pages, "read": True}
    return read


READERS = {"qa": read_qa, "pypdfium2": read_plain_pdf(pypdfium2_text), "pypdf": read_plain_pdf(pypdf_text)}


def child(library: str, corpus: Path, names: list[str], keep_text: set[str]) -> None:
    """Read `names` with `library`, one JSON line per file, then one with the peak RSS."""
    try:  # the first read pays the imports: once, untimed, so they do not count against one file
        READERS[library](corpus / names[0], names[0])
    except Exception:
        pass
    for name in names:
        start = time.perf_counter()
        try:
            row = READERS[library](corpus / name, name)
        except Exception as exc:  # a library's failure on a file is a result here, not a crash
            row = {"text": "", "pages": 0, "read": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
        row["seconds"] = time.perf_counter() - start
        row["name"] = name
        if name not in keep_text:
            row.pop("text")
        print(json.dumps(row), flush=True)
    print(json.dumps({"rss_mb": peak_rss_mb()}), flush=True)


def run_group(library: str, corpus: Path, names: list[str], keep_text: set[str]) -> tuple[list[dict], float | None]:
    job = json.dumps({"library": library, "corpus": str(corpus), "names": names, "keep": sorted(keep_text)})
    try:
        out = subprocess.run([sys.executable, __file__, "--child"], input=job, capture_output=True, text=True,
                             timeout=GROUP_SECONDS).stdout
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    rss = next((r["rss_mb"] for r in rows if "rss_mb" in r), None)
    files = [r for r in rows if "name" in r]
    done = {r["name"] for r in files}
    files += [{"name": n, "read": False, "pages": 0, "seconds": 0.0, "error": "not finished in the group's time"}
              for n in names if n not in done]
    return files, rss


# --- outcomes --------------------------------------------------------------------------------


def outcome(row: dict) -> tuple[str, str]:
    """("read" | "plain" | "skipped", reason) of one file, from what its reader said."""
    if not row.get("read"):
        said = row.get("error") or next((w for w in row.get("warnings", []) if w.startswith("skipped")), "no reason")
        return "skipped", re.sub(r"^skipped [^:]*: ", "", said)
    plain = [w for w in row.get("warnings", []) if "plain" in w.lower()]
    return ("plain", plain[0]) if plain else ("read", "")


# --- fidelity --------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def furniture_only_words(furniture_text: str, source_words: list[str]) -> set[str]:
    """Words the page has only outside its main content; numbers are left out (a page number, a
    section number and a figure in the text cannot be told apart by the word alone)."""
    return {w for w in words(furniture_text) if not w.isdigit()} - set(source_words)


def true_text(source: Path) -> tuple[str, str]:
    """(main content, furniture) of a source page, or (the Markdown's text, "") for Markdown."""
    raw = source.read_text(encoding="utf-8", errors="replace")
    if source.suffix == ".md":
        raw = re.sub(r"\]\([^)]*\)", "]", raw)  # a link's target is not text a reader shows
        return re.sub(r"<[^>]+>", " ", raw), ""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(raw)
    body = tree.body
    whole = body.text(separator=" ") if body is not None else ""
    main = next((node for node in map(tree.css_first, _MAIN) if node is not None), None)
    if main is None:
        return "", whole
    for node in main.css(_FURNITURE_INSIDE):
        node.decompose()
    main_text = main.text(separator=" ")
    main_words = Counter(words(main_text))
    # furniture: what the page shows beyond its main content, word by word
    rest = Counter(words(whole)) - main_words
    return main_text, " ".join(rest.elements())


def fidelity(source_words: list[str], furniture_only: set[str], extracted: str) -> tuple[float, int, Counter]:
    got = words(extracted)
    matcher = difflib.SequenceMatcher(None, source_words, got, autojunk=False)
    share = sum(b.size for b in matcher.get_matching_blocks()) / max(1, len(source_words))
    furniture = Counter(w for w in got if w in furniture_only)
    return share, sum(furniture.values()), furniture


# --- the report -------------------------------------------------------------------------------


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summarise(groups: dict, key) -> list[list]:
    """Rows (group, library, files, read, plain, skipped with reasons, pages, pages/s, passages/s, RSS)."""
    rows = []
    for (library, fmt), (files, rss) in sorted(groups.items(), key=lambda kv: (kv[0][1], PDF_LIBRARIES.index(kv[0][0]))):
        by = defaultdict(list)
        for row in files:
            by[key(row["name"])].append(row)
        for label, rows_of in sorted(by.items()):
            outcomes = [outcome(r) for r in rows_of]
            counts = Counter(o for o, _ in outcomes)
            reasons = Counter(re.sub(r"\d+", "N", why)[:60] for o, why in outcomes if o == "skipped")
            seconds = sum(r["seconds"] for r in rows_of)
            pages = sum(r.get("pages", 0) for r in rows_of)
            passages = sum(r.get("passages", 0) for r in rows_of)
            rows.append([label, library, len(rows_of), counts["read"], counts["plain"],
                         f"{counts['skipped']}" + (f" ({'; '.join(f'{n}× {w}' for w, n in reasons.items())})" if reasons else ""),
                         pages or "–", f"{pages / seconds:.1f}" if pages and seconds else "–",
                         f"{passages / seconds:.1f}" if library == "qa" and seconds else "–",
                         f"{seconds:.1f}", f"{rss:.0f}" if rss and key(rows_of[0]['name']) == fmt else "–"])
    return rows


def main() -> int:
    if sys.argv[1:] == ["--child"]:
        job = json.loads(sys.stdin.read())
        sys.path.insert(0, str(ROOT / "src"))
        child(job["library"], Path(job["corpus"]), job["names"], set(job["keep"]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", type=Path, nargs="?", default=Path("/work/collection"))
    parser.add_argument("--out", type=Path, help="write every file's figures here (JSON)")
    parser.add_argument("--readers", nargs="+", default=PDF_LIBRARIES, choices=PDF_LIBRARIES,
                        help="which readers to run (default: all three)")
    args = parser.parse_args()
    corpus, truth = args.collection / "corpus", args.collection / "truth"
    names = sorted(str(p.relative_to(corpus)) for p in corpus.rglob("*") if p.is_file())
    sources = {}  # corpus name -> its true-text source in truth/
    for source in sorted(truth.rglob("*")) if truth.is_dir() else []:
        rel = source.relative_to(truth)
        stem = rel.with_suffix(".pdf" if rel.parts[0] == "pdf" else ".docx")
        if (corpus / stem).is_file():
            sources[str(stem)] = source
    by_format = defaultdict(list)
    for name in names:
        by_format[Path(name).suffix.lstrip(".")].append(name)
    groups = {}
    for fmt, files in sorted(by_format.items()):
        for library in [r for r in (PDF_LIBRARIES if fmt == "pdf" else ["qa"]) if r in args.readers]:
            start = time.perf_counter()
            groups[(library, fmt)] = run_group(library, corpus, files, set(sources))
            print(f"{library} read {len(files)} .{fmt} files in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    header = ["format", "reader", "files", "read", "plain path", "skipped (reasons)", "pages", "pages/s",
              "passages/s", "seconds", "peak RSS MB"]
    print("## Per format\n\n" + table(header, summarise(groups, lambda n: Path(n).suffix.lstrip("."))))
    writer_groups = {k: v for k, v in groups.items() if k[0] == "qa" or k[1] == "pdf"}
    header[0] = "writer"
    print("\n## Per writer\n\n" + table(header, summarise(writer_groups, lambda n: "/".join(Path(n).parts[:2]))))
    # fidelity, per kind of generated file and library
    fid_rows, details = [], []
    for kind in sorted({"/".join(Path(n).parts[:2]) for n in sources}):
        members = [n for n in sources if n.startswith(kind + "/")]
        fmt = Path(members[0]).suffix.lstrip(".")
        for library in [r for r in (PDF_LIBRARIES if fmt == "pdf" else ["qa"]) if (r, fmt) in groups]:
            texts = {r["name"]: r.get("text", "") for r in groups[(library, fmt)][0] if r["name"] in members}
            shares, furniture_total, furniture_words, source_total = [], 0, Counter(), 0
            for name in members:
                main_text, furniture_text = true_text(sources[name])
                source_words = words(main_text)
                furniture_only = furniture_only_words(furniture_text, source_words)
                share, n_furniture, which = fidelity(source_words, furniture_only, texts.get(name, ""))
                shares.append(share)
                furniture_total += n_furniture
                furniture_words += which
                source_total += len(source_words)
                details.append({"name": name, "library": library, "in_order": round(share, 4), "furniture": n_furniture})
            fid_rows.append([kind, library, len(members), source_total, f"{statistics.median(shares):.3f}",
                             f"{min(shares):.3f}", furniture_total,
                             ", ".join(f"{w} {n}" for w, n in furniture_words.most_common(6)) or "–"])
    print("\n## Text fidelity (true text known)\n\n" + table(
        ["files", "reader", "n", "source words", "in order (median)", "in order (min)", "furniture words in",
         "most frequent furniture words"], fid_rows))
    if args.out:
        files = {f"{lib}:{row['name']}": {k: v for k, v in row.items() if k != "text"} | {"outcome": outcome(row)[0]}
                 for (lib, _), (rows, _) in groups.items() for row in rows}
        args.out.write_text(json.dumps({"files": files, "rss_mb": {f"{l}:{f}": r for (l, f), (_, r) in groups.items()},
                                        "fidelity": details}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
