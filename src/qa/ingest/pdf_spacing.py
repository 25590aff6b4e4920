"""A PDF line's type size and word spaces: justified lines told from table rows, 1 pt fonts scaled."""

from __future__ import annotations

import ctypes

JUSTIFIED_GAPS = 3  # a line with this many word spaces or more, all alike, is justified prose however wide
SCALED_BELOW = 2.0  # a reported type size under this many points is a 1 pt font scaled by its text matrix


def justified(widths: list[tuple[float, bool]]) -> bool:
    """Are these (width, after punctuation) a justified line's word spaces, however wide? JUSTIFIED_GAPS
    of them at least, and every one near the line's middle width: a typesetter stretches all the
    spaces of a line alike (those after punctuation a little more), where a table's cells stand apart
    by what their texts leave, and the words inside a cell by a narrow space. (Glyph boxes make
    measured spaces differ by a point or so.)"""
    if len(widths) < JUSTIFIED_GAPS:
        return False
    middle = sorted(w for w, _ in widths)[len(widths) // 2]
    return all(abs(w - middle) <= (0.6 if stop else 0.25) * middle + 1 for w, stop in widths)


def scaled(textpage, index: int, size: float) -> float:
    """The type size of the character at `index`: pdfium gives the size its font was selected at,
    which a writer that selects every font at 1 pt and scales the text matrix instead (XeTeX's and
    LuaTeX's drivers) leaves at 1; there, the size times the matrix's scale."""
    import pypdfium2.raw as raw

    if size >= SCALED_BELOW:
        return size
    matrix = raw.FS_MATRIX()
    if not raw.FPDFPageObj_GetMatrix(raw.FPDFText_GetTextObject(textpage, index), ctypes.byref(matrix)):
        return size
    return size * abs(matrix.a * matrix.d - matrix.b * matrix.c) ** 0.5
