"""The Qdrant store's layout: vector names, point ids, payloads, and the BM25 sparse vectors.

A collection holds one point a passage: a dense `passage` vector (cosine), a `sentences`
multivector (MAX_SIM: a question's best-sentence cosine), a sparse `bm25` vector, and the passage
as payload. Its side collection `<name>__qa` holds the manifest record, one record a document
(kind, pages, sections, file hash) and the documents' texts in parts.

BM25 as sparse vectors: a term's index is a 32-bit hash of the term (no global vocabulary, so a
document can be added alone); a passage's weights are bm25s's Lucene term-frequency part
tf / (tf + k1·(1 − b + b·dl/avgdl)) with avgdl recorded when the collection was first built; a
question's weights are how often it says each term; Qdrant's IDF modifier multiplies in
ln(1 + (N − df + 0.5)/(df + 0.5)) over the points holding a `bm25` vector, bm25s's Lucene IDF.
So a passage's score is the local store's exactly while avgdl is the corpus's (docs/scale-out.md).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass

from ...ingest.passages import Passage
from ..lexical import B, K1, Analyzer  # the local BM25's k1 and b: one set of constants

FORMAT = "qa-qdrant"
FORMAT_VERSION = 1
PASSAGE, SENTENCES, BM25 = "passage", "sentences", "bm25"
SIDE_SUFFIX = "__qa"
EMPTY_TERM = "\x00"  # a passage with no indexable word, as the local BM25 gives it: a term no question has
TEXT_PART_CHARS = 1 << 20  # a document's text is kept in parts of this many characters (request size limits)
_NAMESPACE = uuid.UUID("6f1c4d0e-8a53-5b7e-9a1f-2d4c7b9e0a15")  # qa's own UUIDv5 namespace


def point_id(passage_id: str) -> str:
    """The passage's point id: a UUIDv5 of its id, so writing a passage again replaces it."""
    return str(uuid.uuid5(_NAMESPACE, passage_id))


def record_id(kind: str, *parts: object) -> str:
    """A side-collection record's id (`manifest`; `doc`, name; `text`, name, part)."""
    return str(uuid.uuid5(_NAMESPACE, "\0".join([kind, *map(str, parts)])))


def side_name(collection: str) -> str:
    return collection + SIDE_SUFFIX


def term_index(term: str) -> int:
    """A term's sparse dimension: 32 bits of its BLAKE2b digest (two terms may share one, rarely:
    ~1 pair in 8,600 for a 100,000-term vocabulary)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8", "surrogatepass"), digest_size=4).digest(), "big")


@dataclass(frozen=True)
class SparseBM25:
    """Passages and questions as `bm25` sparse vectors, (indices, values), under one analyzer and avgdl."""

    analyzer: Analyzer
    avgdl: float

    def terms(self, text: str) -> list[str]:
        return self.analyzer(text) or [EMPTY_TERM]

    def passage(self, passage: Passage) -> tuple[list[int], list[float]]:
        counts = Counter(self.terms(passage.lexical_text()))
        norm = K1 * (1 - B + B * sum(counts.values()) / self.avgdl)
        return _sparse({term_index(t): tf / (tf + norm) for t, tf in counts.items()})

    def question(self, question: str) -> tuple[list[int], list[float]]:
        """The question's terms, each weighted by how often it occurs (the local BM25 sums a repeated
        term's postings once for each time); empty when it has no indexable word."""
        counts = Counter(self.analyzer(question))
        return _sparse({term_index(t): float(n) for t, n in counts.items()})


def _sparse(weights: dict[int, float]) -> tuple[list[int], list[float]]:
    indices = sorted(weights)
    return indices, [float(weights[i]) for i in indices]


def average_length(analyzer: Analyzer, passages: list[Passage]) -> float:
    """The mean analyzed length of the passages' BM25 texts (a passage with no word counts 1, as in bm25s)."""
    return sum(len(analyzer(p.lexical_text()) or [EMPTY_TERM]) for p in passages) / max(len(passages), 1)


def passage_payload(passage: Passage, file_sha256: str | None, spans) -> dict:
    """What a passage's point carries: the passage, its file's hash, its sentences' (start, end)
    offsets, one a vector of its `sentences` multivector."""
    return {**passage.to_dict(), "sha256": file_sha256, "sentences": [[int(a), int(b)] for a, b in spans]}


def payload_passage(payload: dict) -> Passage:
    return Passage(**{k: payload[k] for k in ("id", "doc", "title", "section", "ordinal", "start", "end", "text")},
                   page=payload.get("page"))


def text_parts(text: str) -> list[str]:
    return [text[i : i + TEXT_PART_CHARS] for i in range(0, len(text), TEXT_PART_CHARS)] or [""]
