"""Fusion, diversification and abstention rules, on tiny fixed inputs (no model needed)."""

import numpy as np
import pytest

from qa.search.answerability import (asked_role, counted_thing, is_answerable, missing_answer_type, missing_release,
                                     names_role, ordinal_mismatch, unknown_focus, unknown_names, unstated_role)
from qa.search.scoring import best_sentence, diversify, fuse, minmax, top_k, with_context


def test_minmax_and_fuse():
    dense = np.array([[0.2, 0.4, 0.6]], dtype=np.float32)
    lexical = np.array([[3.0, 0.0, 0.0]], dtype=np.float32)
    assert np.allclose(minmax(dense), [[0.0, 0.5, 1.0]])
    assert np.allclose(minmax(np.ones((1, 3))), [[0, 0, 0]])  # a constant row carries no signal
    assert np.allclose(fuse(dense, lexical, 0.75), [[0.25, 0.375, 0.75]])


def test_best_sentence_takes_each_passages_closest_sentence():
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    sentences = np.array([[0.0, 1.0], [0.6, 0.8], [1.0, 0.0]], dtype=np.float32)
    rows = np.array([0, 0, 2])
    assert np.allclose(best_sentence(query, sentences, rows, 3), [[0.6, -1.0, 1.0]])


def test_a_short_passage_is_moved_towards_its_better_neighbour():
    dense = np.array([[0.2, 0.9, 0.4, 0.1]], dtype=np.float32)
    previous, following = np.array([-1, 0, 1, -1]), np.array([1, 2, -1, -1])  # 0-1-2 one section, 3 alone
    lengths = np.array([100, 100, 400, 0])
    moved = with_context(dense, lengths, previous, following, weight=0.5, length=400)
    # 0: a quarter of the way (0.5 * (1 - 100/400) = 0.375) to its neighbour 1's 0.9; 1: its neighbours
    # are worse, so it falls towards the better, 2's 0.4; 2 is long enough to stand alone; 3 has none
    assert np.allclose(moved, [[0.2 + 0.375 * 0.7, 0.9 - 0.375 * 0.5, 0.4, 0.1]])
    assert np.allclose(with_context(dense, lengths, previous, following, weight=0.0), dense)


def test_top_k_orders_best_first_and_breaks_ties_by_position():
    assert top_k(np.array([0.1, 0.9, 0.5, 0.9]), 3).tolist() == [1, 3, 2]


def test_diversify_spreads_near_ties_but_keeps_clear_winners():
    sections = np.array([0, 0, 1, 2])
    near = np.array([1.0, 0.97, 0.95, 0.2])
    rows, shown = diversify(near, sections.__getitem__, 3)
    assert rows.tolist() == [0, 2, 1]
    assert shown.tolist() == pytest.approx([1.0, 0.95, 0.87])  # 0.97 less 0.1: its section is above
    clear = np.array([1.0, 0.9, 0.5, 0.2])
    rows, shown = diversify(clear, sections.__getitem__, 3)
    assert rows.tolist() == [0, 1, 2]
    assert shown.tolist() == pytest.approx([1.0, 0.8, 0.5])


def test_diversified_scores_descend():
    rng = np.random.default_rng(7)
    for _ in range(50):
        scores = rng.random(40)
        _, shown = diversify(scores, rng.integers(0, 5, 40).__getitem__, 10)
        assert np.all(np.diff(shown) <= 1e-9)


def test_unknown_names_ignore_the_sentence_start():
    known = {"kim", "jong", "un", "when", "did", "meet", "since"}
    knows = lambda word: word.lower() in known
    assert unknown_names("When did Donald Trump meet Kim Jong Un?", knows) == ["Donald Trump"]
    assert unknown_names("Since Washington said no, did Kim Jong Un go?", knows) == []
    assert unknown_names("Did Kim Jong Un go?", knows) == []


def test_missing_answer_type_reads_the_best_passages():
    dated = ["The treaty was signed in 1962 after talks.", "Other text."]
    undated = ["The talks involved many nations.", "Nothing dated here.", "Nor here."]
    assert missing_answer_type("When was the treaty signed?", dated) is None
    assert missing_answer_type("When did the talks begin?", undated) == "year"
    assert missing_answer_type("In what year did the talks begin?", undated) == "year"
    assert missing_answer_type("When did they meet?", undated + ["Met in 1994."]) == "year"  # 4th: not read
    assert missing_answer_type("Why did the talks stall when China left?", undated) is None
    assert missing_answer_type("How many nations took part?", undated) == "number"
    assert missing_answer_type("How many nations took part?", dated) is None
    priced = ["The talks cost $4 million.", "Other text."]
    assert missing_answer_type("How much did the talks cost in dollars?", dated) == "money"
    assert missing_answer_type("How much did the talks cost?", priced) is None
    assert missing_answer_type("How much plutonium was there?", ["enough for about ten bombs"]) is None


def test_unknown_focus_is_the_asked_for_role_or_attribute():
    corpus = {"north", "korea", "vice", "foreign", "minister", "border", "long", "role", "most", "responsible"}
    knows = lambda word: word.lower() in corpus
    assert unknown_focus("Who is Japan's special envoy for North Korea?", knows) == "special envoy"
    assert unknown_focus("Who is North Korea's vice foreign minister?", knows) is None
    assert unknown_focus("What is the population of North Korea?", knows) == "population"
    assert unknown_focus("What is the GDP of North Korea?", knows) == "GDP"
    assert unknown_focus("What is the length of the border?", knows) is None  # written "1,416 km-long"
    assert unknown_focus("who is most responsible for the diplomacy", knows) is None
    # "in charge of", "behind": a preposition, not a role to be named ("charge" need not be a word of it)
    assert unknown_focus("Who is in charge of the s390 port nowadays?", knows) is None
    assert unknown_focus("Who is behind Callgrind?", knows) is None
    assert unknown_focus("Which city hosted the talks?", knows) is None  # not a role or attribute question
    assert unknown_focus("What is the Byungjin line?", knows) is None  # a name: unknown_names' business
    assert unknown_focus("How many American soldiers are stationed there?", knows) == "soldiers"
    folded = lambda word: word.lower().rstrip("s") in corpus  # as the index folds "ministers"
    assert unknown_focus("How many vice ministers are there?", folded) is None


def test_counted_thing_is_the_first_plural_after_how_many():
    assert counted_thing("How many American soldiers are stationed in South Korea?") == "soldiers"
    assert counted_thing("How many foreign governments keep an embassy there?") == "governments"
    assert counted_thing("With how many states does Pyongyang have ties?") == "states"
    assert counted_thing("How many people live there?") == "people"
    assert counted_thing("How many times did they meet?") is None  # a unit: any text can count it
    assert counted_thing("How much plutonium was there?") is None
    assert counted_thing("Who signed?") is None


def test_asked_role_needs_a_title_and_whose_it_is():
    stem = lambda word: word.lower()
    assert asked_role("Who is China's foreign minister?", stem) == ("foreign minister", [["foreign", "minister"]],
                                                                    ["China"])
    assert asked_role("Who is the US envoy for North Korea?", stem) == ("US envoy", [["envoy"]],
                                                                       ["US", "North", "Korea"])
    focus, roles, names = asked_role("Who is the leader of China?", stem)  # any leader's title will do
    assert (focus, names) == ("leader", ["China"]) and ["president"] in roles and ["prime", "minister"] in roles
    assert asked_role("who is most responsible for the diplomacy", stem) is None  # an adjective, not a title
    assert asked_role("Who replaced the Soviets?", stem) is None


def test_names_role_wants_role_and_names_in_one_sentence():
    stem = lambda word: word.lower().rstrip("s")
    text = "China hosted the talks. North Korea's vice foreign minister, Choe Son Hui, spoke. Ministers met."
    assert names_role(text, [["vice", "foreign", "minister"]], ["North", "Korea"], stem)
    assert not names_role(text, [["foreign", "minister"]], ["China"], stem)  # China is in another sentence
    assert names_role("The North Korean leader Kim Jong Un came.", [["leader"]], ["North", "Korea"], stem)
    assert names_role("The Chinese president spoke.", [["president"]], ["China"], stem)  # a demonym
    assert names_role("The United States envoy spoke.", [["envoy"]], ["US"], stem)  # an acronym's words
    assert names_role("The U.S. envoy spoke.", [["envoy"]], ["US"], stem)
    assert names_role("China's President Xi spoke.", [["leader"], ["president"]], ["China"], stem)  # either


def test_unstated_role_reads_the_best_passages():
    stem = lambda word: word.lower()
    passages = ["Talks stalled.", "North Korea's vice foreign minister, Choe Son Hui, warned the US."]
    assert unstated_role("Who is North Korea's vice foreign minister?", passages, stem) is None
    assert unstated_role("Who is China's foreign minister?", passages, stem) == "foreign minister"
    assert unstated_role("Who is China's foreign minister?", [], stem) is None
    assert unstated_role("who is most responsible for the talks", passages, stem) is None
    assert unstated_role("Who is China's leader?", ["China's President Xi Jinping met Kim."], stem) is None


def test_missing_release_needs_a_version_beside_the_thing_asked_about():
    question = "In which release was asn1_der_decoding2 introduced?"
    assert missing_release(question, ["asn1_der_decoding2: decodes DER data.", "Since: 4.1"]) == question
    assert missing_release(question, ["asn1_der_decoding2 decodes DER data. Since: 4.1"]) is None
    assert missing_release("Which zip version first supported AES?", ["Zip 3.0 reads Zip64 archives."]) is not None
    assert missing_release("Which zip version first supported AES?", ["AES encryption came with zip 3.1."]) is None
    # no code-like term: any version number in the best passages will do
    assert missing_release("Which version added split archives?", ["Split archives came in 3.0."]) is None
    assert missing_release("Which version added split archives?", ["Split archives are new."]) is not None
    assert missing_release("Which version added split archives?", ["x", "y", "z", "in 3.0"]) is not None  # 4th: not read
    assert missing_release("What does asn1_der_decoding2 return?", ["No number."]) is None  # not a release question
    assert missing_release("Which revision of the spec is this?", ["No number."]) is None


def test_ordinal_mismatch_needs_the_asked_for_one():
    stem = lambda word: word.lower().rstrip("s")
    tests = ["In 2013 it held its third nuclear test.", "In 2016 it held its fourth and fifth nuclear tests."]
    assert ordinal_mismatch("When was its first nuclear test?", tests, stem) == "first nuclear test"
    assert ordinal_mismatch("When was its fourth nuclear test?", tests, stem) is None
    assert ordinal_mismatch("When was its first summit?", tests, stem) is None  # summits are not numbered
    assert ordinal_mismatch("When were nuclear tests held?", tests, stem) is None


def test_is_answerable_combines_the_rules():
    knows = lambda word: True
    assert is_answerable("Who signed the treaty?", ["China signed it."], knows)
    assert not is_answerable("When did the talks begin?", ["No date."], knows)
    assert not is_answerable("Did Agreed Framework fail?", ["x"], lambda w: w != "Framework")
    assert not is_answerable("How do I bake bread?", ["China signed it."], knows, best_cosine=0.05)
    assert is_answerable("Who signed?", ["China signed it."], knows, best_cosine=0.5)
    assert not is_answerable("Who is China's envoy?", ["China signed it."], lambda w: w != "envoy")
    assert not is_answerable("When was the second test?", ["The third test was in 2013."], knows)
    assert not is_answerable("Who is China's envoy?", ["Japan's envoy came."], knows)


def test_a_leading_when_clause_before_the_question_does_not_ask_for_a_time():
    from qa.search.answerability import expected_type

    assert expected_type("When did the talks start?") == "year"
    assert expected_type("by when must the treaty be signed") == "year"
    assert expected_type("In which year did the talks start?") == "year"
    assert expected_type("When bc is started with -l, what scale is in effect by default?") is None
    assert expected_type("When the service starts, how many workers does it run?") == "number"


def test_actors_are_names_followed_by_a_verb():
    from qa.search.actors import actors, asks_who, lexical_query, names_other_actor, passage_actors

    assert actors("The US has been a key player in international efforts.") == ["US"]
    assert actors("Greg Parker wrote the Mac OS X port.") == ["Greg Parker"]
    assert actors("In 2018, South Korean President Moon Jae-in and North Korean leader Kim Jong Un held summits.") \
        == ["Kim Jong Un"]
    assert actors("Overall, the Kim regime's response to diplomacy has been complex.") == []  # a possessive
    assert actors("However, several countries severed ties.") == []  # sentence openers are no names
    table = "Characteristics Values\nCountries North Korea has provided arms to Russia\nCountries with an embassy 24\n"
    assert passage_actors(table) == ()  # a table's rows are labels, not sentences naming someone
    assert names_other_actor(("North Korea",), "who talks with north korea?") is False
    assert names_other_actor(("North Korea", "China"), "who talks with north korea?") is True
    assert asks_who("Who maintains DRD?") and asks_who("whom should I ask") and not asks_who("What is DRD?")
    assert lexical_query("Who is most responsible for the diplomacy?") == "is responsible for the diplomacy?"
    assert lexical_query("How many bombs?") == "bombs?"


def test_a_number_written_as_a_word_is_a_number():
    from qa.search.answerability import holds

    # lsof.pdf: "delays t seconds (default fifteen)" answers "how many seconds does lsof wait"
    for word in ("fifteen", "thirteen", "nineteen", "sixty", "ninety"):
        assert holds("number", f"delays t seconds (default {word}), then repeats"), word
    assert not holds("number", "delays t seconds, then repeats the listing")
