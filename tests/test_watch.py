"""`--watch` with real file events: the index follows its folder, and `qa serve --watch` serves each rebuild (issue 32)."""

from __future__ import annotations

import threading
import time

import httpx

from conftest import start_server, stop_server


def _docs(index_dir) -> set[str]:
    from qa.store.local.index import read_manifest

    try:
        return {f["doc"] for f in read_manifest(index_dir)["files"] if not f.get("skipped")}
    except Exception:  # noqa: BLE001 - not built yet
        return set()


def _until(condition, seconds: float = 90) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_the_index_follows_files_that_come_change_and_go(tmp_path, seed_corpus, embedder):
    import shutil

    from qa.serve.watch import follow
    from qa.store.local.build import build_index

    corpus = tmp_path / "corpus"
    shutil.copytree(seed_corpus, corpus)
    index_dir = tmp_path / "index"
    build_index([corpus], index_dir, embedder)
    stop, said = threading.Event(), []
    watcher = threading.Thread(target=follow, args=([corpus], index_dir, embedder, stop, said.append),
                               kwargs={"debounce_ms": 300}, daemon=True)
    watcher.start()
    try:
        time.sleep(1)  # the watch is set up
        (corpus / "pears.md").write_text("# Pears\n\nPears ripen after they are picked, unlike plums.\n")
        assert _until(lambda: "pears.md" in _docs(index_dir)), said
        for n in range(20):  # files that come and go while a rebuild may be reading them
            (corpus / f"flash-{n}.txt").write_text(f"Flash {n} lasts a moment.\n" * 50)
            time.sleep(0.05)
            (corpus / f"flash-{n}.txt").unlink()
        (corpus / "pears.md").unlink()
        (corpus / "plums.txt").write_text("Plums are stone fruit picked ripe.\n")
        assert _until(lambda: _docs(index_dir) == {"north-korea-diplomacy.txt", "plums.txt"}), (_docs(index_dir), said)
        assert watcher.is_alive()
    finally:
        stop.set()
        watcher.join(30)
    assert not watcher.is_alive()


def test_serve_watch_answers_from_a_file_added_while_it_runs(tmp_path, seed_corpus, embedder):
    import shutil

    from qa.store.local.build import build_index

    corpus = tmp_path / "corpus"
    shutil.copytree(seed_corpus, corpus)
    build_index([corpus], tmp_path / "index", embedder)
    process, url = start_server(tmp_path / "index", tmp_path / "serve.log", ["--watch"])
    try:
        question = {"question": "When do pears ripen?", "k": 1, "mode": "bm25"}
        first = httpx.post(f"{url}/ask", json=question, timeout=60).json()
        assert first["passages"][0]["doc"] == "north-korea-diplomacy.txt"
        time.sleep(1)
        (corpus / "pears.md").write_text("# Pears\n\nPears ripen after they are picked, unlike plums.\n")
        assert _until(lambda: httpx.post(f"{url}/ask", json=question, timeout=60).json()["passages"][0]["doc"]
                      == "pears.md", 120), (tmp_path / "serve.log").read_text()
    finally:
        stop_server(process)
    assert "--watch: re-indexed after" in (tmp_path / "serve.log").read_text()
