"""What counts as a question's text: lone surrogates are refused (422), control characters are text."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qa.errors import QAError
from qa.retrieval import check_question


@pytest.mark.parametrize("question, code", [("\ud800 who", "D800"), ("who \udcff\udcfe leads", "DCFF"),
                                            ("\udfff", "DFFF")])
def test_check_question_refuses_lone_surrogates(question, code):
    with pytest.raises(QAError) as raised:
        check_question(question)
    assert (raised.value.status, raised.value.message) == (
        422, f"the question holds characters that are not valid text (U+{code}); send it as UTF-8")


def test_check_question_accepts_control_characters_and_astral_text():
    assert check_question(" who\x00 leads\x01\x1b the \U0001f600 talks?\n") == "who\x00 leads\x01\x1b the \U0001f600 talks?"


def test_cli_refuses_argv_that_is_not_utf8(seed_index_dir):
    """`qa ask $'who \\xff\\xfe leads'`: Python decodes the bytes to lone surrogates (surrogateescape)."""
    done = subprocess.run([sys.executable, "-m", "qa.cli", "ask", b"who \xff\xfe leads", "--index-dir",
                           str(seed_index_dir)], capture_output=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr.decode()) == (
        2, b"", "Error: the question holds characters that are not valid text (U+DCFF); send it as UTF-8\n")
