"""A cross-encoder from a local sentence-transformers CrossEncoder folder: exported to ONNX once (cached), run on ONNX Runtime."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..cache import cache_dir
from ..errors import QAError
from .onnx_export import INPUTS, model_key

CROSS_ONNX_FILE = "cross-encoder.onnx"
MAX_PAIRS_PER_BATCH = 16  # pairs of up to 512 tokens: a batch stays within a few MB of activations


class CrossEncoder:
    """One relevance score (the model's logit) per (question, passage) pair, batch first."""

    def __init__(self, folder: Path, onnx_path: Path, max_length: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = folder
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_length, strategy="only_second")
        self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id("[PAD]") or 0)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a truncated cached export
            raise QAError(f"the cross-encoder's ONNX export {onnx_path} is corrupt: delete it to export "
                          f"it again ({str(exc).splitlines()[0][:200]})") from exc
        self._inputs = [i.name for i in self._session.get_inputs()]

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """The model's score of each (question, passage) pair, higher is more relevant."""
        out = np.zeros(len(pairs), dtype=np.float32)
        for start in range(0, len(pairs), MAX_PAIRS_PER_BATCH):
            batch = pairs[start : start + MAX_PAIRS_PER_BATCH]
            encodings = self._tokenizer.encode_batch([(q, p) for q, p in batch])
            feed = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
            logits = self._session.run(None, {name: feed[name] for name in self._inputs})[0]
            out[start : start + len(batch)] = np.asarray(logits, dtype=np.float32).reshape(len(batch), -1)[:, 0]
        if not np.isfinite(out).all():
            raise QAError(f"the cross-encoder at {self.folder} gave scores that are not numbers (NaN or "
                          "infinite): it cannot rank passages", status=422)
        return out


def load_cross_encoder(folder: str | Path) -> CrossEncoder:
    """The cross-encoder in `folder` (checked, then exported to ONNX once and cached); never downloaded."""
    folder = Path(folder).expanduser()
    config = _check_folder(folder)
    onnx_path = cache_dir() / "cross-encoders" / model_key(folder) / CROSS_ONNX_FILE
    if not onnx_path.is_file():
        try:
            export_cross_encoder(folder, onnx_path)
        except QAError:
            raise
        except Exception as exc:  # weights that do not load, an architecture the exporter cannot take
            raise QAError(f"cannot export the cross-encoder at {folder} to ONNX: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else exc!r}", status=422) from exc
    limits = [config.get("max_position_embeddings") or 512, _declared_max_length(folder) or 512]
    return CrossEncoder(folder, onnx_path, int(min(limits)))


def _check_folder(folder: Path) -> dict:
    """The folder's config.json, once it is shown to be a one-score sequence classifier whose
    tokenizer fits its vocabulary; else a QAError saying what it is not."""
    if not folder.is_dir():
        raise QAError(f"--reranker {folder}: no such folder", status=422)
    missing = [name for name in ("config.json", "tokenizer.json") if not (folder / name).is_file()]
    if missing:
        raise QAError(f"{folder} is not a cross-encoder folder: it has no {' or '.join(missing)} "
                      "(save one with sentence-transformers' CrossEncoder.save)", status=422)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as exc:  # malformed JSON of either file
        raise QAError(f"{folder} is not a cross-encoder folder: {str(exc).splitlines()[0][:200]}", status=422) from exc
    architectures = config.get("architectures") or []
    labels = len(config.get("id2label") or {}) or int(config.get("num_labels") or 2)
    if not any(a.endswith("ForSequenceClassification") for a in architectures) or labels != 1:
        raise QAError(f"{folder} is not a cross-encoder: its model is {', '.join(architectures) or 'unnamed'} "
                      f"with {labels} output(s), where a cross-encoder is a sequence classifier with one score",
                      status=422)
    vocabulary, tokens = int(config.get("vocab_size") or 0), tokenizer.get_vocab_size()
    if tokens > vocabulary or tokenizer.token_to_id("[PAD]") != config.get("pad_token_id", 0):
        raise QAError(f"the tokenizer in {folder} does not match its model ({tokens} tokens, [PAD] = "
                      f"{tokenizer.token_to_id('[PAD]')}, for a vocabulary of {vocabulary} with pad id "
                      f"{config.get('pad_token_id', 0)}): save the model with its own tokenizer", status=422)
    return config


def _declared_max_length(folder: Path) -> int | None:
    """The longest input the folder declares (sentence-transformers' or the tokenizer's config)."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"), ("config_sentence_transformers.json",
                                                                       "max_length"),
                      ("tokenizer_config.json", "model_max_length")):
        try:
            value = json.loads((folder / name).read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int) and 0 < value <= 100_000:
            return value
    return None


def export_cross_encoder(folder: Path, out_path: Path) -> Path:
    """Export the sequence classifier in `folder` to ONNX at `out_path` (atomically): logits from
    input_ids, attention_mask and token_type_ids, with dynamic batch and sequence axes."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from transformers.utils import logging as transformers_logging

    shown = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # its "Loading weights" bar: qa's stderr is one Error: line or quiet
    try:
        model = AutoModelForSequenceClassification.from_pretrained(str(folder), attn_implementation="eager").eval()
    finally:
        if shown:
            transformers_logging.enable_progress_bar()
    uses_types = getattr(model.config, "type_vocab_size", 0) > 0
    names = list(INPUTS if uses_types else INPUTS[:2])

    class Logits(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).logits

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".cross-export-", dir=out_path.parent))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Logits(model), tuple(torch.ones(2, 16, dtype=torch.long) for _ in names),
                              str(tmp / CROSS_ONNX_FILE), dynamo=False, input_names=names, output_names=["logits"],
                              opset_version=17, dynamic_axes={n: {0: "batch", 1: "sequence"} for n in names})
        os.replace(tmp / CROSS_ONNX_FILE, out_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_path
