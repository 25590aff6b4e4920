"""qa: local question answering over your documents, with cited passages."""

from .ingest.files import Document, read_documents
from .embed import Embedder, load_embedder, resolve_model
from .errors import QAError
from .store.local.index import Index, load_index
from .store.local.build import build_index
from .ingest.passages import Passage, split_document, split_documents
from .search.retrieval import Answer, Hit, Retriever

__all__ = [
    "Answer",
    "Document",
    "Embedder",
    "Hit",
    "Index",
    "Passage",
    "QAError",
    "Retriever",
    "build_index",
    "load_embedder",
    "load_index",
    "read_documents",
    "resolve_model",
    "split_document",
    "split_documents",
]
__version__ = "0.1.0"
