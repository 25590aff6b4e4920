"""Shared fixtures: the real bundled model and one real index of the seed corpus, built once per run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpus" / "north-korea-diplomacy.txt"


def without_progress(stderr: str) -> str:
    """stderr less the progress lines a build prints off a terminal when it runs for over 5 s (as a
    test's build may on a busy machine): what the command said, whatever its speed."""
    return "".join(line for line in stderr.splitlines(keepends=True) if not line.startswith("qa: Embedding "))


def record_hashes_again(index_dir: Path) -> None:
    """Record the index's files as they are now in its manifest, as a (buggy) build writing them would."""
    import json

    from qa.store.folder import VERIFIED, hash_files

    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["file_hashes"] = hash_files(index_dir)
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    (index_dir / VERIFIED).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def embedder():
    """The real bundled all-MiniLM-L6-v2 (loaded once: it is the slow part)."""
    from qa.embed import load_embedder

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
    from qa.store.build import build_index

    index_dir = tmp_path_factory.mktemp("seed-index") / "index"
    build_index([seed_corpus], index_dir, embedder)
    return index_dir


@pytest.fixture(scope="session")
def retriever(seed_index_dir, embedder):
    from qa.store.index import load_index
    from qa.search.retrieval import Retriever

    return Retriever(load_index(seed_index_dir), embedder)


@pytest.fixture
def workdir(tmp_path, seed_corpus, seed_index_dir, monkeypatch):
    """A folder with corpus/ and a current index/, as after `qa index`; the runner works in it."""
    import json

    from qa.store.index import read_manifest

    shutil.copytree(seed_corpus, tmp_path / "corpus")
    shutil.copytree(seed_index_dir, tmp_path / "index")
    manifest = read_manifest(tmp_path / "index")
    manifest["sources"] = [str(tmp_path / "corpus")]
    (tmp_path / "index" / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QA_INDEX", raising=False)
    monkeypatch.delenv("QA_MODEL", raising=False)
    return tmp_path


# --- a real `qa serve` (tests/test_serve.py, tests/test_page.py) ------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index_dir: Path, log: Path, extra: list[str] = (), cwd: Path | None = None, timeout: float = 120):
    """Start `qa serve` on a free loopback port and wait for /health to answer; returns (process, base URL)."""
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    handle = open(log, "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--index-dir", str(index_dir), *extra],
        stdout=handle, stderr=subprocess.STDOUT, cwd=cwd, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"qa serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503):
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_server(process)
    raise RuntimeError(f"qa serve did not answer /health within {timeout:.0f} s:\n{log.read_text(errors='replace')}")


def stop_server(process) -> int:
    import subprocess

    process.terminate()
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=5)


@pytest.fixture(scope="session")
def qa_server(seed_index_dir, tmp_path_factory):
    """The base URL of one real `qa serve` subprocess serving the seed index, shared by the session."""
    log = tmp_path_factory.mktemp("qa-serve") / "serve.log"
    process, url = start_server(seed_index_dir, log)
    yield url
    stop_server(process)


@pytest.fixture
def shared_model(monkeypatch, embedder):
    """`qa eval` reuses the session's loaded model instead of loading its own (the slow part)."""
    monkeypatch.setattr("qa.embed.load_embedder", lambda model=None, **kw: embedder)
    monkeypatch.delenv("QA_MODEL", raising=False)


@pytest.fixture
def beir_folder(tmp_path) -> Path:
    """A five-document BEIR folder with two judged queries (graded) and one unjudged."""
    folder = tmp_path / "tiny-beir"
    (folder / "qrels").mkdir(parents=True)
    docs = {"d1": ("Eiffel Tower", "The Eiffel Tower is a wrought-iron lattice tower in Paris, France."),
            "d2": ("Bananas", "Bananas are long yellow fruit rich in potassium."),
            "d3": ("Photosynthesis", "Plants turn sunlight, water and carbon dioxide into sugar and oxygen."),
            "d4": ("Paris", "Paris is the capital of France, on the river Seine."),
            "d5": ("Volcano", "A volcano erupts when magma rises through the crust.")}
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": i, "title": t, "text": x, "metadata": {}}) + "\n" for i, (t, x) in docs.items()))
    queries = {"q1": "how do plants make sugar from light", "q2": "where is the eiffel tower", "q3": "unjudged"}
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries.items()))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td3\t2\nq2\td1\t2\nq2\td4\t1\n")
    return folder
