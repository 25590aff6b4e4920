"""Batching: serialize calls into one Retriever and answer the questions that queue meanwhile together."""

from __future__ import annotations

import threading

from ..search.retrieval import Retriever


class _Job:
    __slots__ = ("question", "k", "mode", "rerank", "answer", "error", "done")

    def __init__(self, question: str, k: int, mode: str | None, rerank: str | None = None) -> None:
        self.question, self.k, self.mode, self.rerank = question, k, mode, rerank
        self.answer = self.error = None
        self.done = False


class Batcher:
    """Serializes retrieval (the tokenizer is not thread-safe) and batches what piles up meanwhile.

    Each request queues its question, then takes the retrieval lock. Whoever holds the lock answers
    its own question and the queued ones with the same k and mode (up to `max_batch`) with one
    `Retriever.search` call, so under load one forward pass of the model serves many requests.
    A job is taken off the queue and marked done only under the lock, so once its owner holds the
    lock the job is either still queued or already answered.
    """

    def __init__(self, retriever: Retriever, max_batch: int = 32) -> None:
        self.retriever = retriever
        # A dynamically quantized model scales activations over the whole batch, so a question's
        # scores would depend on the others batched with it: answer one at a time instead.
        quantized = getattr(getattr(retriever, "embedder", None), "quantized", False)
        self.max_batch = 1 if quantized else max_batch
        self._queue: list[_Job] = []
        self._queue_lock = threading.Lock()
        self._work_lock = threading.Lock()

    def ask(self, question: str, k: int, mode: str | None, rerank: str | None = None):
        job = _Job(question, k, mode, rerank)
        with self._queue_lock:
            self._queue.append(job)
        with self._work_lock:
            if not job.done:
                with self._queue_lock:  # this job and the queued ones that share its k and mode
                    batch = [job]
                    for other in self._queue:
                        if len(batch) < self.max_batch and other is not job and \
                                (other.k, other.mode, other.rerank) == (job.k, job.mode, job.rerank):
                            batch.append(other)
                    taken = {id(j) for j in batch}
                    self._queue = [j for j in self._queue if id(j) not in taken]
                self._run(batch)
        if job.error is not None:
            raise job.error
        return job.answer

    def _run(self, batch: list[_Job]) -> None:
        """Answer `batch` (all with the same k and mode) with one search, then mark every job done."""
        try:
            answers = self.retriever.search([j.question for j in batch], batch[0].k, mode=batch[0].mode,
                                            **_second_stage(batch[0]))
            for job, answer in zip(batch, answers):
                job.answer = answer
        except Exception as error:  # noqa: BLE001 - handed to the request, which reports it
            if len(batch) > 1:  # one bad question must not fail the others: answer them one by one
                self._run_singly(batch)
            else:
                batch[0].error = error
        for job in batch:
            job.done = True

    def _run_singly(self, jobs: list[_Job]) -> None:
        for job in jobs:
            try:
                job.answer = self.retriever.search([job.question], job.k, mode=job.mode, **_second_stage(job))[0]
            except Exception as error:  # noqa: BLE001
                job.error = error


def _second_stage(job: _Job) -> dict:
    """The search's `rerank` argument when the request asked for a second stage (a retriever
    without one, as the tests' fakes are, is called as before)."""
    return {} if job.rerank is None else {"rerank": job.rerank}
