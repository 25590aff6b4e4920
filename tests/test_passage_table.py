"""The passage table: passages.jsonl read a row at a time, found by id without a dict of every id."""

from __future__ import annotations

import pytest

from qa.ingest.passages import Passage
from qa.store.local import passage_table
from qa.store.local.passage_table import PassageTable, write_passages


def _passages(n: int) -> list[Passage]:
    return [Passage(id=f"p{i}", doc=f"d{i % 3}.txt", title="T", section=f"S{i % 2}", ordinal=i, start=i, end=i + 5,
                    text=f"passage {i} ünïcode", page=i % 4 or None) for i in range(n)]


def test_rows_read_back_as_written(tmp_path):
    passages = _passages(50)
    write_passages(passages, tmp_path, "passages.jsonl")
    table = PassageTable(tmp_path, "passages.jsonl")
    assert len(table) == 50 and table == passages and list(table) == passages
    assert table[0] == passages[0] and table[-1] == passages[-1] and table[10:13] == passages[10:13]
    assert list(table.rows([7, 3])) == [passages[7], passages[3]]
    with pytest.raises(IndexError):
        table[50]


def test_a_passage_is_found_by_id(tmp_path):
    passages = _passages(200)
    write_passages(passages, tmp_path, "passages.jsonl")
    table = PassageTable(tmp_path, "passages.jsonl")
    assert [table.row_of(p.id) for p in passages] == list(range(200))
    assert table.row_of("nope") is None


def test_ids_whose_digests_collide_are_told_apart(tmp_path, monkeypatch):
    monkeypatch.setattr(passage_table, "id_digest", lambda passage_id: 7)  # every id the same digest
    passages = _passages(20)
    write_passages(passages, tmp_path, "passages.jsonl")
    table = PassageTable(tmp_path, "passages.jsonl")
    assert [table.row_of(p.id) for p in passages] == list(range(20)) and table.row_of("p99") is None


def test_an_empty_table_and_a_truncated_file(tmp_path):
    write_passages([], tmp_path, "passages.jsonl")
    assert len(PassageTable(tmp_path, "passages.jsonl")) == 0
    write_passages(_passages(5), tmp_path, "passages.jsonl")
    with open(tmp_path / "passages.jsonl", "r+b") as file:
        file.truncate(10)
    with pytest.raises(ValueError):
        PassageTable(tmp_path, "passages.jsonl")
