"""Shared fixtures: the real bundled model and one real index of the seed corpus, built once per run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpus" / "north-korea-diplomacy.txt"


@pytest.fixture(scope="session")
def embedder():
    """The real bundled all-MiniLM-L6-v2 (loaded once: it is the slow part)."""
    from qa.embeddings import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def seed_corpus(tmp_path_factory) -> Path:
    """A private copy of the bundled corpus folder."""
    folder = tmp_path_factory.mktemp("corpus")
    shutil.copy(SEED, folder / SEED.name)
    return folder


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory, seed_corpus, embedder) -> Path:
    """A real index of the seed corpus; tests must not modify it (copy it first)."""
    from qa.index import build_index

    index_dir = tmp_path_factory.mktemp("seed-index") / "index"
    build_index([seed_corpus], index_dir, embedder)
    return index_dir


@pytest.fixture(scope="session")
def retriever(seed_index_dir, embedder):
    from qa.index import load_index
    from qa.retrieval import Retriever

    return Retriever(load_index(seed_index_dir), embedder)
