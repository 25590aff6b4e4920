"""Splitting documents into section-tagged passages: headings, furniture, tables, offsets, ids."""


import pytest

from qa.ingest.files import Document, read_documents
from qa.ingest.passages import MAX_CHARS, split_document

from conftest import SEED

SEED_HEADINGS = [
    "Who Led The North Korea Diplomacy Efforts?",
    "The US's role in diplomacy",
    "South Korea's diplomatic efforts",
    "China's long-term view",
    "North Korea's nuclear threat",
    "The Kim regime's response",
    "Frequently asked questions",
]
FURNITURE = ["cycivic", "Written by", "Reviewed by", "Share this post", "Print",
             "Did this article help you?", "Leave a comment"]


def doc(text: str, path: str = "doc.txt") -> Document:
    return Document(path=path, text=text, sha256="x")


@pytest.fixture(scope="module")
def seed_passages():
    return split_document(read_documents([SEED.parent])[0])


def test_every_seed_heading_is_a_section(seed_passages):
    assert [p.section for p in seed_passages if p.ordinal == 0][0] == SEED_HEADINGS[0]
    assert list(dict.fromkeys(p.section for p in seed_passages)) == SEED_HEADINGS
    assert {p.title for p in seed_passages} == {SEED_HEADINGS[0]}


def test_no_furniture_left_in_any_seed_passage(seed_passages):
    for passage in seed_passages:
        lines = [line.strip() for line in passage.text.splitlines()]
        for furniture in FURNITURE:
            assert furniture not in lines, (furniture, passage.text)
        assert "cycivic" not in passage.text


def test_offsets_round_trip_for_every_passage(seed_passages):
    source = SEED.read_text(encoding="utf-8")
    for passage in seed_passages:
        assert source[passage.start:passage.end] == passage.text
        assert 0 < len(passage.text) <= MAX_CHARS


def test_table_stays_one_passage_under_its_heading(seed_passages):
    table = [p for p in seed_passages if "Countries with an embassy in Pyongyang 24" in p.text]
    assert len(table) == 1
    assert table[0].text.startswith("Characteristics Values\n")
    assert table[0].text.endswith("All 191 UN member states except North Korea")


def test_ids_are_stable_and_unique(seed_passages):
    again = split_document(read_documents([SEED.parent])[0])
    assert [p.id for p in again] == [p.id for p in seed_passages]
    assert len({p.id for p in seed_passages}) == len(seed_passages)


def test_id_does_not_depend_on_text_elsewhere_in_the_document():
    first = split_document(doc("Title\n\nIntro one.\n\nSection\n\nBody text here."))
    second = split_document(doc("Title\n\nA longer, different intro.\n\nSection\n\nBody text here."))
    assert first[-1].id == second[-1].id
    assert first[0].id != second[0].id


def test_long_paragraph_is_split_at_sentence_boundaries():
    sentence = "The U.S. envoy met officials in Pyongyang to discuss the talks again. "
    text = "Heading\n\n" + sentence * 40
    passages = split_document(doc(text))
    assert len(passages) > 1
    for p in passages:
        assert text[p.start:p.end] == p.text
        assert len(p.text) <= 1000
        assert p.text.endswith("again.")  # never cut inside a sentence, nor after "U.S."


def test_no_passage_over_the_limit_even_without_sentences():
    text = "Heading\n\n" + "word " * 1000
    passages = split_document(doc(text))
    assert all(len(p.text) <= MAX_CHARS for p in passages)
    assert all(text[p.start:p.end] == p.text for p in passages)


def test_markdown_headings_and_crlf_offsets():
    text = "# Guide\r\nIntro line one.\r\n\r\n## Setup\r\nRun the installer.\r\nThen restart.\r\n"
    passages = split_document(doc(text, "guide.md"))
    assert [(p.title, p.section) for p in passages] == [("Guide", "Guide"), ("Guide", "Setup")]
    assert all(text[p.start:p.end] == p.text for p in passages)
    assert passages[1].text == "Run the installer.\r\nThen restart."


def test_furniture_rules_are_general():
    text = ("My Article\n\nBody sentence one.\n\nbytag\n\nNext Part\n\nMore body.\n\nbytag\n\n"
            "Last Part\n\nEnd body.\n\nPosted by\nTweet\nWas this helpful?\n\nLeave a reply")
    passages = split_document(doc(text))
    assert [p.text for p in passages] == ["Body sentence one.", "More body.", "End body."]
    assert [p.section for p in passages] == ["My Article", "Next Part", "Last Part"]


def test_embedding_text_carries_title_and_section_but_text_is_the_passage(seed_passages):
    p = next(p for p in seed_passages if p.section == "China's long-term view")
    assert p.embedding_text() == f"{p.title} › China's long-term view\n{p.text}"
    assert not p.text.startswith("China's long-term view")


def test_a_web_pages_paragraphs_are_packed_within_their_section():
    """HTML and Word paragraphs of one section share a passage up to PACK_MAX characters; a section's
    end or the limit starts the next, and every passage still indexes the extracted text."""
    from qa.ingest.document import Builder
    from qa.ingest.passages import PACK_MAX

    builder = Builder()
    builder.heading("Tools", 1)
    builder.heading("Targets", 2)
    short = ["Lists the targets by rule.", "Lists the targets by depth.", "Prints the inputs of a target."]
    for text in short:
        builder.paragraph(text)
    builder.heading("Cleaning", 2)
    long = [f"Paragraph {n} on cleaning: " + "removes built files again. " * 12 for n in range(4)]
    for text in long:
        builder.paragraph(text)
    document = builder.document("tools.html", "x", "html")
    passages = split_document(document)
    assert [p.section for p in passages][0] == "Targets"
    assert passages[0].text == "\n\n".join(short)
    cleaning = [p for p in passages if p.section == "Cleaning"]
    assert 1 < len(cleaning) < len(long)
    assert all(len(p.text) <= PACK_MAX for p in passages)
    assert all(document.text[p.start:p.end] == p.text for p in passages)


def test_a_term_starts_the_passage_of_its_definition():
    """Packing a definition list, a term that would close a passage goes with its definition."""
    from qa.ingest.document import Builder

    builder = Builder()
    builder.heading("Extra tools", 2)
    terms = ["targets", "commands", "inputs", "clean", "graph"]
    for term in terms:
        builder.paragraph(term)
        builder.paragraph(f"The {term} tool: " + "it prints what the build would do for the targets given. " * 7)
    document = builder.document("tools.html", "x", "html")
    passages = split_document(document)
    assert len(passages) > 1
    for p in passages:
        paragraphs = p.text.split("\n\n")
        assert paragraphs[0] in terms and paragraphs[-1] not in terms
        assert document.text[p.start:p.end] == p.text
