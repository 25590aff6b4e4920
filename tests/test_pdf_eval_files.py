"""The PDF reader on the eval sets' own PDFs, as groff, Chromium and texinfo (TeX) typeset them:
the defects each writer's output showed, one test a cause."""

from __future__ import annotations

import pytest

from conftest import ROOT
from qa.ingest.furniture import compounds, join_hyphens, keeps_hyphens, page_hyphen
from qa.ingest.passages import split_document
from qa.ingest.pdf import read_pdf

MANUALS = ROOT / "eval" / "manuals" / "corpus"
MIXED = ROOT / "eval" / "mixed" / "corpus"


def _no_warning(message):
    raise AssertionError(f"unexpected warning: {message}")


@pytest.fixture(scope="module")
def tmux():
    return read_pdf(MANUALS / "tmux.pdf", "tmux.pdf", _no_warning)


@pytest.fixture(scope="module")
def valgrind():
    return read_pdf(MANUALS / "valgrind-core.pdf", "valgrind-core.pdf", _no_warning)


def test_a_word_hyphenated_over_a_page_break_is_joined(tmux):
    """groff hyphenates "them-selves" at the foot of page 44 of tmux(1): the word is whole in the text,
    in one passage that cites the page it starts on."""
    assert "Windows themselves do not have titles" in tmux.text
    assert "them-" not in tmux.text and "them\nselves" not in tmux.text
    (passage,) = [p for p in split_document(tmux) if "Windows themselves do not" in p.text]
    assert passage.page == 44 and tmux.text[passage.start:passage.end] == passage.text
    start, end = tmux.pages[43]
    assert start <= passage.start < end < passage.end  # it runs over the break, as its sentence does


def test_the_hyphen_rule_across_a_page_break():
    assert page_hyphen("Windows them-", "selves do not", {"themselves"}) == "Windows them"
    assert page_hyphen("a well-", "known design", {"well-known"}) == "a well-"
    assert page_hyphen("the end.", "next page", set()) is None
    assert page_hyphen("the name of the-", "Next page", set()) is None  # not a lower-case run-on


def test_code_words_set_smaller_do_not_cut_a_paragraph(valgrind):
    """Chromium sets inline code a size smaller than the prose; a line that opens with one (and holds
    another) is still the same paragraph, and its size is not the code's."""
    paragraphs = valgrind.text.split("\n\n")
    assert any(p.startswith("Multiple suppressions files are allowed.") and p.endswith(
        "by specifying --suppressions=/path/to/file.supp one or more times.") for p in paragraphs)
    assert any("you can use the --gen-suppressions=yes option. This tells Valgrind" in p for p in paragraphs)


def test_an_option_broken_at_its_own_hyphen_keeps_it(valgrind):
    """A browser breaks a line only at a hyphen the word has: "--fair-" | "sched=try" is --fair-sched."""
    assert "--fair-sched=try" in valgrind.text and "fairsched" not in valgrind.text
    assert "--default-suppressions=no has been specified" in valgrind.text
    # Chromium does not hyphenate: every hyphen at its line ends is the word's ("memory-|checking").
    assert "using the memory-checking tool Memcheck" in valgrind.text and "memorychecking" not in valgrind.text


def test_whether_a_document_hyphenates_is_told_by_its_line_end_hyphens():
    typeset = "a ses-\nsion and a win-\ndow, and the session in its window"
    printed = ("the memory-\nchecking tool, the suppression-\ndirective, a system-\nprovided file; "
               "memory-checking, a suppression-directive, system-provided")
    assert not keeps_hyphens(typeset, compounds(typeset))
    assert keeps_hyphens(printed, compounds(printed))
    assert not keeps_hyphens(printed.split(", a system")[0], compounds(printed))  # two tell nothing
    assert join_hyphens("an ever-\ngrowing list", compounds(printed), keep=True) == "an ever-growing list"
    assert join_hyphens("an ever-\ngrowing list", compounds(typeset)) == "an evergrowing list"


def test_hyphen_rule_for_hyphenated_words():
    assert join_hyphens("use --trace-\nchildren=yes", set()) == "use --trace-children=yes"
    assert join_hyphens("is all-non-\nfile", set()) == "is all-non-file"
    # groff hyphenates inside a compound too: the joined word is one the document writes.
    assert join_hyphens("a colon-sepa-\nrated list", {"separated"}) == "a colon-separated list"


def test_a_texinfo_definition_header_is_not_a_table_row():
    """texinfo sets a function's category flush right on its definition's first line ("[Function]"):
    not a table cell; the definition reads on into its second line."""
    document = read_pdf(MIXED / "libtasn1.pdf", "libtasn1.pdf", _no_warning)
    assert "[Function]" not in document.text and " | " not in document.text.split("int asn1_parser2tree")[1][:200]
    assert "int asn1_parser2tree (const char * file, asn1 node * definitions, char * error_desc)" in document.text


def test_a_one_line_code_example_is_not_a_heading_but_a_definitions_term_is(valgrind):
    """Chromium prints a one-line example in its box, set in from the prose after it, in bold
    monospace: not a section. An option's term, at the text's left over its indented description, is."""
    headings = {s.heading for s in valgrind.sections}
    assert not headings & {"valgrind --tool=memcheck ls -l", "==12345== some-message-from-Valgrind",
                           "tool_name1,tool_name2:suppression_name"}
    assert {"--log-file=<filename>", "--num-callers=<number> [default: 12]"} <= headings
    (passage,) = [p for p in split_document(valgrind) if "However, Memcheck is the default" in p.text]
    assert passage.section == "2.1. What Valgrind does with your program" and passage.page == 1


def test_a_table_of_contents_without_dot_leaders_is_dropped(valgrind):
    """Chromium prints the manual's contents as its headings, one a line, without dot leaders: not text
    to answer from; the title over it goes too, here and over texinfo's contents (whose leaders tell)."""
    assert "Table of Contents" not in valgrind.text
    assert "2.1. What Valgrind does with your program 2.2. Getting started" not in valgrind.text.replace("\n", " ")
    assert valgrind.text.count("2.7.4. malloc-related Options") == 1  # the heading itself stays
    assert "Table of Contents" not in read_pdf(MIXED / "libtasn1.pdf", "libtasn1.pdf", _no_warning).text


def test_a_man_pages_title_is_the_line_under_name_not_name(tmux):
    """groff sets NAME as large as SYNOPSIS and DESCRIPTION and writes no metadata /Title: NAME is
    the first section, not the title. Every passage's title is the line under it (issue #12)."""
    passages = split_document(tmux)
    assert {p.title for p in passages} == {"tmux — terminal multiplexer"}
    assert passages[0].section == "NAME" and passages[0].text == "tmux — terminal multiplexer"
    assert passages[1].section == "SYNOPSIS"
    assert passages[1].embedding_text().startswith("tmux — terminal multiplexer › SYNOPSIS\n")
    levels = {s.heading: s.level for s in tmux.sections}
    assert levels["NAME"] == levels["SYNOPSIS"] == levels["DESCRIPTION"] == 2


def test_a_title_set_larger_than_the_headings_stays_the_title(valgrind):
    assert {p.title for p in split_document(valgrind)} == {"2. Using and understanding the Valgrind core"}
