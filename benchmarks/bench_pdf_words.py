"""Word fidelity of the PDF reader on the eval sets' PDFs (issue #12): glued and split words.

    PYTHONPATH=src python benchmarks/bench_pdf_words.py [--save DIR] [--baseline DIR] [--pdfium]

Man pages typeset by groff (eval/manuals, eval/holdout): the truth is groff's own text rendering of
the same page (`MANWIDTH=200 man --nh --nj -Tutf8 PAGE | col -b`, the page the make_corpus.sh
scripts name). Per document: the share of the reader's words (lower-cased alphabetic tokens of two
letters or more) that are in the truth's vocabulary, the glued tokens (not in it, but a split of them
is: "nofile") and the split pairs (two neighbours whose join is in it and one of which is not:
"gi ven"). The other PDFs (Chromium's Valgrind manual, eval/mixed's texinfo and DocBook PDFs) have no
such truth: the same counts are taken against the document's own vocabulary (words it writes twice
or more), and --baseline DIR (texts --save'd by another run, e.g. main's code) counts the words that
changed. --pdfium measures pypdfium2's own page text instead of qa's reader. Also prints each
document's read time (pages/s). --gaps instead counts, in pdfium's text of each PDF, the spaces pdfium
made up between two characters of a line that span a gap under 0.1 font size, and the font changes
without a space that span 0.15 font size or more (what a rule on gaps alone would change).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROFF = {  # file -> man page, as eval/*/make_corpus.sh make them
    "eval/manuals/corpus/tmux.pdf": "tmux", "eval/manuals/corpus/jq.pdf": "jq",
    "eval/manuals/corpus/lsof.pdf": "lsof", "eval/manuals/corpus/zip.pdf": "zip",
    "eval/holdout/corpus/ssh.pdf": "ssh", "eval/holdout/corpus/less.pdf": "less",
    "eval/holdout/corpus/find.pdf": "find", "eval/holdout/corpus/grep.pdf": "grep",
}
OTHER = ["eval/manuals/corpus/valgrind-core.pdf", "eval/mixed/corpus/libtasn1.pdf",
         "eval/mixed/corpus/shared-mime-info-spec.pdf"]
_TOKEN = re.compile(r"[^\W\d_]+")


def truth_text(page: str) -> str:
    env = dict(os.environ, MANWIDTH="200")
    out = subprocess.run(["man", "--nh", "--nj", "-Tutf8", page], env=env, capture_output=True, check=True).stdout
    return subprocess.run(["col", "-b"], input=out, capture_output=True, check=True).stdout.decode("utf-8")


def tokens(text: str) -> list[tuple[str, bool]]:
    """Lower-cased alphabetic tokens, each with whether only white space separates it from the next."""
    found = list(_TOKEN.finditer(text.lower()))
    return [(m.group(0), k + 1 < len(found) and not text[m.end():found[k + 1].start()].strip())
            for k, m in enumerate(found)]


def score(text: str, vocab) -> dict:
    toks = tokens(text)
    words = [t for t, _ in toks if len(t) >= 2]
    known = sum(w in vocab for w in words)
    glued = [t for t, _ in toks if len(t) >= 4 and t not in vocab
             and any(t[:i] in vocab and t[i:] in vocab for i in range(2, len(t) - 1))]
    split = [(a, b) for (a, near), (b, _) in zip(toks, toks[1:])
             if near and a + b in vocab and (a not in vocab or b not in vocab)]
    return {"words": len(words), "share": known / max(1, len(words)), "glued": glued, "split": split}


def read(path: Path, pdfium_only: bool) -> tuple[str, int, float]:
    import pypdfium2 as pdfium

    start = time.perf_counter()
    if pdfium_only:
        pdf = pdfium.PdfDocument(path)
        text = "\n".join(pdf.get_page(i).get_textpage().get_text_range() for i in range(len(pdf)))
        pages = len(pdf)
    else:
        from qa.ingest.pdf import read_pdf

        document = read_pdf(path, path.name, print)
        text, pages = document.text, len(document.pages)
    return text, pages, time.perf_counter() - start


def gaps(path: Path, show: int) -> None:
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    from qa.ingest.pdf_words import _gap, font

    pdf = pdfium.PdfDocument(path)
    made = small = changes = wide = 0
    shown = []
    for p in range(len(pdf)):
        textpage = pdf[p].get_textpage()
        text = textpage.get_text_range()
        for k in range(1, len(text) - 1):
            if text[k - 1].isspace() or text[k + 1].isspace() or (text[k].isspace() and text[k] != " "):
                continue
            i = raw.FPDFText_GetCharIndexFromTextIndex(textpage, k)
            if text[k] == " ":
                if i < 0 or not raw.FPDFText_IsGenerated(textpage, i):
                    continue
                gap, size = _gap(textpage, k - 1, k + 1)
                if gap is not None:
                    made += 1
                    small += gap < 0.1 * size
                    if gap < 0.1 * size and len(shown) < show:
                        shown.append(text[k - 12:k + 12])
                continue
            j = raw.FPDFText_GetCharIndexFromTextIndex(textpage, k + 1)
            if i >= 0 and j >= 0 and font(textpage, i) != font(textpage, j):
                gap, size = _gap(textpage, k, k + 1)
                if gap is not None:
                    changes += 1
                    wide += gap >= 0.15 * size
                    if gap >= 0.15 * size and len(shown) < show:
                        shown.append(text[k - 12:k + 12])
    print(f"{path.name:<28} made-up spaces {made:6}, gap < 0.1 em {small:3}; "
          f"font changes without a space {changes:5}, gap >= 0.15 em {wide:3}")
    for s in shown:
        print("    ", repr(s))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--save", type=Path, help="write each document's text here")
    parser.add_argument("--baseline", type=Path, help="count changed words against texts saved here")
    parser.add_argument("--pdfium", action="store_true", help="pypdfium2's page text instead of qa's reader")
    parser.add_argument("--show", type=int, default=0, help="print this many glued/split examples a document")
    parser.add_argument("--gaps", action="store_true", help="count what a rule on gaps alone would change")
    args = parser.parse_args()
    if args.gaps:
        for rel in list(GROFF) + OTHER:
            gaps(ROOT / rel, args.show)
        return
    totals = Counter()
    print(f"{'document':<34}{'words':>7}{'in truth':>9}{'glued':>7}{'split':>7}{'changed':>9}{'pages/s':>9}")
    for rel in list(GROFF) + OTHER:
        path = ROOT / rel
        text, pages, seconds = read(path, args.pdfium)
        if rel in GROFF:
            vocab = {t for t, _ in tokens(truth_text(GROFF[rel]))}
        else:  # the document's own vocabulary: the words it writes at least twice
            counts = Counter(t for t, _ in tokens(text))
            vocab = {t for t, n in counts.items() if n >= 2}
        s = score(text, vocab)
        changed = ""
        if args.baseline:
            old = [t for t, _ in tokens((args.baseline / (path.name + ".txt")).read_text(encoding="utf-8"))]
            new = [t for t, _ in tokens(text)]
            ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
            changed = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in ops if op != "equal")
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / (path.name + ".txt")).write_text(text, encoding="utf-8")
        share = f"{s['share']:.4f}" if rel in GROFF else "(self)"
        print(f"{rel:<34}{s['words']:>7}{share:>9}{len(s['glued']):>7}{len(s['split']):>7}{changed!s:>9}"
              f"{pages / seconds:>9.1f}")
        if args.show:
            print("    glued:", " ".join(s["glued"][:args.show]))
            print("    split:", " ".join(f"{a}|{b}" for a, b in s["split"][:args.show]))
        if rel in GROFF:
            totals["words"] += s["words"]
            totals["known"] += round(s["share"] * s["words"])
            totals["glued"] += len(s["glued"])
            totals["split"] += len(s["split"])
        totals["pages"] += pages
        totals["seconds"] += seconds
    print(f"groff man pages: {totals['known'] / totals['words']:.4f} of {totals['words']} words in the truth, "
          f"{totals['glued']} glued, {totals['split']} split; all: {totals['pages'] / totals['seconds']:.1f} pages/s")


if __name__ == "__main__":
    main()
