"""`qa mcp`: the index as Model Context Protocol tools over stdio (the official SDK), for assistants and editors.

Tools: `ask` (the cited passages `/ask` answers, the same dict), `list_documents`, and `read_text`
(a span of a document's text, as `/documents/{doc}/text?start=&end=`). stdout carries the protocol:
everything qa says goes to stderr.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from ..errors import QAError
from ..search.retrieval import MAX_K, MODES, Retriever
from .texts import text_of

MAX_SPAN_CHARS = 100_000  # the most text one read_text call returns: a tool result lands in a model's context


def documents_of(store) -> list[dict]:
    """The documents a store holds: name and passage count, and kind and page count where recorded."""
    index = getattr(store, "index", None)
    if index is not None:
        files, records = index.manifest.get("files", []), index.documents
    else:  # a Qdrant collection keeps the corpus record in its manifest
        files, records = (getattr(store, "manifest", {}).get("corpus") or {}).get("files", []), {}
    out = []
    for record in files:
        if record.get("skipped") or not record.get("doc"):
            continue
        kept = records.get(record["doc"]) or {}
        out.append({"doc": record["doc"], "passages": record.get("passages"), "kind": kept.get("kind"),
                    "pages": len(kept["pages"]) if kept.get("pages") else None})
    return out


def mcp_server(retriever: Retriever):
    """The MCP server over `retriever` (run it with `.run("stdio")`)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("qa", log_level="WARNING", instructions="Search the user's documents: `ask` returns cited passages (doc, "
                       "section, page, character offsets); `read_text` reads around a passage by its offsets.")
    lock = threading.Lock()  # the tokenizer is not safe to share between threads (as in serve/app.py)

    def answering(call: Callable[[], dict]) -> dict[str, Any]:
        try:
            with lock:
                return call()
        except QAError as error:  # said to the model as the tool's error, not a crash of the server
            raise ToolError(error.message) from None

    @server.tool(structured_output=True, description=f"The k passages that best answer the question, best first, each with its citation "
                             f"(document, section, page, character offsets start-end) and score; 'answerable' is "
                             f"false when none answers it. k: 1-{MAX_K}; mode: {', '.join(MODES)} (default hybrid).")
    def ask(question: str, k: int = 5, mode: Optional[str] = None) -> dict[str, Any]:
        return answering(lambda: retriever.ask(question, k, mode).to_dict())

    @server.tool(structured_output=True, description="The documents in the index: name (as cited), passage count, kind and page count.")
    def list_documents() -> dict[str, Any]:
        return answering(lambda: {"documents": documents_of(retriever.store)})

    @server.tool(structured_output=True, description=f"A span of a document's text, text[start:end], in the characters a passage's start "
                             f"and end count (at most {MAX_SPAN_CHARS:,} characters a call; end defaults to start "
                             f"plus that).")
    def read_text(doc: str, start: int = 0, end: Optional[int] = None) -> dict[str, Any]:
        stop = start + MAX_SPAN_CHARS if end is None else min(end, start + MAX_SPAN_CHARS)

        def read() -> dict[str, Any]:
            text = text_of(retriever.store, doc, start, stop)
            return {"doc": doc, "start": start, "end": start + len(text), "text": text}

        return answering(read)

    return server
