"""The index's record of each document: its kind and page ranges, and the extracted text of PDF, HTML and Word files.

Offsets of a passage from an extracted document index its extracted text, so the index keeps that
text (`texts/NNNNNN.txt`, UTF-8) beside `documents.jsonl`; `qa text DOC` prints it, and
`text[start:end]` of every passage holds. A .txt or .md file's offsets index the file itself, which
is read from the corpus instead of being copied.
"""

from __future__ import annotations

import json
from pathlib import Path

from .documents import PLAIN_SUFFIXES, doc_name, find_files
from .errors import QAError
from .ingest.document import Document

DOCUMENTS = "documents.jsonl"
TEXTS = "texts"


def write_documents(folder: Path, documents: list[Document]) -> None:
    """`documents.jsonl` (doc, kind, pages, text file) and the extracted texts, into the index folder."""
    (folder / TEXTS).mkdir()
    with open(folder / DOCUMENTS, "w", encoding="utf-8") as out:
        for number, document in enumerate(documents):
            record = {"doc": document.path, "kind": document.kind,
                      "pages": [list(p) for p in document.pages] if document.pages is not None else None,
                      "text": None}
            if document.kind not in ("text", "markdown"):
                record["text"] = f"{TEXTS}/{number:06d}.txt"
                with open(folder / record["text"], "w", encoding="utf-8", newline="") as out_text:
                    out_text.write(document.text)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_records(folder: Path) -> dict[str, dict]:
    """Doc name → its record; empty for an index written before documents were recorded."""
    path = Path(folder) / DOCUMENTS
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    return {r["doc"]: {**r, "pages": [tuple(p) for p in r["pages"]] if r.get("pages") else None} for r in records}


def document_text(folder: Path, manifest: dict, records: dict[str, dict], doc: str) -> str:
    """The text `doc`'s offsets index: its extracted text, or for a .txt/.md file the file as read."""
    record = records.get(doc)
    if record is not None and record.get("text"):
        with open(Path(folder) / record["text"], encoding="utf-8", newline="") as handle:
            return handle.read()
    if record is None and not records and doc.lower().endswith(PLAIN_SUFFIXES):
        record = {"doc": doc}  # an index written before documents were recorded: plain files only
    if record is None:
        raise QAError(f"no document named {doc!r} in this index", status=404)
    try:
        files = {doc_name(root, f): f for root, f in find_files([Path(s) for s in manifest.get("sources", [])])}
        text = files[doc].read_bytes().decode("utf-8")
    except (QAError, KeyError, OSError, UnicodeDecodeError):
        raise QAError(f"{doc} is no longer in the corpus as it was indexed: run `qa index`", status=404) from None
    return text[1:] if text.startswith("\ufeff") else text
