"""Second stage: the first stage's top N of each question scored again (late interaction or a cross-encoder) and fused.

Late interaction (ColBERT's MaxSim) is written here because it is ours: it reads the bundled
model's token vectors (embed/onnx.py `encode_tokens`), which no library hands over for an ONNX
Runtime session. The token vectors are computed at query time for the candidates: docs/rerank.md
weighs storing them at build time instead.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..errors import QAError, one_of

RERANKERS = ("none", "late", "cross")
DEFAULT_RERANKER = "none"
# How many of each question's best first-stage passages the second stage scores again: 20 ranked
# eval/mixed and eval/manuals as 30 did (10 lost a question of manuals at rank 1), for two thirds of the cost.
DEPTH = 20
# late: a top-N passage's score is its first-stage score plus LATE_WEIGHT times its MaxSim, min-max
# normalized over the N. Chosen on eval/mixed and eval/manuals from 0.1-1, min-max of both scores,
# reciprocal-rank fusion and MaxSim alone (eval/README.md, "A second stage (issue #35)").
LATE_WEIGHT = 0.2
# cross: the cross-encoder's order replaces the first stage's within the top N (as Haystack's,
# LlamaIndex's and txtai's rerankers do); its logistic score is what a hit shows.
CROSS_WEIGHT = None


def check_reranker(reranker: str | None) -> str:
    return DEFAULT_RERANKER if reranker is None else one_of(reranker, RERANKERS, "rerank", status=422)


def maxsim(query_tokens: np.ndarray, passage_tokens: Sequence[np.ndarray]) -> np.ndarray:
    """For each passage, the mean over the question's tokens of each one's best cosine among the
    passage's tokens (all unit rows); 0 for a passage or question with no tokens."""
    out = np.zeros(len(passage_tokens), dtype=np.float32)
    if not len(query_tokens):
        return out
    for i, tokens in enumerate(passage_tokens):
        if len(tokens):
            out[i] = float((query_tokens @ tokens.T).max(axis=1).mean())
    return out


def fuse(first: np.ndarray, second: np.ndarray, top: np.ndarray, weight: float | None) -> np.ndarray:
    """One question's scores (over its candidates) with its `top` rows scored again by `second`
    (one score per row of `top`): first + weight * min-max(second), or with `weight` None the
    logistic of `second` alone (first-stage order breaks its ties). The other candidates keep their
    order below every one of `top`."""
    out = np.asarray(first, dtype=np.float64).copy()
    if not len(top):
        return out.astype(np.float32)
    second = np.asarray(second, dtype=np.float64)
    if weight is None:
        tie_break = 1e-6 * (out[top] - out[top].min())
        new = 1.0 / (1.0 + np.exp(-np.clip(second, -50, 50))) + tie_break
    else:
        span = second.max() - second.min()
        new = out[top] + weight * ((second - second.min()) / span if span > 0 else np.zeros_like(second))
    rest = np.ones(len(out), dtype=bool)
    rest[top] = False
    rest &= np.isfinite(out)
    if rest.any():  # shifted, not reordered, so that a k past the top N still lists them after it
        out[rest] -= out[rest].max() - new.min() + 1e-3
    out[top] = new
    return out.astype(np.float32)


class SecondStage:
    """Scores a batch of questions' top N again: `late` with the embedder's token vectors, `cross`
    with a cross-encoder (embed/cross_encoder.py), loaded on first use from `cross_encoder_dir`."""

    def __init__(self, embedder, cross_encoder_dir=None, depth: int = DEPTH) -> None:
        self.embedder = embedder
        self.cross_encoder_dir = cross_encoder_dir
        self.depth = depth
        self._cross = None

    def rescore(self, reranker: str, questions: list[str], scores: list[np.ndarray],
                text_of: Callable[[int], str]) -> list[np.ndarray]:
        """Each question's scores (over the candidates) with its top N fused with the second stage's;
        `text_of(row)` is a candidate's passage text. Every distinct passage is run once per batch."""
        reranker = check_reranker(reranker)
        if reranker == "none":
            return scores
        tops = [_top(row, self.depth) for row in scores]
        rows = sorted({int(r) for top in tops for r in top})
        position = {r: i for i, r in enumerate(rows)}
        texts = [text_of(r) for r in rows]
        if reranker == "late":
            seconds, weight = self._late(questions, tops, texts, position), LATE_WEIGHT
        else:
            seconds, weight = self._cross_scores(questions, tops, texts, position), CROSS_WEIGHT
        return [fuse(row, second, top, weight) for row, second, top in zip(scores, seconds, tops)]

    def _late(self, questions, tops, texts, position) -> list[np.ndarray]:
        encode_tokens = getattr(self.embedder, "encode_tokens", None)
        if encode_tokens is None:
            raise QAError("late interaction needs the ONNX embedder's token vectors (not QA_BACKEND=torch)",
                          status=422)
        # only word pieces take part: [CLS], [SEP] and punctuation match anything (measured on
        # eval/manuals: Hit@1 0.485 with them, 0.545 without, the latter replacing the first stage)
        query_tokens = _word_pieces(self.embedder, *encode_tokens(questions))
        passage_tokens = _word_pieces(self.embedder, *encode_tokens(texts))
        return [maxsim(q, [passage_tokens[position[int(r)]] for r in top]) for q, top in zip(query_tokens, tops)]

    def _cross_scores(self, questions, tops, texts, position) -> list[np.ndarray]:
        if self.cross_encoder_dir is None:
            # 409: a request may ask for it (the schema offers it), but this server or run has none
            raise QAError("rerank cross needs a cross-encoder: give --reranker DIR (a sentence-transformers "
                          "CrossEncoder folder)", status=409)
        if self._cross is None:
            from ..embed.cross_encoder import load_cross_encoder

            self._cross = load_cross_encoder(self.cross_encoder_dir)
        pairs = [(q, texts[position[int(r)]]) for q, top in zip(questions, tops) for r in top]
        flat = self._cross.score(pairs)
        bounds = np.cumsum([0] + [len(top) for top in tops])
        return [flat[a:b] for a, b in zip(bounds, bounds[1:])]


def _top(scores: np.ndarray, depth: int) -> np.ndarray:
    """The rows of the `depth` best finite scores, best first."""
    from .scoring import top_k

    return top_k(scores, min(depth, int(np.isfinite(scores).sum())))


def _word_pieces(embedder, vectors: list[np.ndarray], token_ids: list[np.ndarray]) -> list[np.ndarray]:
    """Each text's token vectors less those of tokens that are not word pieces (embedder.word_pieces)."""
    return [v[embedder.word_pieces(ids)] for v, ids in zip(vectors, token_ids)]
