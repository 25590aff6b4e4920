"""BM25 postings: the weights bm25s gives, and an update's splice equal to a fresh build."""

from __future__ import annotations

import numpy as np

from qa.store.lexical import BM25Scores, default_analyzer, write_bm25

TEXTS = [
    "Sweden is the protecting power for the United States in North Korea.",
    "The border between China and North Korea is 1,416 km long.",
    "Pears and plums grow in the orchard; the orchard's apples ripen in October.",
    "the of and",  # no indexable word: bm25s gives it a placeholder token
    "Diplomacy with North Korea: talks, talks and more talks.",
]
QUESTIONS = ["north korea border", "who protects the United States in North Korea", "orchard apples", "talks"]


def test_weights_are_bm25s_lucene_weights(tmp_path):
    import bm25s

    write_bm25(tmp_path / "ours", len(TEXTS), range(len(TEXTS)), TEXTS)
    ours = BM25Scores(tmp_path / "ours")
    analyzer = default_analyzer()
    reference = bm25s.BM25()  # method "lucene", k1 1.5, b 0.75
    reference.index([analyzer(t) or ["\x00"] for t in TEXTS], show_progress=False)
    for question in QUESTIONS:
        expected = reference.get_scores(analyzer(question))
        np.testing.assert_allclose(ours.score([question])[0], expected, rtol=1e-5, atol=1e-6)
        assert expected.max() > 0


def test_a_spliced_update_equals_a_fresh_build(tmp_path):
    write_bm25(tmp_path / "old", len(TEXTS), range(len(TEXTS)), TEXTS)
    old = BM25Scores(tmp_path / "old")
    # drop row 1 (the border), keep the rest in order, and put two new passages at rows 1 and 5
    new_texts = ["Pyongyang hosted the talks in a guarded hall.", "Cherries ripen in June in the orchard."]
    now = [TEXTS[0], new_texts[0], TEXTS[2], TEXTS[3], TEXTS[4], new_texts[1]]
    old_to_new = np.array([0, -1, 2, 3, 4])
    write_bm25(tmp_path / "spliced", len(now), [1, 5], new_texts, old=old, old_to_new=old_to_new)
    write_bm25(tmp_path / "fresh", len(now), range(len(now)), now)
    spliced, fresh = BM25Scores(tmp_path / "spliced"), BM25Scores(tmp_path / "fresh")
    assert set(spliced.vocab) == set(fresh.vocab)  # "border" is gone from both
    assert "border" in old.vocab and not spliced.knows("border")
    np.testing.assert_array_equal(spliced.lengths, fresh.lengths)
    for question in QUESTIONS + ["cherries in june", "pyongyang hall"]:
        np.testing.assert_allclose(spliced.score([question]), fresh.score([question]), rtol=1e-6)
