"""Settings: which store, where, which model and backend: read from flags and the environment here, once.

Every environment variable qa reads is read in this module (the lowest layer, beside errors.py): the
front ends build one `Settings` from their flags with `Settings.from_flags`; a library caller that
passes none gets the same defaults through `environment`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

# flag (Settings field) → the environment variable read when the flag is not given
ENVIRONMENT = {"store": "QA_STORE", "index_dir": "QA_INDEX", "qdrant_url": "QA_QDRANT_URL",
               "collection": "QA_COLLECTION", "model": "QA_MODEL", "backend": "QA_BACKEND", "reranker": "QA_RERANKER"}
CACHE_ENV = "QA_CACHE_DIR"


@dataclass(frozen=True)
class Settings:
    """What every command shares: the store (`local`: the folder `index_dir`; `qdrant`: `collection` at
    `qdrant_url`), the embedding model (None: the bundled one), the embedding backend (None: onnx) and the
    cross-encoder folder of the second stage's `cross` (search/rerank.py; None: none)."""

    store: str = "local"
    index_dir: Path = Path("index")
    qdrant_url: str | None = None
    collection: str = "qa"
    model: str | None = None
    backend: str | None = None
    reranker: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "index_dir", Path(self.index_dir))
        if self.reranker is not None:
            object.__setattr__(self, "reranker", Path(self.reranker))  # the store kind is checked by wiring.py

    @classmethod
    def from_flags(cls, **flags) -> "Settings":
        """Settings from the flags given (None: not given), each missing one from its environment
        variable (`ENVIRONMENT`), else its default."""
        values = {}
        for field in fields(cls):
            value = flags.get(field.name)
            if value is None:
                value = os.environ.get(ENVIRONMENT[field.name]) or None
            if value is not None:
                values[field.name] = value
        return cls(**values)


def environment(name: str) -> str | None:
    """The environment's value of Settings field `name` (None when unset or empty): the default a
    library call falls back to when no Settings are passed."""
    return os.environ.get(ENVIRONMENT[name]) or None


def cache_dir() -> Path:
    """Where qa keeps what it makes for itself: $QA_CACHE_DIR, else $XDG_CACHE_HOME/qa, else ~/.cache/qa."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"


def quiet_hub() -> None:
    """Set once by the entry point (cli.py): the model ships with the package, so never reach for the
    Hugging Face hub, and keep its progress bars and chatter off the user's terminal."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
