"""Vectors an earlier build computed, found by the exact text they embed, so a rebuild embeds only new text."""

from __future__ import annotations

import numpy as np

from .passages import Passage


class KnownVectors:
    """Text → vector, from a loaded index: its passages' embedding texts and its sentences.

    Keyed by the text itself (not a hash): equal text, equal vector, and no collision to reason about.
    """

    def __init__(self, texts: list[str], vectors: np.ndarray) -> None:
        self.rows = {text: row for row, text in enumerate(texts)}
        self.vectors = vectors

    @classmethod
    def of_passages(cls, index) -> "KnownVectors":
        return cls([p.embedding_text() for p in index.passages], index.vectors())

    @classmethod
    def of_sentences(cls, index) -> "KnownVectors":
        return cls(sentence_texts(index.passages, index.sentence_spans), index.sentence_vectors)

    def fill(self, texts: list[str], out: np.ndarray) -> list[int]:
        """Write the known texts' vectors into their rows of `out`; the positions of the unknown ones."""
        missing = []
        for i, text in enumerate(texts):
            row = self.rows.get(text)
            if row is None:
                missing.append(i)
            else:
                out[i] = self.vectors[row]
        return missing


def sentence_texts(passages: list[Passage], spans: np.ndarray) -> list[str]:
    """The text of each sentence span (passage row, start, end), its offsets being the document's."""
    return [passages[row].text[a - passages[row].start : b - passages[row].start] for row, a, b in spans]
