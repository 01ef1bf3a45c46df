"""What coop reads from a restic job's output: its JSON lines, its status lines, its snapshot list."""

from __future__ import annotations

from coopcloud.ops.backup.job import JobResult
from coopcloud.ops.backup.restic import status_printer
from coopcloud.ops.backup.snapshots import Snapshot


def test_json_lines_are_the_objects_among_other_output():
    out = "\n".join(
        ["restic 0.17.3", '{"message_type":"summary","snapshot_id":"ab"}', "{broken", "[1, 2]", ' {"files": 3} ']
    )
    result = JobResult(0, out, "", "complete")
    assert result.json_lines() == [{"message_type": "summary", "snapshot_id": "ab"}, {"files": 3}]


def test_a_status_line_is_shown_as_percent_and_megabytes():
    shown: list[str] = []
    show = status_printer(shown.append, "backup")
    assert show is not None and status_printer(None, "backup") is None
    show({"message_type": "status", "percent_done": 0.5, "bytes_done": 2_000_000, "total_bytes": 4_000_000})
    show({"message_type": "status"})  # the first line restic prints holds no numbers yet
    show({"message_type": "status", "percent_done": "half"})  # another shape: nothing shown, nothing raised
    assert shown == ["backup:  50.0%  2.0/4.0 MB", "backup:   0.0%  0.0/0.0 MB"]


def test_a_snapshot_without_tags_or_paths_reads_as_empty():
    snap = Snapshot.from_restic({"id": "abcdef0123", "time": "2026-01-01T00:00:00Z", "tags": None})
    assert (snap.short_id, snap.why, snap.services, snap.paths, snap.empty) == ("abcdef01", "", (), (), ())
