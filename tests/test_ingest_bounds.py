"""Bounded work per file: special, sparse and binary files refused before they are read, zip bombs,
deep HTML, PDF stream bombs and a time budget, files that change while read; the rest is indexed."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

import ingest_files as files
from qa.ingest import bounds
from qa.ingest.files import read_document
from qa.ingest.isolated import read_isolated
from qa.ingest.pdf import read_pdf
from qa.store.local.build import build_index
from qa.store.local.index import stale_reason

GOOD = "Good\n\nReadable text about apples and pears.\n"


def _read(path: Path):
    warnings: list[str] = []
    return read_document(path, path.name, warnings.append), warnings


def _build(folder: Path, index_dir: Path, embedder):
    warnings: list[str] = []
    index = build_index([folder], index_dir, embedder, warn=warnings.append)
    return index, [w for w in warnings if not w.startswith("Embedding")]


def _pdf_bomb(path: Path, unpacked_mb: int) -> Path:
    """A one-page PDF whose Flate content stream unpacks to `unpacked_mb` MB of spaces, then a line of
    text: ~2 MB on disk. The stream is made from one compressed MB repeated (after a full flush each
    block is the same), so making it costs seconds, not a compression of gigabytes."""
    pack = zlib.compressobj(9, zlib.DEFLATED, -15)
    spaces = b" " * (1 << 20)
    first = pack.compress(spaces) + pack.flush(zlib.Z_FULL_FLUSH)
    again = pack.compress(spaces) + pack.flush(zlib.Z_FULL_FLUSH)
    text = b"BT /F1 12 Tf 72 720 Td (Bomb text) Tj ET"
    adler = 1
    for _ in range(unpacked_mb):
        adler = zlib.adler32(spaces, adler)
    stream = b"\x78\xda" + first + again * (unpacked_mb - 1) + pack.compress(text) + pack.flush() \
        + struct.pack(">I", zlib.adler32(text, adler))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def test_special_sparse_and_binary_files_are_refused_and_the_rest_is_indexed(tmp_path, embedder):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD)
    os.mkfifo(folder / "fifo.txt")  # nobody writes to it: opening it to read would wait for ever
    (folder / "zero.txt").symlink_to("/dev/zero")  # reading it would never end
    with open(folder / "sparse.txt", "wb") as sparse:
        sparse.truncate(2 << 30)  # 2 GB of holes
    (folder / "binary.md").write_bytes(b"# Title\n\x00\x01\x02 an image named .md")
    index, warnings = _build(folder, tmp_path / "index", embedder)
    assert sorted(warnings) == [
        f"skipped {folder}/binary.md: binary data (a NUL byte at 8), not text",
        f"skipped {folder}/fifo.txt: not a regular file (a FIFO); qa reads only regular files",
        f"skipped {folder}/sparse.txt: a sparse file (2,048 MB long, 0 MB stored); not a document",
        f"skipped {folder}/zero.txt: not a regular file (a character device); qa reads only regular files",
    ]
    assert {p.doc for p in index.passages} == {"good.txt"}
    shorts = {r["doc"]: r.get("short") for r in index.manifest["files"]}
    assert shorts == {"binary.md": "binary", "fifo.txt": "special file", "good.txt": None,
                      "sparse.txt": "sparse file", "zero.txt": "special file"}
    assert stale_reason(index.manifest, embedder.model) is None  # refused files are not hashed, not "changed"


def test_a_fifo_given_by_name_is_refused_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "pipe.pdf")
    document, warnings = _read(tmp_path / "pipe.pdf")
    assert document is None and warnings == ["skipped pipe.pdf: not a regular file (a FIFO); qa reads only regular files"]


def _docx_with(path: Path, name: str, data: bytes) -> Path:
    """A real Word file (python-docx's) with one more part added."""
    files.write_docx(path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return path


def test_a_docx_zip_bomb_is_refused_before_python_docx_opens_it(tmp_path):
    bomb = _docx_with(tmp_path / "bomb.docx", "word/media/image1.png", b"\0" * (64 << 20))  # ~64 KB packed
    document, warnings = _read(bomb)
    assert document is None
    assert warnings == ["skipped bomb.docx: word/media/image1.png unpacks to 1,028 times its packed size "
                        "(qa unpacks at most 100 times: a zip bomb?)"]


def test_a_docx_part_larger_than_it_declares_is_never_unpacked_past_its_declared_size(tmp_path):
    # word/styles.xml packs 64 MB but both its headers say 1 KB: zipfile stops at 1 KB and its CRC
    # check fails, so python-docx cannot open the file; the plain path reads the body without styles.
    path = files.write_docx(tmp_path / "liar.docx")
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    parts["word/styles.xml"] += b"<!--" + b" " * (64 << 20) + b"-->"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        part = archive.getinfo("word/styles.xml")
    central = data.index(b"PK\x01\x02")  # the central directory's entry of that part
    while data[central + 46:central + 46 + len(part.filename)] != part.filename.encode():
        central = data.index(b"PK\x01\x02", central + 1)
    struct.pack_into("<I", data, part.header_offset + 22, 1024)  # local header: uncompressed size
    struct.pack_into("<I", data, central + 24, 1024)  # central directory: uncompressed size
    path.write_bytes(bytes(data))
    document, warnings = _read(path)
    assert warnings == ["liar.docx: read as plain text: layout rules failed (BadZipFile from zipfile in _extract)"]
    assert files.INTRO in document.text


def test_a_deep_html_page_is_read_on_the_plain_path_and_a_huge_one_refused(tmp_path):
    deep = tmp_path / "deep.html"
    deep.write_text("<html><body><p>Before the nest.</p>" + "<div>" * 50_000 + "Deep inside."
                    + "</div>" * 50_000 + "<p>After the nest.</p></body></html>")
    document, warnings = _read(deep)
    assert warnings == ["deep.html: read as plain text: elements nested over 500 deep, past what the layout reader takes"]
    assert document.text == "Before the nest.\n\nDeep inside.\n\nAfter the nest."
    huge = tmp_path / "huge.html"
    huge.write_bytes(b"<p>" + b"words " * (6 << 20) + b"</p>")  # 36 MB
    document, warnings = _read(huge)
    assert document is None and warnings == ["skipped huge.html: too large (36 MB; qa reads html files up to 32 MB)"]


def test_a_pdf_stream_bomb_is_stopped_at_the_memory_limit_and_the_rest_is_indexed(tmp_path, embedder):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD)
    _pdf_bomb(folder / "bomb.pdf", 1536)  # 1.5 GB unpacked, over the 1 GB a reader may take
    index, warnings = _build(folder, tmp_path / "index", embedder)
    assert warnings == ["skipped bomb.pdf: needed over 1,024 MB of memory to read and was stopped"]
    assert {p.doc for p in index.passages} == {"good.txt"}


def test_a_pdf_past_its_time_budget_is_stopped_and_read_on_the_plain_path(tmp_path, monkeypatch):
    import qa.ingest.isolated as isolated
    from qa.ingest.pdf import read_pdf_plain_only

    path = files.write_manual_pdf(tmp_path / "manual.pdf")
    warnings: list[str] = []
    document = read_isolated(read_pdf, path, "manual.pdf", warnings.append, seconds=0.001, plain=read_pdf_plain_only)
    assert warnings == ["manual.pdf: read as plain text: the layout took over its time budget (0 s) and was stopped"]
    assert document.plain_pages == (1, 2, 3) and files.INTRO.split()[0] in document.text
    monkeypatch.setattr(isolated, "PLAIN_SECONDS", 0.001)  # and where the plain path runs out of time too
    warnings.clear()
    assert read_isolated(read_pdf, path, "manual.pdf", warnings.append, seconds=0.001, plain=read_pdf_plain_only) is None
    assert warnings == ["skipped manual.pdf: took over its time budget (0 s) and was stopped"]


def test_pages_past_the_layout_time_are_read_as_plain_text(tmp_path, monkeypatch):
    import qa.ingest.pdf as pdf

    monkeypatch.setattr(pdf, "LAYOUT_SECONDS", 0.0)
    document, warnings = _read(files.write_manual_pdf(tmp_path / "manual.pdf"))
    assert warnings == ["manual.pdf: read as plain text: layout rules failed on pages 1-3 (past the layout's 0 s)"]
    assert document.plain_pages == (1, 2, 3) and files.INTRO.split()[0] in document.text


def _changing(monkeypatch, times: int, name: str):
    """Append to the file called `name` just after its bytes are read, its first `times` reads."""
    real, count = bounds._read_all, []

    def read_then_edit(fd, most):
        data = real(fd, most)
        path = os.readlink(f"/proc/self/fd/{fd}")
        if path.endswith(name) and len(count) < times:
            count.append(1)
            with open(path, "ab") as handle:
                handle.write(b"More text written while qa was reading.\n")
        return data

    monkeypatch.setattr(bounds, "_read_all", read_then_edit)


def test_a_file_that_changes_while_read_is_read_again(tmp_path, monkeypatch):
    path = tmp_path / "notes.html"
    path.write_text("<p>First text.</p>")
    _changing(monkeypatch, 1, "notes.html")
    document, warnings = _read(path)
    assert warnings == [] and document.text.startswith("First text.")
    assert document.sha256 == bounds.checked_sha256(path)  # the hash of the bytes read the second time
    assert document.read_stat == (path.stat().st_size, path.stat().st_mtime_ns)


def test_a_file_that_keeps_changing_is_left_for_the_next_run(tmp_path, embedder, monkeypatch):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD)
    (folder / "busy.txt").write_text("Busy\n\nA log being written.\n")
    _changing(monkeypatch, 2, "busy.txt")  # on both its reads
    index, warnings = _build(folder, tmp_path / "index", embedder)
    assert "skipped busy.txt: changed while it was read; left for the next run" in warnings
    record = next(r for r in index.manifest["files"] if r["doc"] == "busy.txt")
    assert record["sha256"] is None and record["short"] == "changing"
    assert stale_reason(index.manifest, embedder.model) == "busy.txt can now be read"


def test_a_file_edited_after_it_was_read_is_seen_as_changed(tmp_path, embedder, monkeypatch):
    # The record pairs the hash with the size and mtime the file had when read, not those of a later stat.
    import qa.store.corpus as build

    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "notes.txt").write_text(GOOD)
    real = build.split_document

    def split_then_edit(document):
        with open(folder / "notes.txt", "a") as handle:
            handle.write("A line added while the build ran.\n")
        return real(document)

    monkeypatch.setattr(build, "split_document", split_then_edit)
    index, _ = _build(folder, tmp_path / "index", embedder)
    assert stale_reason(index.manifest, embedder.model) == "notes.txt changed"


def test_a_word_file_past_its_time_budget_is_read_on_the_plain_path(tmp_path):
    from qa.ingest.docx import read_docx, read_docx_plain_only

    path = files.write_docx(tmp_path / "manual.docx")
    warnings: list[str] = []
    document = read_isolated(read_docx, path, "manual.docx", warnings.append, seconds=0.001, plain=read_docx_plain_only)
    assert warnings == ["manual.docx: read as plain text: the layout took over its time budget (0 s) and was stopped"]
    assert files.INTRO in document.text.split("\n\n")
