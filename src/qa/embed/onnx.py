"""ONNX Runtime embedder: the sentence-transformers model, exported to ONNX once (onnx_export.py), run without torch."""

from __future__ import annotations

import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from ..ingest.files import file_sha256
from .device import CUDA_PROVIDER, cuda_failure
from .models import ModelSpec, Progress
from .onnx_export import INPUTS, ONNX_FILE, Warn, ensure_onnx, is_sentence_transformers_folder, stderr_warn
from ..errors import QAError


class OnnxEmbedder:
    """The same vectors as SentenceTransformerEmbedder (mean pooling, normalized), on ONNX Runtime;
    `encode_passages` may run the same model on OpenVINO instead, for indexing (see openvino_bulk.py)."""

    def __init__(self, spec: ModelSpec, onnx_path: str | Path, sha256: str | None = None,
                 quantized: bool = False, tokens_per_batch: int = 512, max_batch: int = 64,
                 bulk: str = "openvino", lazy: bool = False, device: str = "cpu", threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        folder = Path(spec.path)
        self.model = spec.name
        self.onnx_path = Path(onnx_path)
        self.quantized = quantized
        # Length-sorted batches of about this many padded tokens: measured here, ~500 tokens keeps
        # padding low and the cache warm (1,024 was 2-3% slower with one session per core, 32
        # passages a batch 10-15% slower than 8).
        self.tokens_per_batch = tokens_per_batch
        self.max_batch = max_batch
        self._sha256 = sha256
        self._source_key = None
        # device: "cpu", or "cuda" (ONNX Runtime's CUDA provider: device.py); `threads`: the
        # cores this process may use (a Ray actor is given one: its node's other cores are other actors')
        self.device, self._threads = device, threads
        if device == "cuda":  # one session on the GPU takes every batch, and bigger ones pay there
            bulk, self.tokens_per_batch, self.max_batch = "onnxruntime", 16384, 256
        try:
            config = _read_json(folder / "sentence_bert_config.json")
            pooling = _read_json(folder / "1_Pooling" / "config.json")
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # missing or malformed files of the model folder
            raise QAError(f"cannot read the tokenizer of model {spec.name!r}: {exc}", status=503) from exc
        if pooling and not pooling.get("pooling_mode_mean_tokens", True):
            raise QAError(f"model {spec.name!r} does not use mean pooling; use QA_BACKEND=torch", status=503)
        max_length = int(config.get("max_seq_length") or 512)
        self._tokenizer.no_padding()  # batches are padded here, each to its longest text
        self._tokenizer.enable_truncation(max_length=max_length)
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        if not self.onnx_path.is_file():
            raise QAError(f"the ONNX model {self.onnx_path} is missing: run `qa index` to rebuild it", status=503)
        # Many batches at once (indexing) run on OpenVINO when `bulk` is "openvino" and it is installed
        # (fp32 models only: an int8 one stays on ONNX Runtime), else on one ONNX Runtime session per core.
        self._bulk = bulk if bulk == "openvino" and not quantized else "onnxruntime"
        self._openvino = None
        self._word_piece: np.ndarray | None = None  # word_pieces' answer for every token id, made on first use
        self._bulk_sessions: list = []  # made on the first encode of several batches (indexing)
        self._bulk_lock = threading.Lock()
        # `lazy` (an update, which may have nothing to embed) defers ONNX Runtime's session, 0.2-0.3 s
        # here, to the first encode; the width the model folder declares stands in until then
        self._declared_dimension = pooling.get("word_embedding_dimension")
        self._session, self._inputs, self._dimension = None, [], None
        if not lazy or not self._declared_dimension:
            self._open()

    @property
    def dimension(self) -> int:
        return self._dimension if self._dimension is not None else int(self._declared_dimension)

    def _open(self):
        """The session questions (and single batches) run on, made and checked on first use."""
        if self._session is not None:
            return self._session
        try:
            session = self._new_session(self._cores())
        except QAError:
            raise
        except Exception as exc:  # a truncated or foreign file: say which, not a traceback
            raise QAError(f"the ONNX model {self.onnx_path} is corrupt ({str(exc).splitlines()[0][:200]}): "
                          "run `qa index` to rebuild it", status=503) from exc
        inputs = [i.name for i in session.get_inputs()]
        if not set(inputs) <= set(INPUTS) or "input_ids" not in inputs:
            raise QAError(f"the ONNX model {self.onnx_path} has unexpected inputs {inputs}: "
                          "run `qa index` to rebuild it", status=503)
        width = session.get_outputs()[0].shape[-1]
        dimension = int(width) if isinstance(width, int) else int(self._declared_dimension)
        if self._dimension is None and self._declared_dimension and dimension != int(self._declared_dimension):
            raise QAError(f"the ONNX model {self.onnx_path} gives {dimension}-dimensional vectors where its "
                          f"model folder declares {self._declared_dimension}: run `qa index` to rebuild it",
                          status=503)
        self._session, self._inputs, self._dimension = session, inputs, dimension
        return session

    def _new_session(self, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle worker threads sleep instead of spinning: a server's HTTP threads need those cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.device != "cuda":
            return ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
        with warnings.catch_warnings():  # ONNX Runtime's own fallback warning: the QAError below says it once
            warnings.simplefilter("ignore")
            session = ort.InferenceSession(str(self.onnx_path), options, providers=[CUDA_PROVIDER, "CPUExecutionProvider"])
        if CUDA_PROVIDER not in session.get_providers():  # ONNX Runtime fell back: no GPU, or no CUDA libraries
            raise QAError(cuda_failure("ONNX Runtime could not open the GPU (no CUDA device visible, or CUDA/cuDNN "
                                       "libraries missing)"), status=400)
        return session

    def _cores(self) -> int:
        return self._threads or _cores()

    def _sessions_for(self, batch_count: int) -> list:
        """One session with a thread per core for a single batch (a question, or a few); for many
        batches (indexing), one single-thread session per core, each run from its own Python thread:
        measured here 15-20% more passages/s than one session splitting every matrix product."""
        cores = self._cores()
        if batch_count < 2 or cores < 2 or self.device == "cuda":
            return [self._open()]
        with self._bulk_lock:
            if not self._bulk_sessions:
                self._bulk_sessions = [self._new_session(1) for _ in range(cores)]
        return self._bulk_sessions

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = file_sha256(self.onnx_path)
        return self._sha256

    def encode(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        """L2-normalized float32 rows, one per text, in order (batched by length for speed), by ONNX
        Runtime: the vectors of sentence-transformers. Questions are always embedded this way."""
        return self._encode(texts, progress, openvino=False)

    def encode_passages(self, texts: list[str], progress: Progress | None = None, part: bool = False) -> np.ndarray:
        """As `encode`, for indexing: by OpenVINO when it is wanted and installed (bf16 on CPUs with
        bf16 units: cosines to `encode`'s vectors of 0.9999 and more, several times faster). `part`:
        the texts are whole batches of a bigger call (`batches`), run as that call runs them, even one."""
        return self._encode(texts, progress, openvino=True, part=part)

    def batches(self, texts: list[str]) -> list[np.ndarray]:
        """The rows of `texts` that `encode_passages` runs together, in the order it runs them: a Ray
        pool (scaleout/) hands each worker whole batches, so every text is padded with the texts it is
        padded with here and its bf16 vector is this machine's to the bit."""
        lengths = np.array([len(e.ids) for e in self._tokenizer.encode_batch([str(t).strip() for t in texts])])
        return list(self._batches(np.argsort(-lengths, kind="stable"), lengths))

    def _encode(self, texts: list[str], progress: Progress | None, openvino: bool, part: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        self._open()  # its input names feed every runtime
        encodings = self._tokenizer.encode_batch([str(t).strip() for t in texts])  # as sentence-transformers
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        batches = list(self._batches(order, lengths))
        openvino = self._openvino_bulk() if openvino and (len(batches) > 1 or part) else None
        if openvino is not None:
            lock = threading.Lock()

            def pooled(rows, hidden) -> None:
                self._pool(hidden, rows, lengths, out)
                if progress:
                    with lock:
                        progress(len(rows))

            openvino.run(((rows, self._feed(rows, encodings, lengths)) for rows in batches), pooled)
            return out
        sessions = self._sessions_for(len(batches))
        if len(sessions) == 1:
            for rows in batches:
                self._encode_batch(sessions[0], rows, encodings, lengths, out)
                if progress:
                    progress(len(rows))
            return out
        # Several sessions take batches off one queue, each from its own thread (ONNX Runtime
        # releases the GIL while it runs); every batch writes its own rows of `out`.
        pending, lock, failures = iter(batches), threading.Lock(), []

        def work(session) -> None:
            try:
                while True:
                    with lock:
                        rows = next(pending, None)
                    if rows is None:
                        return
                    self._encode_batch(session, rows, encodings, lengths, out)
                    if progress:
                        with lock:
                            progress(len(rows))
            except BaseException as exc:  # re-raised in the caller's thread
                failures.append(exc)

        workers = [threading.Thread(target=work, args=(s,), name="qa-encode", daemon=True) for s in sessions]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if failures:
            raise failures[0]
        return out

    def encode_tokens(self, texts: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each text's token vectors (tokens × dimension, float32, each L2-normalized) and token ids,
        by ONNX Runtime on the question session: the same forward pass whose mean is `encode`'s
        vector, for late interaction (search/rerank.py). `encode` is untouched."""
        self._open()
        encodings = self._tokenizer.encode_batch([str(t).strip() for t in texts])
        lengths = np.array([len(e.ids) for e in encodings])
        vectors: list[np.ndarray] = [np.zeros((0, self.dimension), dtype=np.float32)] * len(texts)
        ids: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(texts)
        for rows in self._batches(np.argsort(-lengths, kind="stable"), lengths):
            hidden = self._session.run(None, self._feed(rows, encodings, lengths))[0]
            for r, i in enumerate(rows.tolist()):
                tokens = hidden[r, : lengths[i]].astype(np.float32)
                vectors[i] = tokens / np.clip(np.linalg.norm(tokens, axis=1, keepdims=True), 1e-12, None)
                ids[i] = np.asarray(encodings[i].ids, dtype=np.int64)
        return vectors, ids

    def word_pieces(self, token_ids: np.ndarray) -> np.ndarray:
        """True for each token of `token_ids` that holds a letter or digit (not [CLS], [SEP], punctuation)."""
        if self._word_piece is None:
            import re

            vocabulary = self._tokenizer.get_vocab()
            self._word_piece = np.zeros(max(vocabulary.values(), default=0) + 1, dtype=bool)
            for token, token_id in vocabulary.items():
                self._word_piece[token_id] = bool(re.search(r"\w", token)) and not re.fullmatch(r"\[\w+\]", token)
        return self._word_piece[np.asarray(token_ids, dtype=np.int64)]

    @property
    def passage_encoder(self) -> str:
        """What embeds many texts at once (the index's passages): "openvino bf16", "onnxruntime fp32", ..."""
        if self._bulk == "openvino" and self._openvino is None:
            # not compiled yet (an update may have nothing to embed): the name OpenVINO's CPU device
            # would compile it under, 0.2 s where compiling takes 0.5-1.7 s here
            from . import openvino_bulk

            predicted = openvino_bulk.predicted_name() if openvino_bulk.available() else None
            if predicted is not None:
                return predicted
        openvino = self._openvino_bulk()
        if openvino is not None:
            return openvino.name
        where = " cuda" if self.device == "cuda" else ""  # GPU vectors differ from the CPU's in the last digits
        return f"onnxruntime{where} {'int8' if self.quantized else 'fp32'}"

    def _openvino_bulk(self):
        """The OpenVINO runner for bulk encoding, compiled on first use; None when not wanted or not
        installed (or when it cannot compile the model: ONNX Runtime then does the work)."""
        if self._bulk != "openvino":
            return None
        if self._openvino is None:
            from . import openvino_bulk

            try:
                self._openvino = openvino_bulk.OpenVinoBulk(self.onnx_path, self._threads) \
                    if openvino_bulk.available() else False
            except Exception as exc:  # noqa: BLE001 - an OpenVINO that cannot take the model: not fatal
                stderr_warn(f"OpenVINO cannot run {self.onnx_path.name} ({exc}); using ONNX Runtime")
                self._openvino = False
        return self._openvino or None

    def _encode_batch(self, session, rows: np.ndarray, encodings, lengths: np.ndarray, out: np.ndarray) -> None:
        """Embed the texts at `rows` (one padded batch) into those rows of `out`."""
        feed = self._feed(rows, encodings, lengths)
        self._pool(session.run(None, feed)[0], rows, lengths, out)

    def _feed(self, rows: np.ndarray, encodings, lengths: np.ndarray) -> dict[str, np.ndarray]:
        """The model's inputs for the texts at `rows`, padded to the longest of them."""
        width = int(lengths[rows].max())
        ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            e, n = encodings[i], lengths[i]
            ids[r, :n], mask[r, :n], types[r, :n] = e.ids, 1, e.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {name: feed[name] for name in self._inputs}

    @staticmethod
    def _pool(hidden: np.ndarray, rows: np.ndarray, lengths: np.ndarray, out: np.ndarray) -> None:
        """Mean of each text's token embeddings (padding left out), normalized, into its row of `out`."""
        mask = (np.arange(hidden.shape[1])[None, :] < lengths[rows][:, None]).astype(np.float32)
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
        out[rows] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def _batches(self, order: np.ndarray, lengths: np.ndarray):
        """Rows, longest first, in batches of at most `tokens_per_batch` padded tokens and `max_batch`
        rows: short texts such as sentences go many to a batch, long ones few."""
        start = 0
        while start < len(order):
            width = max(int(lengths[order[start]]), 1)  # the longest of this batch, as order is descending
            size = max(1, min(self.max_batch, self.tokens_per_batch // width))
            yield order[start : start + size]
            start += size


def load_onnx_embedder(spec: ModelSpec, kept: tuple[Path, dict] | None = None, int8: bool = False,
                       warn: Warn | None = None, bulk: str = "openvino", lazy: bool = False,
                       device: str = "cpu", threads: int | None = None) -> OnnxEmbedder | None:
    """The ONNX embedder for `spec`, or None (with a warning) when the torch one must be used instead.

    With `kept` (an index's ONNX file and its manifest record, for the same model), that file is used,
    so asking never needs torch; a recorded but missing or wrong-sized file is a QAError. Otherwise
    the export cached for the model folder is used, made first if need be.
    """
    warn = warn or stderr_warn
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as exc:
        warn(f"{exc.name} is not installed; using sentence-transformers on torch (slow to start)")
        return None
    if not is_sentence_transformers_folder(spec.path):
        return None  # a hub name, not a folder: only sentence-transformers can resolve it
    if kept is not None:
        path, record = Path(kept[0]), kept[1]
        if not path.is_file():
            raise QAError(f"index at {path.parent} is missing its {path.name}: run `qa index` to rebuild it",
                          status=503)
        if record.get("size") is not None and path.stat().st_size != record["size"]:
            raise QAError(f"index at {path.parent} has a corrupt {path.name} (its size does not match the "
                          "manifest): run `qa index` to rebuild it", status=503)
        return OnnxEmbedder(spec, path, sha256=record.get("sha256"), quantized=bool(record.get("quantized")),
                            bulk=bulk, lazy=lazy, device=device, threads=threads)
    try:
        path, digest = ensure_onnx(spec, int8=int8, warn=warn)
    except Exception as exc:  # no torch or transformers, an architecture the exporter cannot take, ...
        warn(f"cannot export {spec.name} to ONNX ({str(exc).splitlines()[0] if str(exc) else exc!r}); "
             "using sentence-transformers on torch")
        return None
    return OnnxEmbedder(spec, path, sha256=digest, quantized=int8, bulk=bulk, lazy=lazy, device=device, threads=threads)


def onnx_for_index(embedder, warn: Warn | None = None) -> tuple[Path, dict] | None:
    """The ONNX file to keep beside an index built by `embedder`, and its manifest record (or None).

    An OnnxEmbedder gives its own file; the torch one gives the cached export of its model, made now
    (torch is loaded already). Any other embedder, or a failed export, gives None: asking then falls
    back to the cache or to torch.
    """
    from .models import SentenceTransformerEmbedder, resolve_model

    try:
        if isinstance(embedder, OnnxEmbedder):
            path, digest, quantized = embedder.onnx_path, embedder.sha256, embedder.quantized
        elif isinstance(embedder, SentenceTransformerEmbedder):
            spec = resolve_model(embedder.model)
            if not is_sentence_transformers_folder(spec.path):
                return None
            path, digest = ensure_onnx(spec, warn=warn)
            quantized = False
        else:
            return None
        record = {"file": ONNX_FILE, "sha256": digest, "size": Path(path).stat().st_size, "quantized": quantized}
        return Path(path), record
    except Exception as exc:  # the index is still good without it; asking will use the cache or torch
        (warn or stderr_warn)(f"no ONNX model kept beside the index ({exc})")
        return None


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
