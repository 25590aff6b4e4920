"""Each document's outcome (read / plain / skipped) and a hash of its extracted text, sections and
pages under the qa on PYTHONPATH, as JSON; with --compare, the files whose extraction differs between
two such runs (a change to the readers must leave the text of files read by layout unchanged).

    PYTHONPATH=/tmp/base/src python benchmarks/bench_extraction_diff.py /tmp/before.json eval/*/corpus corpus
    PYTHONPATH=src python benchmarks/bench_extraction_diff.py /tmp/after.json eval/*/corpus corpus
    python benchmarks/bench_extraction_diff.py --compare /tmp/before.json /tmp/after.json
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

FIELDS = ("text", "sections", "pages", "warnings")


def snapshot(out: Path, roots: list[Path]) -> None:
    from qa.ingest.files import SUFFIXES, read_document

    records = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(
            p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
        for file in files:
            said: list[str] = []
            started = time.perf_counter()
            document = read_document(file, file.name, said.append)
            record = {"warnings": [str(s) for s in said], "seconds": time.perf_counter() - started}
            if document is None:
                record["outcome"] = "skipped"
            else:
                record.update(outcome="plain" if getattr(document, "plain", "") else "read",
                              text=hashlib.sha256(document.text.encode()).hexdigest(),
                              sections=repr(document.sections), pages=repr(document.pages))
            records[str(file)] = record
    out.write_text(json.dumps(records, indent=1))
    print(f"{len(records)} files: {dict(Counter(r['outcome'] for r in records.values()))}, "
          f"{sum(r['seconds'] for r in records.values()):.1f} s reading")


def compare(before: Path, after: Path) -> None:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    laid_out = [k for k in a if a[k]["outcome"] == "read" and k in b]
    differ = [k for k in laid_out if any(a[k].get(f) != b[k].get(f) for f in FIELDS)]
    print(f"before: {dict(Counter(r['outcome'] for r in a.values()))}; after: {dict(Counter(r['outcome'] for r in b.values()))}")
    print(f"{len(laid_out) - len(differ)} of {len(laid_out)} files read by layout before extract the same text, "
          f"sections, pages and warnings after")
    for name in differ:
        print("  differs:", name)


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        compare(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        snapshot(Path(sys.argv[1]), [Path(r) for r in sys.argv[2:]])
