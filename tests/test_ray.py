"""`qa index --ray`: a real two-node Ray cluster on this machine builds the local build's index, through faults."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from qa.search.retrieval import MODES, Retriever  # noqa: E402
from qa.store.local.build import build_index  # noqa: E402
from qa.store.local.index import load_index  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MIXED = ROOT / "eval" / "mixed"  # real PDF, HTML and Word files: 536 passages, ~3,000 texts to embed
CLI = [sys.executable, "-m", "qa.cli"]


@pytest.fixture(scope="module")
def cluster():
    """A head and a second node, one CPU each (the machine's 2 cores are shared), as separate raylets."""
    from ray.cluster_utils import Cluster

    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    made.add_node(num_cpus=1)
    made.wait_for_nodes()
    yield made
    made.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The mixed-format set's files and one file no reader takes (its warning must come through)."""
    folder = tmp_path_factory.mktemp("corpus")
    shutil.copytree(MIXED / "corpus", folder, dirs_exist_ok=True)
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    return folder


@pytest.fixture(scope="module")
def local_build(tmp_path_factory, corpus, embedder):
    said: list[str] = []
    index = build_index([corpus], tmp_path_factory.mktemp("local") / "index", embedder, warn=said.append)
    return index, said


def _same_index(built, local, embedder) -> None:
    """The same passages in the same order, the same vectors, the same rankings."""
    assert built.passages == local.passages
    assert np.array_equal(built.sentence_spans, local.sentence_spans)
    assert built.manifest["passage_encoder"] == local.manifest["passage_encoder"]
    # each worker is given whole batches of the local embedder's own (a bf16 vector depends on the texts
    # padded with it), and with 2 CPUs the build hands over its usual 2,048 texts a call: the same bits
    assert np.array_equal(built.vectors(), local.vectors())
    assert np.array_equal(np.asarray(built.sentence_vectors), np.asarray(local.sentence_vectors))
    questions = [json.loads(line)["question"] for line in (MIXED / "questions.jsonl").read_text().splitlines()]
    ours, theirs = Retriever(built, embedder), Retriever(local, embedder)
    for mode in MODES:
        for question in questions:
            assert [h.id for h in ours.ask(question, 10, mode).passages] == \
                [h.id for h in theirs.ask(question, 10, mode).passages], (mode, question)


def _descendants_titled(prefix: str) -> list[int]:
    """This process's descendants (the cluster it started, its workers) whose title starts with `prefix`."""
    parents, titles = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                titles[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    mine = os.getpid()

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == mine:
                return True
        return False

    return [pid for pid, title in titles.items() if title.startswith(prefix) and descends(pid)]


def _wait_for(condition, seconds: float = 120.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _partial(index_dir: Path) -> Path:
    return index_dir.with_name(f".{index_dir.name}.partial")


def test_a_worker_killed_mid_build_loses_nothing_and_the_index_equals_the_local_build(cluster, corpus, local_build,
                                                                                        tmp_path, embedder):
    from qa.scaleout import build_on_cluster

    index_dir = tmp_path / "index"
    killed: list[int] = []

    def kill_a_busy_worker() -> None:  # once a chunk is staged, SIGKILL an embedding actor mid-batch
        if _wait_for(lambda: (_partial(index_dir) / "000000.keys.npy").is_file()):
            _wait_for(lambda: bool(_descendants_titled("ray::EmbeddingWorker.encode")), 60)
            for pid in _descendants_titled("ray::EmbeddingWorker.encode")[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    said: list[str] = []
    built, nodes = build_on_cluster([corpus], index_dir, cluster.address, device="cpu", warn=said.append)
    killer.join()
    assert killed, "no embedding worker was busy to kill"
    texts = built.manifest["texts"]
    assert texts["reused"] == 0 and texts["embedded"] == local_build[0].manifest["texts"]["embedded"]
    _same_index(built, local_build[0], embedder)
    # both nodes read and embedded; the unreadable file was said as the local build says it
    assert len(nodes) == 2 and all(work["texts"] > 0 and work["workers"] == 1 for work in nodes.values())
    assert sum(work["files"] for work in nodes.values()) == 8
    assert [m for m in said if "latin1.txt" in m] == [m for m in local_build[1] if "latin1.txt" in m] != []
    passages = local_build[0].manifest["passage_count"]
    assert any(m.startswith(f"read 8 file(s) into {passages} passages on ") for m in said), said
    assert not _partial(index_dir).exists()


def test_a_driver_killed_mid_build_resumes_on_the_next_run(cluster, corpus, local_build, tmp_path, embedder):
    index_dir = tmp_path / "index"
    command = [*CLI, "index", str(corpus), "--index-dir", str(index_dir), "--ray", cluster.address]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        assert _wait_for(lambda: (_partial(index_dir) / "000000.keys.npy").is_file() or first.poll() is not None)
        assert first.poll() is None, first.stderr.read().decode()
        os.killpg(first.pid, signal.SIGKILL)  # the driver (and what it started), mid-build
    finally:
        first.wait(30)
    assert not index_dir.exists() and _partial(index_dir).is_dir()
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    resumed = [line for line in second.stderr.splitlines() if "resuming an unfinished build" in line]
    assert len(resumed) == 1 and int(resumed[0].split(": ")[2].split()[0].replace(",", "")) >= 1
    built = load_index(index_dir)
    assert 0 < built.manifest["texts"]["embedded"] < local_build[0].manifest["texts"]["embedded"]
    _same_index(built, local_build[0], embedder)
    assert not _partial(index_dir).exists()


def test_a_qdrant_collection_synced_through_the_cluster_ranks_as_one_synced_here(cluster, tmp_path, seed_corpus, embedder):
    from qa.config import Settings
    from qa.wiring import IndexOptions, index_corpus, open_retriever

    said: list[str] = []
    options = IndexOptions(ray=cluster.address, device="cpu")
    synced = index_corpus(Settings(store="qdrant", qdrant_url=f"edge:{tmp_path / 'ray'}"), [seed_corpus], options,
                          warn=said.append)
    here = index_corpus(Settings(store="qdrant", qdrant_url=f"edge:{tmp_path / 'here'}"), [seed_corpus])
    assert synced.record["passages_written"] == here.record["passages_written"] == 32
    assert any(m.startswith("read 1 file(s) into 32 passages on ") for m in said)
    assert any(m.startswith("embedded on the cluster: ") for m in said)
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "questions.jsonl").read_text().splitlines()]
    ours = open_retriever(Settings(store="qdrant", qdrant_url=f"edge:{tmp_path / 'ray'}"))
    theirs = open_retriever(Settings(store="qdrant", qdrant_url=f"edge:{tmp_path / 'here'}"))
    try:
        for question in questions:
            assert [h.id for h in ours.ask(question, 5).passages] == [h.id for h in theirs.ask(question, 5).passages]
    finally:
        ours.close()
        theirs.close()


def test_qa_index_ray_local_starts_a_cluster_here_and_says_what_each_node_did(tmp_path, seed_corpus, seed_index_dir):
    ran = subprocess.run([*CLI, "index", str(seed_corpus), "--index-dir", str(tmp_path / "index"), "--ray", "local"],
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "RAY_ADDRESS": "127.0.0.1:1"},
                         capture_output=True, text=True, timeout=300)  # local: a new instance, $RAY_ADDRESS or not
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("Indexed 32 passages from 1 file into ")
    said = ran.stderr.splitlines()
    assert any(line.startswith("qa: read 1 file(s) into 32 passages on 1 node(s)") for line in said), said
    assert any(line.startswith("qa: embedded on the cluster: ") and " 137 texts, " in line for line in said), said
    assert load_index(tmp_path / "index").passages == load_index(seed_index_dir).passages


@pytest.mark.parametrize("address, environ, says", [
    ("127.0.0.1:1", {}, "Error: cannot reach the Ray cluster at 127.0.0.1:1 "),
    ("ray://127.0.0.1:1", {}, "Error: cannot reach the Ray cluster at ray://127.0.0.1:1 "),
    ("auto", {"RAY_ADDRESS": "127.0.0.1:1"}, "Error: cannot reach the Ray cluster at 127.0.0.1:1 "),
    ("no-port", {}, "Error: --ray must be local, auto, host:port or ray://host:port"),
])
def test_a_cluster_that_cannot_be_reached_is_one_error_line(tmp_path, address, environ, says):
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **environ}
    env.update(PYTHONPATH=str(ROOT / "src"))
    ran = subprocess.run([*CLI, "index", str(ROOT / "corpus"), "--index-dir", str(tmp_path / "index"),
                          "--ray", address], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2
    assert ran.stderr.splitlines() == [ran.stderr.strip()] and ran.stderr.startswith(says), ran.stderr
    assert not (tmp_path / "index").exists()


def test_asking_never_imports_ray(seed_index_dir):
    probe = ("import sys; from typer.testing import CliRunner; from qa.cli import app; "
             f"r = CliRunner().invoke(app, ['ask', 'who leads the talks', '--index-dir', {str(seed_index_dir)!r}]); "
             "assert r.exit_code == 0, r.output; print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    ran = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"


def test_runs_of_keep_the_listing_order_and_bounds(tmp_path):
    from qa.scaleout.reading import MAX_BYTES_PER_TASK, MAX_FILES_PER_TASK, runs_of

    jobs = [(f"/nonexistent/{n}.txt", f"{n}.txt", None) for n in range(1000)]
    for cpus, expected in ((1, 16), (2, 16), (64, 250)):  # ~4 runs a CPU, at most 64 files a run
        runs = runs_of(jobs, cpus)
        assert [job for run in runs for job in run] == jobs
        assert len(runs) == expected and all(1 <= len(run) <= MAX_FILES_PER_TASK for run in runs)
    big = []
    for n in range(3):  # sparse files: their size counts, not their blocks
        with open(tmp_path / f"{n}.txt", "wb") as out:
            out.truncate(MAX_BYTES_PER_TASK // 2 + 1)
        big.append((str(tmp_path / f"{n}.txt"), f"{n}.txt", None))
    assert runs_of(big, 1) == [[job] for job in big]  # two would pass the byte bound
    assert runs_of([], 2) == []
