"""The copy of a restored snapshot to the operator's machine: all of its files, or nothing left behind."""

from __future__ import annotations

import io
import tarfile
from typing import IO

import pytest

from coopcloud.ops.backup import BackupFailed
from coopcloud.ops.backup.download import _copy_into


class Archive:
    """An engine that only answers archive_get, with the tar of /restore/backup as Docker gives it."""

    def __init__(self, entries: list[tuple[str, bytes | None, str | None]]):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data, link in entries:
                info = tarfile.TarInfo(name)
                if link is not None:
                    info.type, info.linkname = tarfile.LNKTYPE, link
                    tar.addfile(info)
                elif data is None:
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                else:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        self.data = buf.getvalue()

    def archive_get(self, container: str, path: str, into: IO[bytes]) -> None:
        assert path == "/restore/backup"
        into.write(self.data)


FILES = [
    ("backup", None, None),
    ("backup/app", None, None),
    ("backup/app/files", None, None),
    ("backup/app/files/a.txt", b"one\n", None),
    ("backup/app/files/b.txt", None, "backup/app/files/a.txt"),
]


def test_every_file_of_the_snapshot_hard_links_too(tmp_path):
    dest = tmp_path / "dest"
    assert _copy_into(Archive(FILES), "c", dest, app="a", snapshot="1234abcd", expected=2) == 2  # type: ignore[arg-type]
    assert (dest / "app/files/b.txt").read_bytes() == b"one\n"


@pytest.mark.parametrize("existed", [False, True])
def test_fewer_files_than_the_snapshot_holds_is_a_failure_that_leaves_dest_as_it_was(tmp_path, existed):
    dest = tmp_path / "dest"
    if existed:
        dest.mkdir()
    with pytest.raises(BackupFailed) as caught:
        _copy_into(Archive(FILES[:3]), "c", dest, app="a", snapshot="1234abcd", expected=2)  # type: ignore[arg-type]
    assert str(caught.value).startswith(f"app a: snapshot 1234abcd holds 2 files, but 0 reached {dest}")
    assert "\n" not in str(caught.value)
    assert (list(dest.iterdir()) == []) if existed else not dest.exists()


def test_a_destination_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(BackupFailed) as caught:
        _copy_into(Archive(FILES), "c", tmp_path / "file" / "dest", app="a", snapshot="1234abcd", expected=2)  # type: ignore[arg-type]
    assert str(caught.value).startswith("app a: snapshot 1234abcd: cannot write its files into ")
