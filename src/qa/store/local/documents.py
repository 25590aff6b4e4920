"""The index's record of each document: its kind and page ranges, and the extracted text of PDF, HTML and Word files.

Offsets of a passage from an extracted document index its extracted text, so the index keeps that
text (`texts/NNNNNN.txt`, UTF-8) beside `documents.jsonl`; `qa text DOC` prints it, and
`text[start:end]` of every passage holds. A .txt or .md file's offsets index the file itself, which
is read from the corpus instead of being copied.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ...ingest.files import PLAIN_SUFFIXES, doc_name, find_files
from ...errors import QAError
from ...ingest import readers_digest
from ...ingest.document import Document, Section

DOCUMENTS = "documents.jsonl"
TEXTS = "texts"


def write_documents(folder: Path, documents: list, previous: Path | None = None) -> None:
    """`documents.jsonl` (doc, kind, pages, text file) and the extracted texts, into the index folder.

    An entry is a Document, or the record of an unchanged document in the index at `previous`
    (its extracted text is linked from there: index files are never written in place)."""
    from ...embed.onnx_export import place_file

    (folder / TEXTS).mkdir()
    readers = readers_digest()
    with open(folder / DOCUMENTS, "w", encoding="utf-8") as out:
        for number, document in enumerate(documents):
            if isinstance(document, dict):
                record = {**document, "pages": [list(p) for p in document["pages"]] if document.get("pages") else None}
                if record.get("text"):
                    record["text"] = f"{TEXTS}/{number:06d}.txt"
                    place_file(Path(previous) / document["text"], folder / record["text"])
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                continue
            record = {"doc": document.path, "kind": document.kind, "sha256": document.sha256, "readers": readers,
                      "pages": [list(p) for p in document.pages] if document.pages is not None else None,
                      "sections": [[s.start, s.end, s.heading, s.level] for s in document.sections],
                      "code": [list(c) for c in document.code], "text": None}
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
    path, sha256 = text_file(folder, manifest, records, doc)
    if sha256 is None:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    try:
        data = path.read_bytes()
        if sha256 not in ("", hashlib.sha256(data).hexdigest()):
            raise ValueError("changed since it was indexed")
        text = data.decode("utf-8")
    except (OSError, ValueError):
        raise QAError(f"{doc} is no longer in the corpus as it was indexed: run `qa index`", status=404) from None
    return text[1:] if text.startswith("\ufeff") else text


def text_file(folder: Path, manifest: dict, records: dict[str, dict], doc: str) -> tuple[Path, str | None]:
    """The file holding `doc`'s text, and None for an extracted text, or for a corpus file (.txt/.md,
    read as UTF-8 less a BOM) the SHA-256 it had when indexed ("" when not recorded): a reader of the
    file checks it. A QAError (404) when the index has no such document or the file is gone."""
    record = records.get(doc)
    if record is not None and record.get("text"):
        return Path(folder) / record["text"], None
    if record is None and not records and doc.lower().endswith(PLAIN_SUFFIXES):
        record = {"doc": doc}  # an index written before documents were recorded: plain files only
    if record is None:
        raise QAError(f"no document named {doc!r} in this index", status=404)
    try:
        return _corpus_file(manifest, doc), record.get("sha256") or ""
    except (QAError, KeyError, OSError, ValueError):
        raise QAError(f"{doc} is no longer in the corpus as it was indexed: run `qa index`", status=404) from None


def _corpus_file(manifest: dict, doc: str) -> Path:
    """The corpus file cited as `doc`: looked up under each source directly (a request must not walk
    the whole corpus), else, for a name shown escaped, found by listing the sources."""
    sources = [Path(s) for s in manifest.get("sources", [])]
    for source in sources:
        file = source / doc if source.is_dir() else source
        if file.is_file() and doc_name(source if source.is_dir() else source.parent, file) == doc:
            return file
    return {doc_name(root, f): f for root, f in find_files(sources)}[doc]


def extracted_documents(folder: Path) -> dict[str, Document]:
    """The PDF, HTML and Word documents an index holds, rebuilt from its records (kind, pages,
    sections, extracted text), so a rebuild need not read an unchanged file again; {} when there
    are none or the records cannot be read. Only texts the readers of this qa extracted are taken."""
    try:
        records = read_records(folder)
        documents, readers = {}, readers_digest()
        for doc, record in records.items():
            if record.get("text") and record.get("sha256") and record.get("sections") is not None \
                    and record.get("readers") == readers:
                with open(Path(folder) / record["text"], encoding="utf-8", newline="") as handle:
                    text = handle.read()
                sections = tuple(Section(int(a), int(b), str(h), int(lv)) for a, b, h, lv in record["sections"])
                documents[doc] = Document(doc, text, record["sha256"], sections,
                                          tuple(record["pages"]) if record.get("pages") else None, record["kind"],
                                          code=tuple((int(a), int(b)) for a, b in record.get("code") or ()))
        return documents
    except (OSError, ValueError, KeyError, TypeError):
        return {}
