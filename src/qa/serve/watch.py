"""`--watch`: the index follows its corpus folder, rebuilt (the incremental path) when files change.

File events come from watchfiles (inotify on Linux, polling elsewhere), grouped by its debounce: a
burst of saves or a copied folder is one rebuild. A rebuild reuses what the index holds (unchanged
documents are not read again, unchanged texts keep their vectors) and swaps the new index in whole,
so `qa serve` picks it up at its next manifest check. A file that vanishes or changes while it is read
fails only that rebuild: the events it caused bring the next one.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

Warn = Callable[[str], None]
DEBOUNCE_MS = 1000  # events closer together than this are one change (watchfiles waits for a quiet spell)
RETRY_SECONDS = 2.0  # after a failed rebuild, the next is tried this long after (files still coming and going)


def follow(sources: list[Path], index_dir: Path, embedder, stop: threading.Event, warn: Warn | None = None,
           built: Callable[[], None] | None = None, debounce_ms: int = DEBOUNCE_MS) -> None:
    """Rebuild the index at `index_dir` from `sources` each time they change, until `stop` is set.
    `built` is called after each rebuild that changed the index."""
    from watchfiles import watch

    from ..store.local.build import build_index

    index_dir = Path(index_dir).resolve()

    def outside_index(_change, path: str) -> bool:  # the index's own writes are no change of the corpus
        return not Path(path).resolve().is_relative_to(index_dir) and ".tmp-" not in Path(path).name

    pending = False  # a change seen but not yet indexed (a rebuild failed)
    while not stop.is_set():
        for changes in watch(*sources, watch_filter=outside_index, debounce=debounce_ms, stop_event=stop,
                             rust_timeout=int(RETRY_SECONDS * 1000), yield_on_timeout=True):
            if not changes and not pending:
                continue
            before = _stamp(index_dir)
            try:
                build_index(sources, index_dir, embedder, warn=warn)
                pending = False
            except Exception as error:  # noqa: BLE001 - a file mid-write or gone: the watch goes on, and retries
                pending = True
                if warn:
                    warn(f"--watch: the rebuild failed ({getattr(error, 'message', error)}); trying again")
                time.sleep(RETRY_SECONDS)
                continue
            if _stamp(index_dir) != before:
                if warn:
                    warn(f"--watch: re-indexed after {len(changes)} change(s)")
                if built:
                    built()


def _stamp(index_dir: Path):
    try:
        info = (index_dir / "manifest.json").stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns


def watch_in_background(sources: list[Path], settings, warn: Warn | None = None,
                        built: Callable[[], None] | None = None) -> threading.Event:
    """`follow` in a daemon thread (`qa serve --watch`) for the local index of `settings`; set the
    returned event to stop it."""
    from .. import wiring

    stop = threading.Event()
    embedder = wiring.load_embedder(settings, warn=warn, lazy=True)
    thread = threading.Thread(target=follow, args=(sources, settings.index_dir, embedder, stop, warn, built),
                              name="qa-watch", daemon=True)
    thread.start()
    return stop


def watched_sources(settings) -> list[Path]:
    """The corpus folders `--watch` follows: those the local index of `settings` was built from."""
    from .. import wiring
    from ..errors import QAError
    from ..store.local.index import index_exists, read_manifest

    if wiring.is_remote(settings):
        raise QAError("--watch follows a local index's corpus: it does not go with --store qdrant")
    index_dir = settings.index_dir
    if not index_exists(index_dir):
        raise QAError(f"--watch follows the corpus the index was built from, and there is no index at {index_dir}: "
                      f"build one first with `qa index FOLDER --index-dir {index_dir}`")
    return [Path(source) for source in read_manifest(index_dir)["sources"]]


def follow_from(settings, sources: list[Path], warn: Warn | None = None, check_only: bool = False) -> None:
    """`qa index --watch`: after the build, `follow` the local index of `settings` until Ctrl-C (a
    QAError first for a remote store; `check_only`: that check alone, before the build)."""
    from .. import wiring
    from ..errors import QAError

    if wiring.is_remote(settings):
        raise QAError("--watch follows a local index's corpus: it does not go with --store qdrant")
    if check_only:
        return
    if warn:
        warn(f"watching {', '.join(str(s) for s in sources)} for changes (Ctrl-C to stop)")
    follow(sources, settings.index_dir, wiring.load_embedder(settings, warn=warn, lazy=True), threading.Event(), warn)
