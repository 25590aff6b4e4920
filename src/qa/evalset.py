"""Evaluation sets as folders: `questions.jsonl` beside `corpus/` (or a `set.toml` naming the corpus),
each scored against its own cached index."""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import QAError

QUESTIONS = "questions.jsonl"
CORPUS = "corpus"
SET_FILE = "set.toml"  # corpus = "path" (or a list of paths), relative to the set's folder


@dataclass(frozen=True)
class EvalSet:
    """The questions file and, for a set folder, the corpus its questions are about (None: a bare
    questions file, scored against whatever index the command was given or found)."""

    questions: Path
    corpus: tuple[Path, ...] | None = None


def read_set(path: Path) -> EvalSet:
    """The set at `path`: a folder (questions.jsonl with corpus/ or set.toml) or a questions file."""
    path = Path(path)
    if not path.is_dir():
        return EvalSet(path)
    questions = path / QUESTIONS
    if not questions.is_file():
        raise QAError(f"{path} holds no {QUESTIONS}: an evaluation set folder holds {QUESTIONS} and {CORPUS}/ "
                      f"(or a {SET_FILE} naming its corpus)")
    if (path / SET_FILE).is_file():
        try:
            corpus = tomllib.loads((path / SET_FILE).read_text(encoding="utf-8")).get("corpus")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise QAError(f"cannot read {path / SET_FILE}: {exc}") from None
        names = [corpus] if isinstance(corpus, str) else corpus
        if not names or not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise QAError(f"{path / SET_FILE} must name the set's corpus: corpus = \"FOLDER\" (relative to {path})")
        return EvalSet(questions, tuple(path / n for n in names))
    if not (path / CORPUS).is_dir():
        raise QAError(f"{path} has {QUESTIONS} but no {CORPUS}/ folder and no {SET_FILE} naming its corpus")
    return EvalSet(questions, (path / CORPUS,))


def cached_index_dir(eval_set: EvalSet, cache: Path) -> Path:
    """Where a set folder's own index is kept: under qa's cache, one folder per set (its name and a
    digest of where it is, so two sets of one name never share an index)."""
    folder = Path(os.path.abspath(eval_set.questions.parent))
    digest = hashlib.blake2b(str(folder).encode("utf-8", "surrogateescape"), digest_size=6).hexdigest()
    return cache / "eval" / f"{folder.name}-{digest}"


def set_index(eval_set: EvalSet, settings, chosen=None, warn=None, progress=None):
    """`settings` with the index `eval_set` is scored against: the one the user chose (`chosen`:
    --index-dir, --name, $QA_INDEX) or the set's own in qa's cache, built from the set's corpus first
    when it is missing, stale or of another corpus (incrementally: only what changed is embedded)."""
    from dataclasses import replace

    from .cache import cache_dir
    from .store.local.index import index_exists, read_manifest, stale_reason
    from .wiring import index_corpus, model_name

    settings = replace(settings, index_dir=chosen.path if chosen is not None else cached_index_dir(eval_set, cache_dir()))
    sources = [str(Path(c).resolve()) for c in eval_set.corpus]
    if index_exists(settings.index_dir):
        manifest = read_manifest(settings.index_dir)
        if manifest.get("sources") == sources and stale_reason(manifest, model_name(settings)) is None:
            return settings
    if warn:
        warn(f"indexing {', '.join(str(c) for c in eval_set.corpus)} for the set into {settings.index_dir}")
    index_corpus(settings, list(eval_set.corpus), warn=warn, progress=progress)
    return settings
