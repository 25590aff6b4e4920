"""Answerability: decide when the corpus does not hold the answer, so `qa` can say so.

Similarity scores alone cannot tell "not in the corpus" from a paraphrase here (on the
hand-written set the two ranges overlap), so abstention rests on evidence a reader would check:
- a name the question asks about (two or more capitalized words) that the corpus never uses;
- a question for a year, a quantity or a sum of money whose best passages hold none at all;
- a question for the holder of a role or the value of an attribute ("who is X's envoy", "what is
  the population of X"), or for how many of a thing there are, whose role, attribute or thing the
  corpus never names: a reader can paraphrase around the other words of a question, but a text that
  never names the role cannot say who holds it, nor count what it never names;
- a question for the holder of a role ("who is China's foreign minister") whose best passages have
  no sentence naming that role together with whose it is: a title is written as the title, next to
  the country or body it belongs to ("North Korea's vice foreign minister, Choe Son Hui");
- a question for the "first" (second, ...) of something whose best passages number that thing
  only otherwise ("the third nuclear test" does not date the first);
- a question for the release or version that brought something in ("which release added X") whose
  best passages hold no version number beside that thing: a release is named by its number;
- a question nothing in the corpus is about: its closest passage is nearly orthogonal to it.
Each rule was calibrated on eval/questions.jsonl to mark no answerable question unanswerable; the
release rule was designed on eval/mixed and checked on the held-out eval/manuals (eval/README.md).
"""

from __future__ import annotations

import re

from .split import sentences_of

_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)+")
# A leading "when" asks for a time unless it opens a clause that a question after a comma follows
# ("When bc is started with -l, what scale is in effect?" asks what, not when).
_ASKS_YEAR = re.compile(r"^\W*(?:by\s+)?when\b(?![^,?]*,\s*(?:what|which|who|whom|whose|how|where|why|is|are|was|"
                        r"were|do|does|did|can|could|will|would|should|must|may)\b)|\b(?:what|which)\s+year\b",
                        re.IGNORECASE)
_ASKS_AMOUNT = re.compile(r"\bhow\s+(?:many|much)\b", re.IGNORECASE)
_MONEY_WORDS = r"(?:dollars?|euros?|pounds?|yuan|yen|usd|eur|gbp|cost|costs|costing|worth|price[sd]?|pay|paid|spend|spent|budget|money|funding)"
_ASKS_MONEY = re.compile(rf"\bhow\s+much\b.*\b{_MONEY_WORDS}\b|\bhow\s+many\s+(?:dollars|euros|pounds)\b",
                         re.IGNORECASE)
_MONEY = re.compile(r"[$€£¥]\s?\d|\d\s?[$€£¥]|\b(?:dollars?|euros?|pounds sterling|yuan|yen|usd|eur|gbp)\b|"
                    r"\d(?:[\d,.]*)\s*(?:million|billion|trillion|bn|m)\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)s?\b")
# A number written as a word counts as one: every cardinal up to twenty and the tens up to ninety
# ("delays t seconds (default fifteen)" answers "how many seconds").
_AMOUNT = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
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
    """'year' when the question asks when, 'money' when it asks how much something costs or is worth
    (or how many dollars), 'number' for any other how many or how much, else None."""
    if _ASKS_YEAR.search(question):
        return "year"
    if _ASKS_MONEY.search(question):
        return "money"
    if _ASKS_AMOUNT.search(question):
        return "number"
    return None


_TYPE_PATTERNS = {"year": _YEAR, "money": _MONEY, "number": _AMOUNT}


def holds(answer_type: str, text: str) -> bool:
    """Whether `text` contains an answer of `answer_type`: a year, a sum of money or a number."""
    return bool(_TYPE_PATTERNS[answer_type].search(text))


# "Who is [the] [X's] ROLE [of|for|to ...]" and "What is the ATTRIBUTE of X": the asked-for role or
# attribute, one to three lowercase words or acronyms (a capitalized word is a name: the unknown-name
# rule's). A role is a noun: "who is in charge of X", "who is behind X" ask for no role's name.
_ASKS_ROLE = re.compile(
    r"^\W*(?i:who)\s+(?:is|was|are|were)\s+(?P<article>the\s+|an?\s+)?(?:(?P<owner>[\w .'’-]+?)['’]s\s+)?"
    r"(?!(?:in|at|on|behind|under|over|about|by|with|from|for|to|of|after|among)\b)"
    r"(?P<focus>(?:[a-z][a-z-]*|[A-Z]{2,})(?:\s+(?:[a-z][a-z-]*|[A-Z]{2,})){0,2}?)\s*(?:\b(?:of|for|to|in|at|on|with|from)\b|[?.!]|$)")
_ASKS_ATTRIBUTE = re.compile(
    r"^\W*(?i:what)\s+(?:is|was|are|were)\s+(?:the\s+)?(?:[\w .'’-]+?['’]s\s+)?"
    r"(?P<focus>(?:[a-z][a-z-]*|[A-Z]{2,})(?:\s+(?:[a-z][a-z-]*|[A-Z]{2,})){0,2}?)\s*(?:\bof\b|[?.!]|$)")
# A measure noun is often written as its adjective ("a 1,416 km-long border" gives its length).
_MEASURE_ADJECTIVES = {"length": "long", "width": "wide", "height": "high", "depth": "deep",
                       "breadth": "broad", "age": "old", "distance": "far"}


# "Leader" or "head" is written as the leader's title: any of these names a country's or a body's leader.
_GENERIC_ROLES = frozenset({"leader", "head", "ruler", "chief"})
_LEADER_TITLES = ("leader", "head", "ruler", "chief", "president", "premier", "prime minister", "chairman",
                  "chancellor", "general secretary", "king", "queen", "emperor", "monarch", "dictator")


def _is_generic_role(words: list[str]) -> bool:
    return " ".join(words).lower() in _GENERIC_ROLES


# "How many [adjectives] THINGS": the counted noun, the first plural within three words (a capitalized
# word is a name or a demonym, "American soldiers"). Units of time and measure are counted in any text.
_ASKS_COUNT = re.compile(r"\bhow\s+many\s+(?P<rest>(?:[\w'’-]+\s+){0,2}[\w'’-]+)", re.IGNORECASE)
_IRREGULAR_PLURALS = frozenset({"people", "men", "women", "children", "police", "personnel", "staff"})
_UNITS = frozenset({"times", "years", "months", "weeks", "days", "hours", "minutes", "seconds", "percent",
                    "decades", "centuries"})


def counted_thing(question: str) -> str | None:
    """The noun a how-many question counts ("soldiers" in "how many American soldiers are ..."), if any."""
    match = _ASKS_COUNT.search(question)
    if not match:
        return None
    for word in match.group("rest").split():
        if word[0].isupper():
            continue
        lowered = word.lower()
        if lowered in _IRREGULAR_PLURALS or (lowered.endswith("s") and not lowered.endswith("ss")):
            return None if lowered in _UNITS else lowered
    return None


def unknown_focus(question: str, knows_word) -> str | None:
    """The role or attribute a who-is / what-is-the-X-of question asks for, or the thing a how-many
    question counts, when the corpus never uses one of its words (`knows_word(word)`); else None.
    A count is written next to what it counts: a text that never names the thing cannot count it."""
    match = _ASKS_ROLE.search(question) or _ASKS_ATTRIBUTE.search(question)
    if not match:
        thing = counted_thing(question)
        return thing if thing and not knows_word(thing) else None
    words = match.group("focus").split()
    if _is_generic_role(words):
        return None  # a leader may be named by any leader's title: unstated_role reads the passages for one
    for word in words:
        if not (knows_word(word) or (word in _MEASURE_ADJECTIVES and knows_word(_MEASURE_ADJECTIVES[word]))):
            return " ".join(words)
    return None


ROLE_DEPTH = 10  # how many of the best passages (by the mode, and by BM25) are read for a named role
_NAME_WORD = re.compile(r"\b(?:[A-Z][\w'’-]*|[A-Z](?:\.[A-Z])+\.?)")


_TOKEN = re.compile(r"[\w.'’-]+")
_CAPITALIZED_RUN = re.compile(r"(?:\b[A-Z][\w'’-]*\s+)*\b[A-Z][\w'’-]*")


def _drop_possessive(word: str) -> str:
    return word[:-2] if word.endswith(("'s", "’s")) else word


def _name_words(text: str) -> list[str]:
    """The capitalized words and acronyms of `text` ("U.S." as "US"), possessive 's dropped."""
    words = (_drop_possessive(w).replace(".", "") for w in _NAME_WORD.findall(text))
    return [w for w in words if w]


def _names_in(name: str, tokens: list[str], initials: str) -> bool:
    """Whether a sentence (its lowercased `tokens` and the `initials` of its runs of capitalized
    words) mentions `name`: the word itself, a word it begins ("Korea" in "Korean", "China" in
    "Chinese": all but its last letter, at least 4), or, for an acronym, the words it abbreviates
    ("US" for "United States")."""
    lowered = name.lower()
    if lowered in tokens:
        return True
    if name.isupper() and len(name) >= 2 and name in initials:
        return True
    prefix = lowered[: max(4, len(lowered) - 1)]
    return len(lowered) >= 4 and any(t.startswith(prefix) for t in tokens)


def asked_role(question: str, stem) -> tuple[str, list[list[str]], list[str]] | None:
    """For a question asking who holds a role ("who is X's ROLE", "who is the ROLE of X"): the role as
    asked, the ways a text may write it (each a list of words folded by `stem`: a leader's may be any
    leader's title), and the names it belongs to (X); else None."""
    match = _ASKS_ROLE.search(question)
    # "who is the envoy" or "who is X's envoy" names a role; "who is most responsible" does not
    if not match or not (match.group("article") or match.group("owner")):
        return None
    focus = match.group("focus")
    words = [w for w in focus.split() if not w.isupper()]  # an acronym in it ("US envoy") is a name
    titles = _LEADER_TITLES if _is_generic_role(words) else (" ".join(words),)
    roles = [[stem(w) for w in title.split()] for title in titles]
    names = _name_words(question[match.start("owner" if match.group("owner") else "focus") :])
    return focus, roles, names


def _read_sentences(text: str, stem) -> list[tuple[set[str], list[str], str]]:
    """Each sentence of `text` as its folded words, its lowercased tokens and the initials of its runs
    of capitalized words."""
    read = []
    for sentence in sentences_of(text):
        tokens = [_drop_possessive(t.replace(".", "")).strip("'’-") for t in _TOKEN.findall(sentence.lower())]
        runs = _CAPITALIZED_RUN.findall(sentence)
        initials = " ".join("".join(w[0] for w in run.split()) for run in runs)
        read.append(({stem(t) for t in tokens}, tokens, initials))
    return read


def names_role(text: str, roles: list[list[str]], names: list[str], stem) -> bool:
    """Whether a sentence of `text` holds every word of one of `roles` (folded by `stem`) and every name."""
    return any(any(set(role) <= stems for role in roles) and all(_names_in(n, tokens, initials) for n in names)
               for stems, tokens, initials in _read_sentences(text, stem))


def unstated_role(question: str, passages: list[str], stem) -> str | None:
    """The role a who-is question asks the holder of, when no sentence of the best passages names
    that role together with whose it is (see `asked_role`, `names_role`); else None."""
    asked = asked_role(question, stem)
    if asked is None or not passages:
        return None
    focus, roles, names = asked
    return None if any(names_role(p, roles, names, stem) for p in passages) else focus


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
             "last", "latest")
_ORDINAL_PHRASE = re.compile(rf"\b(?P<ordinal>{'|'.join(_ORDINALS)})\s+(?P<rest>(?:[a-z-]+\s+){{0,2}}[a-z-]+)",
                             re.IGNORECASE)


def ordinal_mismatch(question: str, passages: list[str], stem) -> str | None:
    """The question's "ordinal thing" (e.g. "first nuclear test") when the best passages number that
    thing only with other ordinals ("third and fourth nuclear tests"), else None. `stem(word)` folds
    a word to its index form, so "tests" matches "test"."""
    asked = _ORDINAL_PHRASE.search(question)
    if not asked or not passages:
        return None
    ordinal = asked.group("ordinal").lower()
    thing = stem(asked.group("rest").split()[-1])
    others = set()
    for sentence in (s for p in passages[:EVIDENCE_DEPTH] for s in sentences_of(p)):
        words = re.findall(r"[\w-]+", sentence.lower())
        for i, word in enumerate(words):
            if stem(word) != thing:
                continue
            near = set(words[max(0, i - 6) : i]) & set(_ORDINALS)
            if ordinal in near:
                return None  # the passages do name the asked-for one
            others |= near
    return f"{asked.group('ordinal')} {asked.group('rest')}" if others else None


# "Which [jq] release added ...", "in which version was ... introduced", "since which version ...".
_ASKS_RELEASE = re.compile(r"\b(?:which|what)\s+(?:[\w.+-]+\s+){0,2}?(?:release|version)s?\b", re.IGNORECASE)
_VERSION = re.compile(r"\b\d+\.\d+(?:\.\d+)*[a-z]?\b")
# The thing a release question is about, when it is written as code or an acronym ("asn1_der_decoding2",
# "--seq", "FONTCONFIG_SYSROOT", "AES"): the version must stand in a passage that names it.
_CODE_TERM = re.compile(r"(?<![\w-])(?:-{1,2}[a-z][\w-]*|\w*[_\d]\w*[a-z_]\w*|\w*[a-z]\w*_\w*|[A-Z][A-Z\d]{1,}(?:_[A-Z\d]+)*)(?![\w-])")


def missing_release(question: str, passages: list[str]) -> str | None:
    """For a question asking which release or version brought something in: the question, when none of
    the best passages holds a version number ("4.12", "1.6") together with the thing asked about
    (its code-like or acronym terms, when it has any); else None."""
    if not passages or not _ASKS_RELEASE.search(question):
        return None
    asked = question[_ASKS_RELEASE.search(question).end():]
    terms = [t.lower() for t in _CODE_TERM.findall(asked)]
    for text in passages[:EVIDENCE_DEPTH]:
        lowered = text.lower()
        if _VERSION.search(text) and (not terms or any(t in lowered for t in terms)):
            return None
    return question


def missing_answer_type(question: str, passages: list[str]) -> str | None:
    """The answer type ('year', 'money', 'number') the question asks for, when none of the best
    passages holds one."""
    answer_type = expected_type(question)
    if not passages or answer_type is None:
        return None
    return None if holds(answer_type, " ".join(passages[:EVIDENCE_DEPTH])) else answer_type


def is_answerable(question: str, passages: list[str], knows_word, best_cosine: float = 1.0,
                  stem=str.lower) -> bool:
    """False when the corpus evidently does not hold the answer to `question`.

    `passages` are the texts of the best passages, best first (the retriever passes its mode's
    ROLE_DEPTH best, then BM25's ROLE_DEPTH best not among them); `knows_word(word)` says whether the
    corpus uses a word; `best_cosine` is the question's cosine to its closest passage; `stem(word)`
    folds a word as the index does.
    """
    return (
        best_cosine >= OFF_TOPIC_COSINE
        and not unknown_names(question, knows_word)
        and unknown_focus(question, knows_word) is None
        and unstated_role(question, passages, stem) is None
        and missing_answer_type(question, passages) is None
        and missing_release(question, passages) is None
        and ordinal_mismatch(question, passages, stem) is None
    )
