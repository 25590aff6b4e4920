"""Text from documents made safe for a terminal: control characters shown as escapes, never sent raw."""

from __future__ import annotations

import re

# C0 and C1 controls (ESC starts colour, cursor and OSC 8 hyperlink sequences; CR and backspace
# overwrite what was printed) and the bidirectional overrides and isolates that reorder a line as shown
# ("Trojan Source"). A document's name or passage is data: none of it may drive the terminal.
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[{_CONTROLS}]")
_UNSAFE_OR_LINE = re.compile(f"[{_CONTROLS}\t\n]")


def printable(text: str, lines: bool = False) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\u202e`); tab and newline
    are kept when `lines` (a passage's text), escaped otherwise (a name or a citation: one line)."""
    return (_UNSAFE if lines else _UNSAFE_OR_LINE).sub(_escape, text)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return {9: "\\t", 10: "\\n", 13: "\\r"}.get(code) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def styled_passage(hit, highlight_style: str):
    """A passage's text as rich Text, escaped, its best sentence in `highlight_style`: escaped piece by
    piece, since an escape is longer than the character it stands for and would shift the highlight."""
    from rich.text import Text

    if not hit.highlight:
        return Text(printable(hit.text, lines=True))
    a, b = hit.highlight.start - hit.start, hit.highlight.end - hit.start
    body = Text(printable(hit.text[:a], lines=True))
    body.append(printable(hit.text[a:b], lines=True), style=highlight_style)
    body.append(printable(hit.text[b:], lines=True))
    return body
