"""Who questions: the answer type *someone acting*, and the question words BM25 should not search for.

A question asking *who* (not *who is X's ROLE*, which answerability.asked_role reads) wants a person,
an organization or a country that did something. A passage answers that kind of question when one
of its sentences names someone, other than the names the question itself uses, followed by a verb:
*"The US has been a key player…"*, *"Greg Parker wrote the Mac OS X port"*. A label–value table
(the rows of a table, as the passage splitter reads one) names no one acting, however many of the
question's words its labels repeat; nor does a sentence about an abstraction (*"the regime's response
has been complex"*). No named-entity model: a name is a run of capitalized words, the first word of a
sentence only when it is not a common sentence opener; a verb is an auxiliary, a common irregular
past tense, or a word ending in -ed or -s.
"""

from __future__ import annotations

import re

from ..ingest.passages import is_table
from .split import sentences_of

_ASKS_WHO = re.compile(r"^\W*(?:who|whom|whose)\b", re.IGNORECASE)
# capitalized at the start of a sentence without being a name
_OPENERS = frozenset("""
a about after all also although an and any as at before both but by despite each every few for from
furthermore he her here his however i if in it its many moreover most no not note of on one or our
overall several she since so some such that the their then there therefore these they this those
though through thus to under use we what when where which while who why with yes you your
additionally finally first see try
""".split())
_AUXILIARIES = frozenset("has have had is are was were did does do will would may might can could should must".split())
_IRREGULAR_PAST = frozenset("""
became began brought built came chose did drew found gave grew held kept knew led left made met ran
said sat saw sent set spoke stood told took thought understood went won wrote
""".split())
_WORD = re.compile(r"[A-Za-z][\w'’.\-/]*")

# Interrogatives and degree words of a question: they say what kind of answer is wanted, not what it
# is about, and BM25 (whose stopword list keeps them) would match them in headings and FAQ lines.
QUESTION_WORDS = frozenset("who whom whose what which when where why how most many much".split())
_TOKEN = re.compile(r"\S+")


def asks_who(question: str) -> bool:
    """True when the question asks who (whom, whose) did something."""
    return bool(_ASKS_WHO.search(question))


def _is_verb(word: str) -> bool:
    w = word.lower()
    if w in _AUXILIARIES or w in _IRREGULAR_PAST:
        return True
    return len(w) > 3 and (w.endswith("ed") or (w.endswith("s") and not w.endswith(("ss", "'s", "’s"))))


def actors(sentence: str) -> list[str]:
    """The names in `sentence` directly followed by a verb (who the sentence says did something)."""
    out: list[str] = []
    run: list[str] = []
    for word in _WORD.findall(sentence):
        possessive = word.endswith(("'s", "’s"))
        if word[0].isupper() and not possessive and (run or word.lower() not in _OPENERS):
            run.append(word)
            continue
        if run and _is_verb(word):
            out.append(" ".join(run))
        run = []
    return out


def passage_actors(text: str) -> tuple[str, ...]:
    """Everyone a passage's sentences name acting (none for a table: its rows are labels and values)."""
    if is_table(text):
        return ()
    return tuple(name for sentence in sentences_of(text) for name in actors(sentence))


def names_other_actor(names: tuple[str, ...], question: str) -> bool:
    """True when one of `names` (from `passage_actors`) is not made only of the question's own words."""
    asked = {w.strip(".,?!;:'\"").lower() for w in question.split()}
    return any(not all(w.strip(".").lower() in asked for w in name.split()) for name in names)


def lexical_query(question: str) -> str:
    """The question as BM25 searches it: without its interrogatives and degree words (QUESTION_WORDS)."""
    return " ".join(w for w in _TOKEN.findall(question) if re.sub(r"[^\w]", "", w.lower()) not in QUESTION_WORDS)
