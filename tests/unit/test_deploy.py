"""Deploy steps that need no engine: what prepare checks before anything is applied."""

from __future__ import annotations

import pytest


def test_a_state_folder_that_cannot_be_written_is_found_before_anything_is_applied(tmp_path):
    from types import SimpleNamespace

    from coopcloud.domain.app import AppRef
    from coopcloud.errors import CoopError
    from coopcloud.ops.deploy import check_state_writable
    from coopcloud.settings import Settings

    servers = tmp_path / "abra" / "servers"
    servers.mkdir(parents=True)
    (servers / "default").symlink_to("/sys/fs")  # read-only for everyone, root included
    settings = Settings.from_environ({"ABRA_DIR": str(tmp_path / "abra")})
    cfg = SimpleNamespace(ref=AppRef("default", "cloud.example.org"))
    with pytest.raises(CoopError, match=r"app cloud.example.org: cannot write to \S*/servers/default \(Permission denied\).*could not be recorded"):
        check_state_writable(cfg, settings)
    (servers / "default").unlink()
    (servers / "default").mkdir()
    check_state_writable(cfg, settings)  # writable: no error
