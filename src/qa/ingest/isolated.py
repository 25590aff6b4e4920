"""Reading a file in a forked child under a memory limit and a time budget: PDFium is C code that a
crafted file can make allocate gigabytes (a 0.8 MB stream to 3.5 GB) or spin, and neither can be
stopped from inside the process that runs it. The child sends the Document back as JSON (no pickle)."""

from __future__ import annotations

import faulthandler
import json
import os
import select
import signal
import time
from pathlib import Path
from typing import Callable

# (imported here, not in the child: a fork copies no other thread, so an import lock held by one
# at the fork would never be released in the child)
try:
    import resource
except ImportError:  # Windows
    resource = None

from .bounds import Changed
from .document import Document, Section, Skip, Warn

MEMORY = 1 << 30  # bytes of heap a child may take beyond what it was forked with
SECONDS = 120.0  # wall-clock budget of one file's read (pdf.LAYOUT_SECONDS turns the layout to plain text first)
PLAIN_SECONDS = 60.0  # ... and of its plain path, where the layout was stopped


def read_isolated(read: Callable[[Path, str, Warn], Document | None], path: Path, name: str, warn: Warn,
                  seconds: float = SECONDS, memory: int = MEMORY,
                  plain: Callable[[Path, str, Warn, str], Document | None] | None = None) -> Document | None:
    """`read(path, name, warn)` run in a child; where it dies (memory) or runs past its budget, the
    reader's `plain` path (given why) in a fresh child with its own budget, else one warning and None.
    Where fork is missing (Windows), run here, unbounded."""
    if not hasattr(os, "fork") or resource is None:
        return read(path, name, warn)
    status, out = _run_child(read, path, name, seconds, memory)
    if out is None and plain is not None:
        why = _stopped(status, seconds, memory)[0]
        status, out = _run_child(lambda p, n, w: plain(p, n, w, f"the layout {why}"), path, name, PLAIN_SECONDS, memory)
        seconds = PLAIN_SECONDS
    if out is not None:
        if out.get("changed"):
            raise Changed()
        for said in out["warnings"]:
            warn(Skip(*said["skip"]) if "skip" in said else said["text"])
        return _document(out["document"]) if out["document"] is not None else None
    warn(Skip(name, *_stopped(status, seconds, memory)))
    return None


def _stopped(status: str, seconds: float, memory: int) -> tuple[str, str]:
    """Why a child sent nothing, and the short form a summary counts."""
    if status == "time":
        return f"took over its time budget ({seconds:.0f} s) and was stopped", "time budget"
    if status == "memory":
        return f"needed over {memory >> 20:,} MB of memory to read and was stopped", "memory"
    return f"the reader process died ({status}) on it", "reader died"


def _run_child(read, path: Path, name: str, seconds: float, memory: int) -> tuple[str, dict | None]:
    """("ok", what the child sent), or (why it sent nothing: "time", "memory", "signal N", None)."""
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code = 0
        try:
            os.close(readable)
            faulthandler.disable()  # a reader stopped at the memory limit is said once, by the parent
            _limit_memory(memory)
            said: list = []
            try:
                document = read(path, name, said.append)
                out = {"document": None if document is None else _fields(document),
                       "warnings": [{"skip": [name, m.reason, m.short]} if isinstance(m, Skip) else {"text": str(m)}
                                    for m in said]}
            except Changed:
                out = {"changed": True}
            data = json.dumps(out).encode()
            with os.fdopen(writable, "wb") as pipe:
                pipe.write(data)
        except MemoryError:
            code = 3
        except BaseException:
            code = 4
        finally:
            os._exit(code)
    os.close(writable)
    chunks, deadline, timed_out = [], time.monotonic() + seconds, False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            if select.select([readable], [], [], left)[0]:
                chunk = os.read(readable, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(readable)
        _, status = os.waitpid(pid, 0)
    if timed_out:
        return "time", None
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return "ok", json.loads(b"".join(chunks))
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3:
        return "memory", None
    if os.WIFSIGNALED(status):
        # PDFium aborts (SIGTRAP, SIGABRT, SIGSEGV) when an allocation fails under the limit
        return "memory" if os.WTERMSIG(status) in (signal.SIGTRAP, signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS) \
            else f"signal {os.WTERMSIG(status)}", None
    return f"exit status {os.WEXITSTATUS(status)}", None


def _limit_memory(memory: int) -> None:
    """Cap the child's heap (RLIMIT_DATA: private writable mappings, so address space only reserved
    is not counted) at what it holds now plus `memory`."""
    try:
        with open("/proc/self/status") as status:
            held = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmData:"))
    except (OSError, StopIteration, ValueError):
        return  # not Linux: only the time budget holds
    limit = held + memory
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _fields(document: Document) -> dict:
    return {"path": document.path, "text": document.text, "sha256": document.sha256,
            "sections": [[s.start, s.end, s.heading, s.level] for s in document.sections],
            "pages": None if document.pages is None else [list(p) for p in document.pages], "kind": document.kind,
            "code": [list(c) for c in document.code], "plain": document.plain, "plain_pages": list(document.plain_pages),
            "read_stat": None if document.read_stat is None else list(document.read_stat)}


def _document(fields: dict) -> Document:
    return Document(fields["path"], fields["text"], fields["sha256"],
                    tuple(Section(*s) for s in fields["sections"]),
                    None if fields["pages"] is None else tuple(tuple(p) for p in fields["pages"]),
                    fields["kind"], code=tuple(tuple(c) for c in fields["code"]), plain=fields["plain"],
                    plain_pages=tuple(fields["plain_pages"]),
                    read_stat=None if fields["read_stat"] is None else tuple(fields["read_stat"]))
