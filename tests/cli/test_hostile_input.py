"""Issue 13: hostile recipes and env files are refused fast, in bounded memory, with one line.

Each attack runs coop as a real process (`hostile.run_measured`): the exit code, the one error line,
the wall time and the peak RSS are checked, and the state folder is unchanged afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hostile import run_measured, tree_state

# Plain `coop app ls` / `recipe render` peak at ~20 MB here; the attacks below reached gigabytes.
MAX_RSS_MB = 60
MAX_SECONDS = 3.0  # typically 0.1-0.3 s; the machine is shared, so leave room


def write_recipe(path: Path, compose: str, sample: str = "TYPE=r\n") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "compose.yml").write_text(compose)
    (path / ".env.sample").write_text(sample)
    return path


def alias_bomb(levels: int = 9) -> str:
    """A few hundred bytes of YAML that expand to 9**levels strings (a "billion laughs")."""
    lines = ['version: "3.8"', 'x-l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*l{i - 1}"] * 9)
        lines.append(f"x-l{i}: &l{i} [{refs}]")
    lines.append("services:\n  app:\n    image: nginx:1\n")
    return "\n".join(lines) + "\n"


def render(recipe: Path, env: dict[str, str], envfile: Path | None = None):
    envfile = envfile or recipe / ".env.sample"
    return run_measured(["recipe", "render", str(recipe), "--env", str(envfile), "--stack", "a.example.org"], env)


def assert_refused_fast(r, code: int, *needles: str) -> None:
    assert r.code == code, r
    line = r.error_line
    assert line.startswith("error: ") and "Traceback" not in r.err, r
    for n in needles:
        assert n in line, (n, line)
    assert r.seconds < MAX_SECONDS, r.seconds
    assert r.max_rss_mb < MAX_RSS_MB, r.max_rss_mb


def test_yaml_alias_bomb_is_refused_as_docker_refuses_it(tmp_path, coop_env):
    text = alias_bomb()
    assert len(text) < 600
    recipe = write_recipe(tmp_path / "r", text)
    before = tree_state(tmp_path)
    r = render(recipe, coop_env)
    assert_refused_fast(r, 4, "compose.yml:", "excessive aliasing")
    assert tree_state(tmp_path) == before


def test_a_huge_compose_file_is_refused_without_reading_it(tmp_path, coop_env):
    recipe = write_recipe(tmp_path / "r", "")
    with open(recipe / "compose.yml", "wb") as fh:
        fh.truncate(2 * 1024**3)  # 2 GiB, sparse: nothing is written to disk
    assert_refused_fast(render(recipe, coop_env), 4, "compose.yml is larger than coop reads from a recipe")


def test_a_fifo_in_place_of_a_compose_file_is_refused_not_waited_on(tmp_path, coop_env):
    import os

    recipe = write_recipe(tmp_path / "r", "")
    (recipe / "compose.yml").unlink()
    os.mkfifo(recipe / "compose.yml")
    assert_refused_fast(render(recipe, coop_env), 4, "compose.yml is not a regular file")


def test_yaml_nesting_beyond_a_bound_is_refused(tmp_path, coop_env):
    deep = "[" * 900 + "]" * 900
    recipe = write_recipe(tmp_path / "r", f"services:\n  app:\n    image: nginx:1\n    labels: {{a: {deep}}}\n")
    r = render(recipe, coop_env)
    assert_refused_fast(r, 4, "compose.yml:", "nested more than")


def test_yaml_with_some_aliases_still_loads():
    from coopcloud.compose.yaml_loader import parse

    # Real recipes use anchors for shared environment blocks: hundreds of aliases are fine.
    text = "x-env: &env {A: '1', B: '2', C: '3'}\nservices:\n" + "".join(
        f"  s{i}:\n    image: nginx:1\n    environment: *env\n" for i in range(300)
    )
    doc, _ = parse(text, "compose.yml")
    assert doc["services"]["s299"]["environment"] == {"A": "1", "B": "2", "C": "3"}


def test_interpolation_that_grows_without_bound_is_refused(tmp_path, coop_env):
    # A long value referenced many times (here through an alias) must not be expanded into gigabytes.
    big = "x" * 100_000
    compose = (
        'x-big: &big "'
        + "$BIG" * 200
        + '"\nservices:\n  app:\n    image: nginx:1\n    labels:\n'
        + "".join(f"      l{i}: *big\n" for i in range(50))
    )
    recipe = write_recipe(tmp_path / "r", compose, f"TYPE=r\nBIG={big}\n")
    r = render(recipe, coop_env)
    assert_refused_fast(r, 4, "compose.yml:", "$BIG", "MiB")


def env_doubling(levels: int) -> str:
    lines = ["TYPE=r", "A0=xxxxxxxxxxxxxxxx"]
    lines += [f"A{i}=$A{i - 1}$A{i - 1}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def abra_with_apps(coop_env):
    servers = Path(coop_env["ABRA_DIR"]) / "servers" / "default"
    servers.mkdir(parents=True)
    (servers / "ok.example.org.env").write_text("TYPE=nextcloud:1.0.0+27.1\n")
    return servers


def test_env_that_doubles_itself_is_broken_and_the_others_still_list(abra_with_apps, coop_env):
    text = env_doubling(40)  # 2**40 * 16 characters if expanded
    assert len(text) < 600
    (abra_with_apps / "bomb.example.org.env").write_text(text)
    before = tree_state(Path(coop_env["ABRA_DIR"]))
    r = run_measured(["app", "ls"], coop_env)
    assert r.code == 0, r
    assert "ok.example.org" in r.out and "nextcloud" in r.out
    assert "bomb.example.org" in r.out and "(broken)" in r.out
    [warning] = r.err.splitlines()
    assert "bomb.example.org.env:16: A14: expands to more than 128 KiB" in warning
    assert r.seconds < MAX_SECONDS and r.max_rss_mb < MAX_RSS_MB, r
    assert tree_state(Path(coop_env["ABRA_DIR"])) == before


def test_deeply_nested_env_reference_is_broken_and_named(abra_with_apps, coop_env):
    (abra_with_apps / "deep.example.org.env").write_text("TYPE=r\nX=" + "${X:-" * 5000 + "}" * 5000 + "\n")
    r = run_measured(["app", "ls", "--json"], coop_env)
    assert r.code == 0, r
    import json

    rows = {row["app"]: row for row in json.loads(r.out)}
    assert rows["ok.example.org"]["error"] is None
    assert "deep.example.org.env:2: X:" in rows["deep.example.org"]["error"]
    assert "nested more than" in rows["deep.example.org"]["error"]
    assert r.seconds < MAX_SECONDS and r.max_rss_mb < MAX_RSS_MB, r

    r = run_measured(["app", "env", "deep.example.org"], coop_env)
    assert_refused_fast(r, 4, "deep.example.org.env:2: X:", "nested more than")


def test_env_file_with_an_invalid_app_name_is_listed_as_broken(abra_with_apps, coop_env):
    (abra_with_apps / "-rf.env").write_text("TYPE=r\n")
    r = run_measured(["app", "ls"], coop_env)
    assert r.code == 0 and "ok.example.org" in r.out and "-rf" in r.out and "(broken)" in r.out, r
    assert "app name '-rf' is not valid" in r.err


def test_env_budgets_name_file_line_and_variable():
    from coopcloud.domain.envfile import MAX_VALUE, EnvFile
    from coopcloud.errors import EnvFileError

    env = EnvFile.parse(env_doubling(30), name="app.env")
    with pytest.raises(EnvFileError, match=r"app\.env:\d+: A\d+: expands to more than 128 KiB"):
        env.values()
    # Right at the limit is fine: one value may be as long as a process environment allows.
    ok = EnvFile.parse(f"A={'x' * (MAX_VALUE // 2)}\nB=$A$A\n", name="app.env")
    assert len(ok.values()["B"]) == MAX_VALUE
    many = "".join(f"V{i}={'y' * 100_000}\n" for i in range(50))
    with pytest.raises(EnvFileError, match=r"app\.env:\d+: V\d+: the file's values expand to more than 4 MiB"):
        EnvFile.parse(many, name="app.env").values()


# -- compose: what `docker stack deploy` refuses before its first request ---------------------------


@pytest.mark.parametrize(
    "compose, needles",
    [
        ("services:\n  app:\n    environment: {A: '1'}\n", ["service app: no image specified"]),
        (
            "services:\n  app:\n    image: nginx:1\n    deploy: {replicas: 99999999999999999999999}\n",
            ["service app: deploy.replicas 9999999999999999", "is out of range (0 to 18446744073709551615)"],
        ),
        (
            "services:\n  app:\n    image: nginx:1\n    deploy: {replicas: -1}\n",
            ["compose.yml:4 services.app.deploy.replicas: cannot parse '-1', it must not be negative"],
        ),
        (
            "services:\n  app:\n    image: nginx:1\n    deploy: {replicas: '${N}'}\n",
            ["deploy.replicas 99999999999999999999 is out"],
        ),
        (
            "services:\n  app:\n    image: nginx:1\n    ports: [{target: 80, published: 70000}]\n",
            ["ports[0].published 70000 is out of range (0 to 65535)"],
        ),
        (
            'version: "3.8"\nservices:\n  app:\n    image: nginx:1\n    configs: [conf]\nconfigs:\n  conf: {}\n',
            ["config conf has neither `file:` nor `external: true`"],
        ),
        (
            'version: "3.8"\nservices:\n  app:\n    image: nginx:1\nsecrets:\n  db_password: {labels: {a: b}}\n',
            ["secret db_password has neither `file:` nor `external: true` or `driver:`"],
        ),
    ],
)
def test_compose_that_docker_would_refuse_after_connecting_is_exit_4(tmp_path, coop_env, compose, needles):
    recipe = write_recipe(tmp_path / "r", compose, "TYPE=r\nN=99999999999999999999\n")
    r = render(recipe, coop_env)
    assert_refused_fast(r, 4, "compose.yml", *needles)


def test_an_overlay_may_leave_the_image_to_the_base_file(tmp_path, coop_env):
    recipe = write_recipe(
        tmp_path / "r",
        "services:\n  app:\n    image: nginx:1\n",
        "TYPE=r\nCOMPOSE_FILE=compose.yml:compose.extra.yml\n",
    )
    (recipe / "compose.extra.yml").write_text("services:\n  app:\n    environment: {A: '1'}\n")
    r = render(recipe, coop_env)
    assert r.code == 0, r
