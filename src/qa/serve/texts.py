"""A document's text streamed in pieces, whole or a span of it: a request holds at most a piece in memory.

`/documents/{doc}/text` used to read the whole text for each request: 8 concurrent reads of a 100 MB
text took the server from 329 to 1,553 MB. Offsets are characters (what a passage's start and end
count), so a span is found by decoding from the start of the file, a piece at a time.
"""

from __future__ import annotations

import hashlib
from typing import Iterator

from ..errors import QAError
from ..store.local.documents import text_file

PIECE_CHARS = 64 * 1024  # characters read, decoded and sent at a time


def text_pieces(store, doc: str, start: int = 0, end: int | None = None) -> Iterator[str]:
    """`doc`'s text[start:end] as an iterator of pieces; a QAError (404) before the first piece when the
    document is not in the index or its file changed since. A store without the local index's files
    (Qdrant: the text is kept in parts in its side collection) gives its text, then the span of it."""
    if start < 0:
        raise QAError(f"the span's start is a character offset, 0 or more, not {start}", status=422)
    end = None if end is None else max(end, start)  # as text[start:end] is: an end before the start is empty
    index = getattr(store, "index", None)
    if index is None:
        text = store.text(doc)[start:end]
        return iter([text[i:i + PIECE_CHARS] for i in range(0, len(text), PIECE_CHARS)])
    path, sha256 = text_file(index.path, index.manifest, index.documents, doc)
    try:
        handle = open(path, encoding="utf-8", newline="")
        if sha256:  # a corpus file: the one indexed, or a 404 (read twice, never held whole)
            with open(path, "rb") as raw:
                if hashlib.file_digest(raw, "sha256").hexdigest() != sha256:
                    handle.close()
                    raise OSError("changed since it was indexed")
    except OSError:
        raise QAError(f"{doc} is no longer in the corpus as it was indexed: run `qa index`", status=404) from None
    return _pieces(handle, start, end, skip_bom=sha256 is not None)


def _pieces(handle, start: int, end: int | None, skip_bom: bool) -> Iterator[str]:
    with handle:
        if skip_bom:
            first = handle.read(1)
            if first and first != "\ufeff":
                handle.seek(0)
        skipped = 0
        while skipped < start:
            piece = handle.read(min(PIECE_CHARS, start - skipped))
            if not piece:
                return
            skipped += len(piece)
        left = None if end is None else end - start
        while left is None or left > 0:
            piece = handle.read(PIECE_CHARS if left is None else min(PIECE_CHARS, left))
            if not piece:
                return
            if left is not None:
                left -= len(piece)
            yield piece


def text_of(store, doc: str, start: int = 0, end: int | None = None) -> str:
    """`doc`'s text[start:end] as one string (for callers that want a span, not a stream)."""
    return "".join(text_pieces(store, doc, start, end))
