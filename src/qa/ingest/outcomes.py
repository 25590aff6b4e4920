"""Each corpus file's outcome (read, read as plain text, skipped and why) and the one-line summary of a build."""

from __future__ import annotations

from collections import Counter

from .document import Document, Skip


def outcome(document: Document | None, skip: Skip | None = None) -> dict:
    """The outcome fields of a file's record: {"outcome": "read"}, or "plain" with what failed and the
    pages read so ("plain_pages": [] = the whole file), or "skipped" with the reason and its short form."""
    if document is None:
        reason, short = (skip.reason, skip.short) if skip is not None else ("cannot be read", "cannot be read")
        return {"outcome": "skipped", "reason": reason, "short": short}
    if document.plain:
        return {"outcome": "plain", "plain": document.plain, "plain_pages": list(document.plain_pages)}
    return {"outcome": "read"}


def kept_outcome(record: dict) -> dict:
    """The outcome fields of an earlier build's record (a file kept as it was); "read" where it has none."""
    return {k: record[k] for k in ("outcome", "plain", "plain_pages", "reason", "short") if k in record} \
        or {"outcome": "read"}


def summary(records: list[dict]) -> str:
    """"312 files: 309 read, 2 read as plain text (layout rules failed on 3 pages), 1 skipped (encrypted)"."""
    by = Counter(map(_kind, records))
    parts = [f"{by['read']} read"]
    if by["plain"]:
        plain = [r for r in records if _kind(r) == "plain"]
        pages = sum(len(r.get("plain_pages") or ()) for r in plain)
        wholes = sum(1 for r in plain if not r.get("plain_pages"))
        failed = [_count(pages, "page")] if pages else []
        failed += [_count(wholes, "whole file")] if wholes else []
        # "failed" only when they did: a page too deep or a read past its budget had them set aside
        verb = "failed" if all(r.get("plain", "").startswith("layout rules failed") for r in plain) else "set aside"
        parts.append(f"{by['plain']} read as plain text (layout rules {verb} on {' and '.join(failed)})")
    if by["skipped"]:
        shorts = Counter(r.get("short") or "cannot be read" for r in records if _kind(r) == "skipped")
        why = next(iter(shorts)) if len(shorts) == 1 else ", ".join(f"{n} {s}" for s, n in sorted(shorts.items(), key=lambda sn: (-sn[1], sn[0])))
        parts.append(f"{by['skipped']} skipped ({why})")
    return f"{_count(len(records), 'file')}: " + ", ".join(parts)


def _kind(record: dict) -> str:
    return record.get("outcome") or ("skipped" if record.get("skipped") else "read")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
