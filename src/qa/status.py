"""`qa status`: which index, how it was found, its corpus and counts, whether it is current, its disk."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from .errors import QAError
from .locate import Found

KINDS = {"pdf": "PDF", "html": "HTML", "docx": "Word", "text": "text", "markdown": "Markdown"}


def index_status(found: Found, model: str) -> dict:
    """What `qa status` reports about the index at `found` (built with `model` to be current), or a
    QAError saying there is none and how to make one."""
    from .store.local.index import index_exists, load_index, stale_reason

    if not index_exists(found.path):
        raise QAError(f"no index at {found.path} ({found.how}): run `qa index FOLDER` to make FOLDER/.qa, "
                      f"or give --index-dir DIR or --name NAME")
    index = load_index(found.path)
    manifest = index.manifest
    files = [f for f in manifest.get("files", []) if not f.get("skipped")]
    kinds = Counter(KINDS.get(r.get("kind"), r.get("kind")) for r in index.documents.values())
    pages = sum(len(r["pages"]) for r in index.documents.values() if r.get("kind") == "pdf" and r.get("pages"))
    disk, shared = _disk(found.path)
    return {"index": str(found.path), "found": found.how, "corpus": manifest.get("sources", []),
            "documents": len(files), "kinds": dict(sorted(kinds.items())), "skipped": len(manifest.get("files", [])) - len(files),
            "passages": manifest["passage_count"], "pdf_pages": pages, "model": manifest.get("model"),
            "built_at": manifest.get("built_at"), "stale": stale_reason(manifest, model),
            "disk_bytes": disk, "shared_bytes": shared}


def render_status(status: dict) -> str:
    """The status as lines a person reads."""
    kinds = ", ".join(f"{n} {kind}" for kind, n in status["kinds"].items())
    skipped = f", {status['skipped']} skipped" if status["skipped"] else ""
    pages = f" ({status['pdf_pages']:,} PDF pages)" if status["pdf_pages"] else ""
    state = "current" if status["stale"] is None else f"stale: {status['stale']} (qa ask rebuilds it, or run qa index)"
    shared = f", and {_size(status['shared_bytes'])} shared with qa's cache (the model)" if status["shared_bytes"] else ""
    return "\n".join([
        f"Index:     {status['index']} ({status['found']})",
        f"Corpus:    {', '.join(status['corpus']) or '(none recorded)'}",
        f"Documents: {status['documents']:,} ({kinds}){skipped}",
        f"Passages:  {status['passages']:,}{pages}",
        f"Built:     {status['built_at']} with {status['model']}: {state}",
        f"Disk:      {_size(status['disk_bytes'])}{shared}",
    ]) + "\n"


def _disk(folder: Path) -> tuple[int, int]:
    """Bytes of the files under `folder` (its delta's included), and of those hard-linked elsewhere too
    (the ONNX model, one export per model in qa's cache), counted apart: they cost no disk of their own."""
    own = shared = 0
    for root, _, names in os.walk(folder):
        for name in names:
            stat = os.lstat(os.path.join(root, name))
            if name.endswith(".onnx") and stat.st_nlink > 1:
                shared += stat.st_size
            else:
                own += stat.st_size
    return own, shared


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
