"""KnownVectors: vectors found by their text's key, through a sorted 64-bit prefix confirmed on the full key."""

from __future__ import annotations

import numpy as np

from qa.store.local.vector_reuse import KnownVectors, text_keys


def test_known_texts_get_their_vectors_and_unknown_ones_are_named():
    texts = [f"passage number {i}" for i in range(1000)]
    vectors = np.arange(1000, dtype=np.float32).reshape(-1, 1) * np.ones((1, 3), dtype=np.float32)
    known = KnownVectors()
    known.add(text_keys(texts), vectors)
    out = np.zeros((4, 3), dtype=np.float32)
    missing = known.fill(text_keys(["passage number 7", "never seen", "passage number 999", "passage number 7"]), out)
    assert missing == [1]
    assert out[:, 0].tolist() == [7.0, 0.0, 999.0, 7.0]


def test_a_key_sharing_only_its_prefix_is_not_taken_for_the_known_one():
    keys = text_keys(["a", "b"])
    twin = keys[0].copy()
    twin[-1] ^= 0xFF  # the same first 64 bits, another text
    known = KnownVectors()
    known.add(keys, np.array([[1.0], [2.0]], dtype=np.float32))
    out = np.zeros((2, 1), dtype=np.float32)
    assert known.fill(np.stack([twin, keys[1]]), out) == [0]
    assert out[:, 0].tolist() == [0.0, 2.0]


def test_the_first_source_that_knows_a_text_gives_its_vector():
    keys = text_keys(["same text", "only in the second"])
    known = KnownVectors()
    known.add(keys[:1], np.array([[1.0]], dtype=np.float32))
    known.add(keys, np.array([[5.0], [6.0]], dtype=np.float32))
    out = np.zeros((2, 1), dtype=np.float32)
    assert known.fill(keys, out) == [] and out[:, 0].tolist() == [1.0, 6.0]
