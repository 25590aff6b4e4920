"""Answerability: decide when the corpus does not hold the answer, so `qa` can say so.

Similarity scores alone cannot tell "not in the corpus" from a paraphrase here (on the
hand-written set the two ranges overlap), so abstention rests on evidence a reader would check:
- a name the question asks about (two or more capitalized words) that the corpus never uses;
- a question for a year or a quantity whose best passages hold no year or number at all.
- a question nothing in the corpus is about: its closest passage is nearly orthogonal to it.
Each rule was calibrated on eval/questions.jsonl to mark no answerable question unanswerable.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)+")
_ASKS_YEAR = re.compile(r"^\W*(?:by\s+)?when\b|\b(?:what|which)\s+year\b", re.IGNORECASE)
_ASKS_AMOUNT = re.compile(r"\bhow\s+(?:many|much)\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)s?\b")
_AMOUNT = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundreds?|thousands?|millions?|billions?|dozens?|first|second|third|fourth|fifth|half|single|"
    r"several|few|all)\b",
    re.IGNORECASE,
)


def unknown_names(question: str, knows_word) -> list[str]:
    """Multi-word names in the question with a word the corpus never uses (`knows_word(word)`)."""
    names = []
    for match in _NAME.finditer(question):
        words = match.group().split()
        if not question[: match.start()].strip(" \"'¿("):
            words = words[1:]  # the first word is capitalized as the sentence's start, not as a name
        if len(words) >= 2 and not all(knows_word(w) for w in words):
            names.append(" ".join(words))
    return names


EVIDENCE_DEPTH = 3  # how many of the best passages are read for a year or a number
# Below this cosine to its closest passage a question is off the corpus's topic (with
# all-MiniLM-L6-v2: off-topic probes score 0.02-0.18, the hand-written questions 0.25 and up).
OFF_TOPIC_COSINE = 0.2


def expected_type(question: str) -> str | None:
    """'year' when the question asks when, 'number' when it asks how many or how much, else None."""
    if _ASKS_YEAR.search(question):
        return "year"
    if _ASKS_AMOUNT.search(question):
        return "number"
    return None


def holds(answer_type: str, text: str) -> bool:
    """Whether `text` contains a year (or a number, for 'number')."""
    return bool((_YEAR if answer_type == "year" else _AMOUNT).search(text))


def missing_answer_type(question: str, passages: list[str]) -> str | None:
    """'year' or 'number' when the question asks for one and none of the best passages holds one."""
    answer_type = expected_type(question)
    if not passages or answer_type is None:
        return None
    return None if holds(answer_type, " ".join(passages[:EVIDENCE_DEPTH])) else answer_type


def is_answerable(question: str, passages: list[str], knows_word, best_cosine: float = 1.0) -> bool:
    """False when the corpus evidently does not hold the answer to `question`.

    `passages` are the texts of the best passages, best first; `knows_word(word)` says whether the
    corpus uses a word; `best_cosine` is the question's cosine to its closest passage.
    """
    return (
        best_cosine >= OFF_TOPIC_COSINE
        and not unknown_names(question, knows_word)
        and missing_answer_type(question, passages) is None
    )
