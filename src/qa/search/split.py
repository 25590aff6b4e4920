"""A passage's text with the sentences its index stores: split once, when the index is built, not at every question."""

from __future__ import annotations

from ..ingest.passages import sentences


class SplitText(str):
    """A passage's text carrying its `sentences`, cut where the index's sentence spans cut it (the spans
    its sentence vectors and highlights come from), so the rules reading sentences need not split it again."""

    def __new__(cls, text: str, parts: list[str]) -> "SplitText":
        out = super().__new__(cls, text)
        out.sentences = parts
        return out


def sentences_of(text: str) -> list[str]:
    """The sentences of a passage's text: those its index stored (a SplitText), else split now (the same
    rules: ingest.passages.sentences)."""
    return text.sentences if isinstance(text, SplitText) else sentences(text)
