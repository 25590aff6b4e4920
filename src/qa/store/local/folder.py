"""The index folder on disk: what counts as a qa index, the build lock, staging and the atomic swap, file hashes.

Nothing here ever replaces or deletes a folder that is not a qa index: a user's documents passed as
`--index-dir` by mistake get an error, and nothing is changed.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from ...cache import cache_dir, write_quietly
from ...ingest.files import file_sha256, shown_path
from ...errors import QAError

FORMAT = "qa-index"
MANIFEST = "manifest.json"
VERIFIED = ".verified.json"  # a stamp of the index files hashed last time (see `verify_files`)

Warn = Callable[[str], None]


# --- what may be replaced --------------------------------------------------------------------------


def manifest_format(index_dir: Path) -> str | None:
    """The `format` the folder's manifest names, or None when it has no readable manifest."""
    try:
        manifest = json.loads((Path(index_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest.get("format") if isinstance(manifest, dict) else None


def check_index_target(index_dir: Path, sources: list[Path] = ()) -> None:
    """A QAError, before anything is written, when `index_dir` must not become (or be replaced by) an index.

    It may be a new path, an empty folder, or a qa index (its manifest says so) holding only files qa
    writes; it must not be or hold the current folder, lie inside a corpus folder, or hold a corpus path.
    """
    given = shown_path(index_dir)
    target = Path(os.path.abspath(index_dir))
    unchanged = "nothing was changed"
    cwd = Path.cwd()
    if target == cwd or target in cwd.parents:
        raise QAError(f"--index-dir {given} is the current folder or one above it: give a folder of its own, "
                      f"e.g. --index-dir index ({unchanged})")
    # as given and with every symbolic link resolved: an index folder reached through a link into the
    # corpus (or a corpus through a link into the index) is the same folder, and would index itself
    targets = {target, _resolved(target)}
    for source in sources:
        for given_source in {Path(os.path.abspath(source)), _resolved(Path(source))}:
            _check_apart(targets, given_source, given, unchanged)
    for parent in [target, *target.parents]:
        if parent.exists() or parent.is_symlink():
            if parent != target and not parent.is_dir():
                raise QAError(f"--index-dir {given} is under {shown_path(parent)}, which is a file, not a "
                              f"folder ({unchanged})")
            break
    if not (target.exists() or target.is_symlink()):
        return
    if target.is_symlink():
        raise QAError(f"--index-dir {given} is a symbolic link: give the folder it points to ({unchanged})")
    if not target.is_dir():
        raise QAError(f"--index-dir {given} is a file, not a folder: give a new or empty folder ({unchanged})")
    try:
        entries = sorted(entry.name for entry in os.scandir(target))
    except OSError as exc:
        raise QAError(f"cannot read --index-dir {given} ({exc.strerror}); {unchanged}") from None
    if not entries:
        return
    if manifest_format(target) != FORMAT:
        raise QAError(f"--index-dir {given} is not a qa index (it has no qa manifest) and is not empty: "
                      f"qa replaces only its own indexes; give a new or empty folder ({unchanged})")
    written = _written_names(target)
    # `..verified.json.*`: a stamp whose write was cut short (see cache.write_quietly)
    foreign = [name for name in entries if name not in written and not name.startswith(f".{VERIFIED}.")]
    # inside the folders qa writes (texts/, bm25/, ...): only the files its manifest records, since a
    # rebuild removes the old folder whole and would take a user's file put there with it
    foreign += _foreign_inside(target, written)
    if foreign:
        shown = ", ".join(shown_path(name) for name in foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise QAError(f"--index-dir {given} is a qa index but also holds files qa did not write ({shown}): "
                      f"move them out first ({unchanged})")


def _resolved(path: Path) -> Path:
    """`path` with every symbolic link resolved (as far as it exists)."""
    return Path(os.path.realpath(path))


def _check_apart(targets: set[Path], source: Path, given: str, unchanged: str) -> None:
    for target in targets:
        # a hidden folder in the corpus (FOLDER/.qa, which `qa index FOLDER` makes) is never read as a document
        hidden = source in target.parents and target.relative_to(source).parts[0].startswith(".")
        if source.is_dir() and (target == source or source in target.parents) and not hidden:
            raise QAError(f"--index-dir {given} lies inside the corpus folder {shown_path(source)}: put the "
                          f"index outside it ({unchanged})")
        if target in source.parents:
            raise QAError(f"the corpus path {shown_path(source)} lies inside --index-dir {given}: put the "
                          f"index elsewhere ({unchanged})")


def _foreign_inside(index_dir: Path, written: set[str]) -> list[str]:
    """Files under the index's own subfolders that its manifest does not record (paths relative to it)."""
    try:
        manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
        recorded = manifest["file_hashes"]
    except (OSError, ValueError, TypeError, KeyError):
        return []
    if not isinstance(recorded, dict):  # an index from before file hashes: its subfolders are not known
        return []
    foreign = []
    for name in sorted(written):
        folder = index_dir / name
        if folder.is_symlink() or not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(index_dir).as_posix()
            if (path.is_symlink() or not path.is_dir()) and relative not in recorded:
                foreign.append(relative)
    return foreign


def _written_names(index_dir: Path) -> set[str]:
    """The top-level names a qa index folder may hold: its manifest, the files it lists, the stamp."""
    try:
        manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {MANIFEST}
    names = {MANIFEST, VERIFIED}
    for relative in [*(manifest.get("files_written") or {}).values(), *(manifest.get("file_hashes") or {})]:
        names.add(Path(str(relative)).parts[0])
    onnx = manifest.get("onnx")
    if isinstance(onnx, dict) and onnx.get("file"):
        names.add(str(onnx["file"]))
    return names


# --- building: one at a time, staged beside the target, swapped in whole ----------------------------


@contextlib.contextmanager
def build_lock(index_dir: Path, warn: Warn | None = None) -> Iterator[None]:
    """Hold the folder's build lock for one build; a second build of the same folder waits for the first.

    The lock file is in qa's cache (named by a hash of the folder's path), not beside the index: it
    must outlive every swap of the folder and leave nothing in the user's folders. While it is held no
    other build is running, so staging folders left by an interrupted one (`.<name>.tmp-*`,
    `.<name>.old-*`) are removed here instead of piling up.
    """
    target = Path(os.path.abspath(index_dir))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        key = hashlib.sha256(os.fsencode(str(target.parent.resolve() / target.name))).hexdigest()[:32]
        lock_path = cache_dir() / "locks" / f"{key}.lock"
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            open(lock_path, "a").close()
        except OSError:  # no writable cache (another user's HOME): beside the index, removed after
            lock_path = target.with_name(f".{target.name}.lock")
        handle = _locked(lock_path, lambda: warn and warn(f"another qa index is writing {shown_path(index_dir)}; "
                                                          "waiting for it to finish"))
    except OSError as exc:
        raise QAError(f"cannot write the index at {shown_path(index_dir)} ({exc.strerror})") from None
    try:
        _remove_leftovers(target)
        yield
    finally:
        lock_path.unlink(missing_ok=True)  # safe: a waiter holding the old file sees it gone and retries
        handle.close()


def _locked(path: Path, waiting: Callable[[], object]):
    """An open handle on `path` holding its exclusive flock, the file still being the one at `path`."""
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            waiting = lambda: None  # noqa: E731 - said once
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino:
                return handle
        except FileNotFoundError:
            pass  # the holder removed it on release: lock the new one
        handle.close()


def _remove_leftovers(target: Path) -> None:
    for prefix in (f".{target.name}.tmp-", f".{target.name}.old-"):
        for leftover in target.parent.glob(f"{_glob_escape(prefix)}*"):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


@contextlib.contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """A temporary folder beside the target, removed unless it was swapped into place."""
    target = Path(os.path.abspath(target))
    try:
        path = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as exc:
        raise QAError(f"cannot write the index at {shown_path(target)} ({exc.strerror})") from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def swap_into_place(staging: Path, target: Path) -> None:
    """Make `staging` the index at `target` in one step, so a reader never sees half of either.

    Linux's renameat2(RENAME_EXCHANGE) swaps two folders atomically; Python has no wrapper, so it is
    called through libc. Elsewhere the old folder is renamed aside first (a short window with none).
    Only a qa index or an empty folder is ever replaced: `check_index_target` is asked again here.
    """
    target = Path(os.path.abspath(target))
    check_index_target(target)
    for f in (p for p in staging.rglob("*") if p.is_file()):  # data on disk before the swap publishes it
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())
    if target.exists() and _rename_exchange(staging, target):
        return  # staging now holds the old index and is removed by the caller
    if target.exists():
        aside = target.with_name(f".{target.name}.old-{os.getpid()}-{time.time_ns()}")
        os.rename(target, aside)
        os.rename(staging, target)
        staging.mkdir()  # the caller removes it
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.rename(staging, target)
        staging.mkdir()


def _rename_exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    result = renameat2(AT_FDCWD, os.fsencode(str(a)), AT_FDCWD, os.fsencode(str(b)), RENAME_EXCHANGE)
    return result == 0


# --- damage: every file checked against the hash the manifest records ------------------------------


# Damage is found by a content hash of every file, recomputed after a build and whenever a file's
# stamp changed. xxHash's XXH3-128 (a checksum, not a cryptographic hash: it guards against a torn,
# truncated or bit-rotted file, not against someone forging one) hashes ~27 GB/s here where SHA-256
# does 1.7 GB/s: an update of a 100k-passage index (550 MB of files) spent 0.4 s hashing with
# SHA-256. Older indexes record "sha256", which is still checked.
FILE_HASH = "xxh3_128"


def file_hash(path: Path, algorithm: str = FILE_HASH) -> str:
    """The hex digest of the file at `path` (`algorithm`: FILE_HASH or "sha256")."""
    if algorithm == "sha256":
        return file_sha256(path)
    import xxhash

    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, xxhash.xxh3_128).hexdigest()


def hash_files(folder: Path, known: dict[str, dict] | None = None) -> dict[str, dict]:
    """The FILE_HASH digest and size of every file under `folder` but the manifest, by path relative to
    it; a file in `known` (linked from an index whose load verified it) keeps its record unread."""
    records = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if known and relative in known and known[relative].get("size") == path.stat().st_size:
            records[relative] = known[relative]
        elif relative not in (MANIFEST, VERIFIED):
            records[relative] = {FILE_HASH: file_hash(path), "size": path.stat().st_size}
    return records


def verify_files(index_dir: Path, manifest: dict, damaged: Callable[[str], QAError]) -> None:
    """Raise `damaged(why)` unless every file the manifest records has its recorded hash.

    Hashing a 90 MB model on every `qa ask` would cost more than the rest of a cold start, so a file
    whose size, mtime, ctime and inode are those of the last verified read is not hashed again:
    `.verified.json` keeps those stamps (written when the folder is writable). Editing a file changes
    its ctime, which no tool can set back.
    """
    records = manifest.get("file_hashes")
    if not isinstance(records, dict):
        raise damaged("the manifest records no file hashes")
    stamp_file = Path(index_dir) / VERIFIED
    try:
        stamps = json.loads(stamp_file.read_text(encoding="utf-8"))
        stamps = stamps if isinstance(stamps, dict) and stamps.get("built_at") == manifest.get("built_at") else {}
    except (OSError, ValueError):
        stamps = {}
    fresh, changed = {"built_at": manifest.get("built_at")}, False
    for relative, record in records.items():
        path = Path(index_dir) / relative
        try:
            stamp = _stamp(path)
        except OSError:
            raise damaged(f"{relative} is missing") from None
        fresh[relative] = stamp
        if stamps.get(relative) == stamp:
            continue
        if not isinstance(record, dict) or stamp[0] != record.get("size"):
            raise damaged(f"{relative} has the wrong size")
        algorithm = FILE_HASH if FILE_HASH in record else "sha256"
        try:
            digest = file_hash(path, algorithm)
        except OSError as exc:
            raise damaged(f"{relative} cannot be read: {exc.strerror}") from None
        if digest != record.get(algorithm):
            raise damaged(f"{relative} is damaged: its hash is not the one the manifest records")
        changed = True
    if changed:
        write_quietly(stamp_file, json.dumps(fresh) + "\n")


def stamp_verified(index_dir: Path, manifest: dict) -> None:
    """Record the files just hashed into `manifest` as verified, so the first load need not hash them again
    (renaming their folder into place changes none of their stamps)."""
    stamps = {"built_at": manifest.get("built_at")}
    for relative in manifest["file_hashes"]:
        stamps[relative] = _stamp(Path(index_dir) / relative)
    write_quietly(Path(index_dir) / VERIFIED, json.dumps(stamps) + "\n")


def restamp_links(index_dir: Path, manifest: dict) -> None:
    """After a build's swap: the stamps of files whose ctime alone changed since the build stamped them.

    A file the new index shares with the old one by a hard link (store/local/build_delta.py, the model)
    gets a new ctime when the old folder is removed and its link count drops; without this, the
    first load would hash every linked file again (0.4 s at 100k passages). Size, mtime and inode
    must still be the stamped ones: any other change keeps the old stamp, so the file is hashed."""
    stamp_file = Path(index_dir) / VERIFIED
    try:
        stamps = json.loads(stamp_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(stamps, dict) or stamps.get("built_at") != manifest.get("built_at"):
        return
    changed = False
    for relative, stamp in list(stamps.items()):
        if relative == "built_at" or not isinstance(stamp, list) or len(stamp) != 4:
            continue
        try:
            now = _stamp(Path(index_dir) / relative)
        except OSError:
            continue
        if now != stamp and [now[0], now[1], now[3]] == [stamp[0], stamp[1], stamp[3]]:
            stamps[relative], changed = now, True
    if changed:
        write_quietly(stamp_file, json.dumps(stamps) + "\n")


def _stamp(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]
