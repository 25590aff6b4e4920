"""Where the index is: the folder given, a named index, or the nearest `.qa/` up from the current folder.

qa finds its index as git finds a repository, so `qa ask` works from any folder under an indexed one:

1. `--index-dir DIR`: that folder;
2. `--name NAME`: NAME under qa's user data folder (platformdirs: ~/.local/share/qa/indexes/NAME on Linux);
3. `$QA_INDEX`: that folder;
4. `.qa/` in the current folder or the nearest folder above it that has one;
5. `index/` in the current folder: where qa kept its index before `.qa/` (and where scripts/setup.sh
   builds the bundled corpus's), so old folders keep working.

`qa index FOLDER` (one folder) with none of 1-3 writes FOLDER/.qa/ (the walker skips hidden folders, so
the index is never read as a document), unless the index found by 4-5 was built from FOLDER (an old
index/ of corpus/: `qa index corpus` still updates it). `qa index` with no path updates the index found
from the sources it recorded, else builds corpus/ into index/ as before.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import QAError

INDEX_FOLDER = ".qa"  # what `qa init` and `qa index FOLDER` create in FOLDER
LEGACY_INDEX = Path("index")  # the index folder before .qa/, in the current folder
INDEX_ENV = "QA_INDEX"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Found:
    """An index folder (it may not exist yet) and how it was chosen, as `qa status` says it."""

    path: Path
    how: str


def named_index(name: str) -> Path:
    """The folder of the index called `name` in qa's user data folder."""
    if not NAME.fullmatch(name or ""):
        raise QAError(f"--name {name!r} is not a name: letters, digits, '.', '_' and '-', up to 64, "
                      f"starting with a letter or digit")
    from platformdirs import user_data_path

    return user_data_path("qa", appauthor=False) / "indexes" / name


def nearest(start: Path | None = None) -> Path | None:
    """The `.qa/` folder holding an index in `start` (default: the current folder) or the nearest
    folder above it; None when there is none."""
    start = Path(os.path.abspath(start or Path.cwd()))
    for folder in (start, *start.parents):
        candidate = folder / INDEX_FOLDER
        if (candidate / "manifest.json").is_file():
            return candidate
    return None


def given(index_dir: Path | None, name: str | None) -> Found | None:
    """The index the user named (1-3 above), or None when they named none."""
    if index_dir is not None and name is not None:
        raise QAError("give either --index-dir or --name, not both")
    if index_dir is not None:
        return Found(Path(index_dir), "--index-dir")
    if name is not None:
        return Found(named_index(name), f"--name {name}")
    if os.environ.get(INDEX_ENV):
        return Found(Path(os.environ[INDEX_ENV]), f"${INDEX_ENV}")
    return None


def find_index(index_dir: Path | None = None, name: str | None = None) -> Found:
    """The index a reading command (ask, serve, text, status, eval) uses: 1-5 above, in that order."""
    chosen = given(index_dir, name)
    if chosen is not None:
        return chosen
    found = nearest()
    if found is not None:
        return Found(_shown(found), "found from the current folder")
    return Found(LEGACY_INDEX, "the default: no .qa/ here or above")


def index_target(paths: list[Path], chosen: Found | None = None) -> Found:
    """Where `qa index PATHS` writes: the index the user chose (1-3: `given`); else the index found (4-5) when it was built
    from exactly these paths; else FOLDER/.qa/ for one folder; else the index found (a file or several
    paths go to the nearest .qa/, else to index/)."""
    if chosen is not None:
        return chosen
    found = find_index()
    if paths and _manifest(found.path).get("sources") == [str(Path(p).resolve()) for p in paths]:
        return found  # the index here was built from these paths (an old index/ of corpus/, say): updated
    if len(paths) == 1 and Path(paths[0]).is_dir():
        return Found(Path(paths[0]) / INDEX_FOLDER, f"the folder's own {INDEX_FOLDER}/")
    return found


def recorded_sources(index_dir: Path) -> list[Path] | None:
    """The corpus paths the index at `index_dir` was built from (None: no index there, or a BEIR one,
    whose one corpus.jsonl `qa eval --beir` reads)."""
    manifest = _manifest(index_dir)
    return None if manifest.get("beir") else [Path(s) for s in manifest.get("sources") or []] or None


def _manifest(index_dir: Path) -> dict:
    """The manifest of the index at `index_dir`, or {} when there is no readable one."""
    try:
        manifest = json.loads((Path(index_dir) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _shown(path: Path) -> Path:
    """`path` relative to the current folder when it lies under it (as the user would type it)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
