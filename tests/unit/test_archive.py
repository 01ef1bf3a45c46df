"""`ops.archive`: tar streams for `app cp` — round trips, links refused before anything is written."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from coopcloud.errors import InvalidError
from coopcloud.ops.app.archive import extract, outside_links, tar_chunks


def tar_of(entries: list[tuple[str, str, str]]) -> io.BytesIO:
    """(name, kind, data-or-link) → an archive as the engine sends it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:") as tar:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, value
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, value
                tar.addfile(info)
            else:
                data = value.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_extract_renames_the_top_entry_and_keeps_inner_links(tmp_path):
    stream = tar_of([("d", "dir", ""), ("d/f", "file", "hi"), ("d/same", "sym", "f"), ("d/hard", "hard", "d/f")])
    n = extract(stream, tmp_path, "copy", "app x: app:/d")
    assert n > 0
    assert (tmp_path / "copy" / "f").read_text() == "hi"
    assert (tmp_path / "copy" / "same").resolve() == (tmp_path / "copy" / "f").resolve()
    assert (tmp_path / "copy" / "hard").read_text() == "hi"
    assert listing(tmp_path) == ["copy", "copy/f", "copy/hard", "copy/same"]  # no staging folder left


@pytest.mark.parametrize("link", ["/etc/passwd", "../../etc", "../.."])
def test_extract_refuses_a_link_outside_and_writes_nothing(tmp_path, link):
    (tmp_path / "keep").write_text("mine")
    stream = tar_of([("d", "dir", ""), ("d/a", "file", "first"), ("d/bad", "sym", link), ("d/z", "file", "late")])
    with pytest.raises(InvalidError) as err:
        extract(stream, tmp_path, "d", "app x: app:/d")
    assert str(err.value).startswith(f"app x: app:/d: link d/bad -> {link} points outside the destination")
    assert "nothing was copied" in str(err.value)
    assert listing(tmp_path) == ["keep"]


def test_extract_merges_into_an_existing_folder_and_replaces_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "old").write_text("old")
    (tmp_path / "d" / "f").write_text("before")
    extract(tar_of([("d", "dir", ""), ("d/f", "file", "after")]), tmp_path, "d", "x")
    assert (tmp_path / "d" / "f").read_text() == "after" and (tmp_path / "d" / "old").read_text() == "old"


def test_outside_links_finds_absolute_and_escaping_ones(tmp_path):
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f").write_text("x")
    (root / "ok").symlink_to("sub/f")
    (root / "sub" / "up_ok").symlink_to("../ok")
    (root / "abs").symlink_to("/etc/passwd")
    (root / "sub" / "escape").symlink_to("../../elsewhere")
    assert sorted(outside_links(root)) == [("tree/abs", "/etc/passwd"), ("tree/sub/escape", "../../elsewhere")]
    assert outside_links(root / "sub" / "f") == []


def test_tar_chunks_streams_a_tree_that_reads_back(tmp_path):
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "big").write_bytes(b"x" * 3_000_000)
    chunks = list(tar_chunks(root, "named"))
    assert len(chunks) > 3 and max(len(c) for c in chunks) <= 256 * 1024
    out = tmp_path / "out"
    out.mkdir()
    extract(io.BytesIO(b"".join(chunks)), out, "named", "x")
    assert (out / "named" / "sub" / "big").read_bytes() == b"x" * 3_000_000


def test_tar_chunks_stops_its_producer_when_the_reader_stops(tmp_path):
    (tmp_path / "big").write_bytes(b"y" * 10_000_000)
    gen = tar_chunks(tmp_path / "big", "big")
    next(gen)
    gen.close()  # the PUT failed: the producer thread must not hang
    import threading

    assert not [t for t in threading.enumerate() if t.name == "cp-tar"]
