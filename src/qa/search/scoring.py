"""Scoring: fuse dense, sentence-level and BM25 scores, and pick the top k (tuned weights live here).

The weights were chosen on the hand-written set and msmarco-5k with `qa eval --compare`;
eval/README.md records the runs. Fusion is written here because it is ours: no library
offers min-max convex fusion over a passage-and-sentence dense score.
"""

from __future__ import annotations

import numpy as np

# hybrid, in three steps (eval/README.md has the grid these were picked from):
# 1. a first pass fuses passage cosine and BM25 with HYBRID_WEIGHT;
# 2. Rocchio feedback moves the question vector towards its FEEDBACK_DEPTH best passages by FEEDBACK_WEIGHT;
# 3. dense score = PASSAGE_WEIGHT * passage cosine + (1 - PASSAGE_WEIGHT) * best sentence cosine, with the
#    moved vector, fused with BM25 again with HYBRID_WEIGHT.
HYBRID_WEIGHT = 0.8
FEEDBACK_DEPTH = 3
FEEDBACK_WEIGHT = 0.5
# 0.7 was chosen on the hand-written set. 0.85 (chosen looking at the mixed and unseen sets) tied on the
# unseen set and cost on the held-out manuals set (Hit@1 -2 questions, Hit@5 -1) and the hand-written one
# (-1), so 0.7 stays (eval/README.md, "Ablation (2026-12-02)").
PASSAGE_WEIGHT = 0.7
# 3b. a short passage is read with its context: its dense score moves towards its better neighbour's (the
#    passage before or after it in its section) by CONTEXT_WEIGHT * (1 - length / CONTEXT_LENGTH), nothing
#    from CONTEXT_LENGTH characters up. An option's description after the line naming it, a table row, a
#    list item: their neighbours say what they are about. Chosen on the hand-written, mixed, manuals and
#    unseen sets, kept on eval/holdout (eval/README.md, "Short passages read with their neighbours").
CONTEXT_WEIGHT = 0.5
CONTEXT_LENGTH = 400
# 4. a question that asks when (or how many) adds this to each passage holding a year (or a number).
ANSWER_TYPE_BONUS = 0.2
# 5. a question for who holds a role ("who is X's envoy") adds this to each passage with a sentence
#    naming the role and X: more than any fused score (at most 1), so such passages come first.
ROLE_BONUS = 1.0
# 6. a question asking who (and not who holds a role) adds this to each passage with a sentence naming
#    someone other than the question's names acting (search/actors.py): not to a table of labels.
WHO_BONUS = 0.2


def best_sentence(query_vectors: np.ndarray, sentence_vectors: np.ndarray, sentence_rows: np.ndarray,
                  passage_count: int) -> np.ndarray:
    """For each question and passage, the cosine of the passage's sentence closest to the question.

    `sentence_rows` (each sentence's passage row) is sorted, as the index writes it.
    """
    out = np.full((len(query_vectors), passage_count), -1.0, dtype=np.float32)
    if len(sentence_vectors):
        similarities = query_vectors @ sentence_vectors.T
        rows, starts = np.unique(sentence_rows, return_index=True)
        out[:, rows] = np.maximum.reduceat(similarities, starts, axis=1)
    return out


def with_context(dense: np.ndarray, lengths: np.ndarray, previous: np.ndarray, following: np.ndarray,
                 weight: float = CONTEXT_WEIGHT, length: int = CONTEXT_LENGTH) -> np.ndarray:
    """Dense scores (questions × passages) with each short passage's moved towards its better
    neighbour's: `previous[i]` / `following[i]` is passage i's neighbour's column, -1 for none."""
    neighbour = np.full(dense.shape, -np.inf, dtype=np.float32)
    for side in (previous, following):
        has = side >= 0
        neighbour[:, has] = np.maximum(neighbour[:, has], dense[:, side[has]])
    neighbour = np.where(np.isfinite(neighbour), neighbour, dense)
    share = weight * np.clip(1 - np.asarray(lengths, dtype=np.float32) / length, 0, 1)
    return dense + share * (neighbour - dense)


def rocchio(query_vectors: np.ndarray, scores: np.ndarray, passage_vectors: np.ndarray,
            depth: int = FEEDBACK_DEPTH, weight: float = FEEDBACK_WEIGHT) -> np.ndarray:
    """Pseudo-relevance feedback: each question vector plus `weight` times the mean of its `depth`
    best passages' vectors, normalized again."""
    moved = np.empty_like(query_vectors)
    for q, (vector, row) in enumerate(zip(query_vectors, scores)):
        centroid = passage_vectors[top_k(row, depth)].mean(axis=0)
        shifted = vector + weight * centroid
        moved[q] = shifted / max(float(np.linalg.norm(shifted)), 1e-12)
    return moved


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scale each row to [0, 1]; a constant row becomes zeros."""
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return np.divide(scores - low, span, out=np.zeros_like(scores, dtype=np.float32), where=span > 0)


def fuse(dense: np.ndarray, lexical: np.ndarray, weight: float = HYBRID_WEIGHT) -> np.ndarray:
    """Convex combination of per-question min-max normalized dense and BM25 scores."""
    return weight * minmax(dense) + (1 - weight) * minmax(lexical)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the k highest scores, best first; ties go to the earlier passage."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.lexsort((top, -scores[top]))]


# A passage from a section already in the results counts this much less (scores are min-max
# normalized): a passage from a new section within the margin goes first, so near-ties, as a broad
# question produces, are spread across sections; a clearly better passage keeps its place. In a paged
# document the unit is a section's page (retrieval._section_ids), so a section running over many
# pages (a man page's OPTIONS) is not pushed down as one.
DIVERSITY_MARGIN = 0.1


def pool_size(k: int) -> int:
    """How many of the best rows `diversify` chooses its k from."""
    return max(k * 5, 50)


def diversify(scores: np.ndarray, section_of, k: int,
              margin: float = DIVERSITY_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """Top k rows best first, and their ranking scores: a row's score less `margin` when a row above
    it is from its section (`section_of(rows)`: an integer per row naming its section). Greedy on
    those scores, so they descend as shown."""
    pool = top_k(scores, min(len(scores), pool_size(k)))
    sections = section_of(pool)
    pool_scores = scores[pool].astype(np.float64)
    seen_penalty = np.zeros(len(pool))
    taken = np.zeros(len(pool), dtype=bool)
    rows, shown = [], []
    for _ in range(min(k, len(pool))):
        effective = np.where(taken, -np.inf, pool_scores - seen_penalty)
        best = int(np.argmax(effective))  # the first of equals: the better passage
        rows.append(pool[best])
        shown.append(effective[best])
        taken[best] = True
        seen_penalty[sections == sections[best]] = margin
    return np.array(rows, dtype=np.int64), np.array(shown, dtype=np.float32)
