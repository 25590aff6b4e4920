"""Whether a loaded index can serve: the probe questions, an error as one line, and the stamp of one build."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi.responses import JSONResponse

from ..errors import QAError
from ..search.retrieval import MAX_K, MODES, Retriever
from ..store.local.index import MANIFEST

log = logging.getLogger("qa.api")


# One question of each kind the retriever answers differently (a role, a year, a number), asked in
# every mode: an index can load (its files intact, as a faulty build wrote them) and still break in
# one mode only, or only when the answer is sent (a NaN score is not JSON).
PROBE_QUESTIONS = ["who leads the talks?", "when did the talks start?", "how many countries take part?"]


def _probe(retriever: Retriever) -> str | None:
    """Why `retriever` cannot answer /ask, or None when it answers the probe questions in every mode."""
    try:
        for mode in MODES:
            for answer in retriever.search(PROBE_QUESTIONS, MAX_K, mode):
                JSONResponse(answer.to_dict(timing=True))  # rendered as /ask renders it
    except Exception as error:  # noqa: BLE001 - any failure means the index cannot serve
        log.warning("the index fails a probe question", exc_info=True)
        return _reason(error)
    return None


def _reason(error: Exception) -> str:
    """An exception as one line for a warning or /health: a QAError's message, else its type and text."""
    if isinstance(error, QAError):
        return error.message
    text = f"{type(error).__name__}: {error}".splitlines()[0]
    return text if len(text) <= 160 else text[:157] + "..."


def _stamp(index_dir: Path | None) -> tuple[int, int] | None:
    """What tells one build of the index at `index_dir` from the next: its manifest's inode and mtime."""
    try:
        info = (Path(index_dir) / MANIFEST).stat() if index_dir is not None else None
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns) if info else None
