"""Issue 13, `app cp` on a real container: copies stream both ways in bounded memory, and links that
point outside the destination are refused with one line, before anything is written."""

from __future__ import annotations

import os

import pytest

from hostile import run_measured, tree_state
from live_app import free_port, new_app, web_recipe

pytestmark = pytest.mark.integration

BIG_MB = 120  # the old code held the archive whole, twice: > 240 MB peak for this file


@pytest.fixture(scope="module")
def running(tmp_path_factory, local_engine_socket, registry):
    """One deployed app for the module: (stack, coop_env)."""
    import io
    import uuid

    from conftest import remove_stack
    from coopcloud.cli.main import main

    tmp = tmp_path_factory.mktemp("cp")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABRA_", "DOCKER_", "COOP_"))}
    env.update(ABRA_DIR=str(tmp / "abra"), DOCKER_CONFIG=str(tmp / "docker"))

    def coop(*argv: str):
        out, err = io.StringIO(), io.StringIO()
        code = main(list(argv), environ=env, stdout=out, stderr=err, stdin=io.StringIO())

        class R:
            pass

        r = R()
        r.code, r.out, r.err = int(code), out.getvalue(), err.getvalue()  # type: ignore[attr-defined]
        return r

    stack = f"tcp_{uuid.uuid4().hex[:8]}"
    assert coop("server", "add", "--local").code == 0
    new_app(coop, tmp, stack, "default", web_recipe(free_port()))
    r = coop("app", "deploy", stack, "--no-input")
    assert r.code == 0, r.err
    script = (
        "mkdir -p /tmp/d/sub && echo hi > /tmp/d/sub/f && busybox ln -s /etc/passwd /tmp/d/abs"
        " && mkdir -p /tmp/e && echo x > /tmp/e/f && busybox ln -s ../../../etc /tmp/e/up"
    )
    r = coop("app", "run", stack, "app", "--", "sh", "-c", script)
    assert r.code == 0, r.err
    yield stack, env
    remove_stack(stack)


def test_a_link_pointing_outside_is_refused_and_nothing_is_written(running, tmp_path):
    stack, env = running
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    before = tree_state(tmp_path)
    for path, link in (("/tmp/d", "d/abs -> /etc/passwd"), ("/tmp/e", "e/up -> ../../../etc")):
        r = run_measured(["app", "cp", stack, f"app:{path}", str(out)], env)
        assert r.code == 4, r
        assert f"link {link} points outside the destination; nothing was copied" in r.error_line
        assert r.seconds < 10 and r.max_rss_mb < 60, r
        assert tree_state(tmp_path) == before


def test_a_local_link_pointing_outside_is_not_sent(running, tmp_path):
    stack, env = running
    folder = tmp_path / "tree"
    folder.mkdir()
    (folder / "a").write_text("A")
    (folder / "passwd").symlink_to("/etc/passwd")
    r = run_measured(["app", "cp", stack, str(folder), "app:/tmp/sent"], env)
    assert r.code == 4, r
    assert "link tree/passwd -> /etc/passwd points outside the copy; nothing was copied" in r.error_line
    r = run_measured(["app", "run", stack, "app", "--", "ls", "/tmp/sent"], env)
    assert r.code != 0  # not even the folder was made
    # a link that stays inside is copied as a link
    (folder / "passwd").unlink()
    (folder / "same").symlink_to("a")
    assert run_measured(["app", "cp", stack, str(folder), "app:/tmp/sent"], env).code == 0
    r = run_measured(["app", "run", stack, "app", "--", "cat", "/tmp/sent/same"], env)
    assert r.code == 0 and r.out == "A", r


def test_a_big_file_streams_both_ways_in_bounded_memory(running, tmp_path):
    stack, env = running
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        block = os.urandom(1024 * 1024)
        for _ in range(BIG_MB):
            f.write(block)
    r = run_measured(["app", "cp", stack, str(big), "app:/tmp/big.bin"], env, timeout=120)
    assert r.code == 0, r
    assert r.max_rss_mb < 60, r.max_rss_mb
    back = tmp_path / "back.bin"
    r = run_measured(["app", "cp", stack, "app:/tmp/big.bin", str(back)], env, timeout=120)
    assert r.code == 0, r
    assert r.max_rss_mb < 60, r.max_rss_mb
    assert back.stat().st_size == big.stat().st_size
    with open(big, "rb") as a, open(back, "rb") as b:
        while True:
            x, y = a.read(1 << 20), b.read(1 << 20)
            assert x == y
            if not x:
                break
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".coop-cp-")]
    run_measured(["app", "run", stack, "app", "--", "rm", "-f", "/tmp/big.bin"], env)
