"""The maintainer's tools without a registry: byte-preserving edits, planning, release/sync/diff/reset on real git repos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coopcloud.domain.imagetag import MAJOR, MINOR, PATCH
from coopcloud.errors import Conflict, CoopError, RecipeError, UsageError
from coopcloud.ops.recipe import maint as rm
from coopcloud.settings import Settings
from recipe_factory import commit, git, git_env, make_recipe_repo, recipe_files

WEB = "127.0.0.1:5000/coop-test/web"


# -- finding and editing image values -------------------------------------------------------


def edit(text: str, tags: dict[str, str]) -> str:
    """Replace each service's tag as `apply_upgrade` does."""
    sites = rm.find_images(text, "compose.yml")
    return rm.replace_tags(text, [(s.offset, s.tag, tags[s.service]) for s in sites if s.service in tags])


def test_plain_quoted_and_commented_values_keep_every_other_byte():
    text = (
        "# top comment\n"
        "services:\n"
        "  app:\n"
        "    image: nginx:1.27.2   # keep me\n"
        "  db:\n"
        "    image: 'postgres:16.1'\n"
        "  cache:\n"
        '    image:    "redis:7.2.4-alpine"  #  spaced\n'
        "  reg:\n"
        f"    image: {WEB}:1.0.0\n"
    )
    got = edit(text, {"app": "1.27.3", "db": "16.2", "cache": "7.4.0-alpine", "reg": "1.1.0"})
    assert got == (
        "# top comment\n"
        "services:\n"
        "  app:\n"
        "    image: nginx:1.27.3   # keep me\n"
        "  db:\n"
        "    image: 'postgres:16.2'\n"
        "  cache:\n"
        '    image:    "redis:7.4.0-alpine"  #  spaced\n'
        "  reg:\n"
        f"    image: {WEB}:1.1.0\n"
    )


def test_crlf_bom_and_flow_mappings():
    text = "\ufeffservices:\r\n  app: {image: nginx:1.2, ports: [80]}\r\n  db:\r\n    image: mariadb:10.6\r\n"
    assert edit(text, {"app": "1.3", "db": "10.11"}) == (
        "\ufeffservices:\r\n  app: {image: nginx:1.3, ports: [80]}\r\n  db:\r\n    image: mariadb:10.11\r\n"
    )


def test_anchors_aliases_and_merge_keys_edit_the_anchor_once(tmp_path):
    text = (
        "x-img: &img nginx:1.2.3\n"
        "x-base: &base\n"
        "  image: busybox:1.36.0\n"
        "services:\n"
        "  app:\n"
        "    <<: *base\n"
        "  worker:\n"
        "    image: *img\n"
        "  web:\n"
        "    image: *img\n"
    )
    sites = {s.service: s for s in rm.find_images(text, "compose.yml")}
    assert sites["app"].offset == text.index("1.36.0")
    assert sites["worker"].offset == sites["web"].offset == text.index("1.2.3")
    (tmp_path / "compose.yml").write_text(text)
    tags = {"nginx": ["1.2.4"], "busybox": ["1.37.0"]}
    plan = {u.service: u for u in rm.plan_upgrade(tmp_path, tags.__getitem__)}
    assert "same YAML value as service worker" in plan["web"].note and plan["web"].candidates == []
    for up in plan.values():
        rm.choose(up, up.candidates[0] if up.candidates else None)
    rm.apply_upgrade(tmp_path, list(plan.values()))
    assert (tmp_path / "compose.yml").read_text() == text.replace("1.2.3", "1.2.4").replace("1.36.0", "1.37.0")


def test_skipped_values_carry_a_note():
    text = (
        "services:\n"
        "  interp:\n"
        "    image: ${DB_IMAGE:-postgis/postgis}:${DB_VERSION:-17-3.5}\n"
        "  named:\n"
        "    image: ${REG:-ghcr.io/org}/app:1.2.0\n"
        "  nodefault:\n"
        "    image: ${IMAGE}:1.0\n"
        "  digest:\n"
        "    image: nginx:1.2@sha256:0123\n"
        "  notag:\n"
        "    image: mariadb\n"
        "  floating:\n"
        "    image: nginx:latest\n"
        "  escaped:\n"
        '    image: "ngin\\x78:1.2"\n'
        "  folded:\n"
        "    image: >-\n"
        "      nginx:1.2\n"
        "  weird:\n"
        "    image: [a]\n"
        "  none:\n"
        "    command: x\n"
    )
    sites = {s.service: s for s in rm.find_images(text, "compose.yml")}
    assert "none" not in sites
    assert "interpolated" in sites["interp"].note
    assert sites["named"].note is None and sites["named"].name == "ghcr.io/org/app" and sites["named"].tag == "1.2.0"
    assert "without a default" in sites["nodefault"].note
    assert "digest" in sites["digest"].note
    assert "no tag" in sites["notag"].note
    assert "floats" in sites["floating"].note
    assert "by hand" in sites["escaped"].note and sites["escaped"].offset is None
    assert "by hand" in sites["folded"].note
    assert "not a string" in sites["weird"].note
    assert edit(text, {"named": "1.3.0"}) == text.replace("org}/app:1.2.0", "org}/app:1.3.0")


def test_replace_tags_refuses_a_moved_tag():
    text = "services:\n  app:\n    image: nginx:1.2\n"
    off = text.index("1.2")
    with pytest.raises(RecipeError, match="changed meanwhile"):
        rm.replace_tags(text.replace("1.2", "1.3"), [(off, "1.2", "1.4")])
    with pytest.raises(RecipeError, match="not a valid image tag"):
        rm.replace_tags(text, [(off, "1.2", "1 2")])


def test_invalid_yaml_names_the_file_and_line():
    with pytest.raises(RecipeError, match=r"compose.yml: not valid YAML at line \d"):
        rm.find_images("services:\n  app:\n    image: [x\n", "compose.yml")


_comment = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=15).map(
    lambda s: s.replace("\n", "")
)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["plain", "single", "double"]),
            st.sampled_from(["nginx", "ghcr.io/org/app", "127.0.0.1:5000/a/b"]),
            st.sampled_from(["1.2.3", "v2.4.8", "17-3.5-alpine", "8.2-fpm"]),
            st.sampled_from(["1.2.4", "v2.5.0", "18-3.5-alpine", "8.3-fpm"]),
            _comment,
            st.sampled_from(["\n", "\r\n"]),
            st.integers(min_value=1, max_value=4),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_property_only_the_tags_change(services):
    quote = {"plain": "", "single": "'", "double": '"'}
    before, after, tags = ["services:\n"], ["services:\n"], {}
    for i, (style, name, old, new, comment, eol, spaces) in enumerate(services):
        q = quote[style]
        tail = f"  # {comment}" if comment.strip() else ""
        svc = f"  s{i}:{eol}    # {comment}{eol}    image:{' ' * spaces}"
        before.append(f"{svc}{q}{name}:{old}{q}{tail}{eol}")
        after.append(f"{svc}{q}{name}:{new}{q}{tail}{eol}")
        tags[f"s{i}"] = new
    assert edit("".join(before), tags) == "".join(after)


# -- version labels -------------------------------------------------------------------------


def test_version_label_forms():
    text = (
        "services:\n"
        "  app:\n"
        "    deploy:\n"
        "      labels:\n"
        '        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.0.0"  # keep\n'
        "        # - coop-cloud.${STACK_NAME}.version=0.0.1+x\n"
        "  other:\n"
        "    deploy:\n"
        "      labels:\n"
        "        coop-cloud.${STACK_NAME}.version: 1.0.0+1.0.0\n"
        "        coop-cloud.$STACK_NAME.version: '0.9.0+1'\n"
        "        - coop-cloud.${STACK_NAME}.version=\n"
        '        - "coop-cloud.${STACK_NAME}.version=${COOP_CLOUD_VERSION:-latest}"\n'
    )
    labels = ["1.0.0+1.0.0", "1.0.0+1.0.0", "0.9.0+1", "", "${COOP_CLOUD_VERSION:-latest}"]
    assert [v for _, v in rm.find_version_labels(text)] == labels
    new, olds = rm.set_version_label(text, "1.1.0+1.1.0")
    assert olds == labels
    assert new == (
        text.replace("version=1.0.0+1.0.0", "version=1.1.0+1.1.0")
        .replace("version: 1.0.0+1.0.0", "version: 1.1.0+1.1.0")
        .replace("'0.9.0+1'", "'1.1.0+1.1.0'")
        .replace("version=\n", "version=1.1.0+1.1.0\n")
    )
    assert "# - coop-cloud.${STACK_NAME}.version=0.0.1+x" in new


def test_bump():
    assert rm.bump(None, MINOR) == "0.1.0" and rm.bump(None, MAJOR) == "1.0.0" and rm.bump(None, PATCH) == "0.0.1"
    assert rm.bump("1.2.3+x", MAJOR) == "2.0.0"
    assert rm.bump("1.2.3+x", MINOR) == "1.3.0"
    assert rm.bump("1.2.3+x", PATCH) == "1.2.4"
    assert rm.bump("1.3.0-rc1+x", PATCH) == "1.3.0"


# -- upgrade planning with a fake registry --------------------------------------------------


def compose(app_tag="1.0.0", db="127.0.0.1:5000/coop-test/db:10.5", extra=""):
    return f"""\
version: "3.8"
services:
  app:
    image: {WEB}:{app_tag}  # main
    deploy:
      labels:
        - "coop-cloud.${{STACK_NAME}}.version=1.0.0+{app_tag}"
  db:
    image: {db}
{extra}"""


TAGS = {
    WEB: ["1.0.0", "1.0.1", "1.1.0", "2.0.0", "latest", "1.0.0-rootless", "1.1.0-rootless"],
    "127.0.0.1:5000/coop-test/db": ["10.5", "10.6", "11.0", "latest"],
}


def fake_registry(calls):
    def tags_for(name):
        calls.append(name)
        if name not in TAGS:
            raise CoopError(f"repository {name} not found")
        return TAGS[name]

    return tags_for


def test_plan_upgrade_levels_and_one_call_per_repository(tmp_path):
    (tmp_path / "compose.yml").write_text(compose())
    (tmp_path / "compose.worker.yml").write_text(f"services:\n  worker:\n    image: {WEB}:1.0.0-rootless\n")
    calls = []
    plan = {u.service: u for u in rm.plan_upgrade(tmp_path, fake_registry(calls), level=MINOR)}
    assert calls == [WEB, "127.0.0.1:5000/coop-test/db"]
    assert plan["app"].candidates == ["1.1.0", "1.0.1"] and plan["app"].newer_beyond_level == ["2.0.0"]
    assert plan["db"].candidates == ["10.6"]
    assert plan["worker"].candidates == ["1.1.0-rootless"]
    plan_patch = {u.service: u for u in rm.plan_upgrade(tmp_path, fake_registry([]), level=PATCH)}
    assert (
        plan_patch["db"].candidates == [] and plan_patch["db"].note == "up to date within --patch (newer: 11.0, 10.6)"
    )


def test_apply_upgrade_writes_only_chosen_tags(tmp_path):
    original = compose()
    (tmp_path / "compose.yml").write_text(original)
    plan = rm.plan_upgrade(tmp_path, fake_registry([]))
    by = {u.service: u for u in plan}
    rm.choose(by["app"], "1.1.0")
    rm.choose(by["db"], None)
    assert by["app"].change == MINOR
    with pytest.raises(UsageError, match="not one of the offered tags"):
        rm.choose(by["db"], "9.0")
    assert rm.apply_upgrade(tmp_path, plan) == ["compose.yml"]
    assert (tmp_path / "compose.yml").read_bytes() == original.replace(
        f"{WEB}:1.0.0  # main", f"{WEB}:1.1.0  # main"
    ).encode()


def test_registry_failure_is_a_note_not_a_crash(tmp_path):
    (tmp_path / "compose.yml").write_text(compose(db="127.0.0.1:5000/nope/db:1.0"))
    by = {u.service: u for u in rm.plan_upgrade(tmp_path, fake_registry([]))}
    assert by["db"].failed and "not found" in by["db"].note
    assert by["app"].candidates[0] == "2.0.0"


def test_file_mode_is_kept(tmp_path):
    (tmp_path / "compose.yml").write_text(compose())
    os.chmod(tmp_path / "compose.yml", 0o640)
    plan = rm.plan_upgrade(tmp_path, fake_registry([]))
    rm.choose(plan[0], "2.0.0")
    rm.apply_upgrade(tmp_path, plan)
    assert (tmp_path / "compose.yml").stat().st_mode & 0o777 == 0o640


# -- release planning on git repos ----------------------------------------------------------


def settings_for(tmp_path) -> Settings:
    return Settings.from_environ({**git_env(), "ABRA_DIR": str(tmp_path / "abra")})


def repo_at_1(tmp_path, **kw) -> Path:
    files = recipe_files("demo", WEB, "1.0.0")
    files["compose.yml"] = compose(**kw)
    return make_recipe_repo(tmp_path / "demo", files, [("1.0.0+1.0.0", {})])


@pytest.mark.parametrize(
    "app, db, extra, level, reason",
    [
        ("1.0.0", "127.0.0.1:5000/coop-test/db:10.5", "", PATCH, "no image changed"),
        ("1.0.1", "127.0.0.1:5000/coop-test/db:10.5", "", PATCH, "biggest image change"),
        ("1.1.0", "127.0.0.1:5000/coop-test/db:10.6", "", MINOR, "(app, db)"),
        ("1.0.1", "127.0.0.1:5000/coop-test/db:11.0", "", MAJOR, "(db)"),  # any image decides
        ("1.0.0", "127.0.0.1:5000/coop-test/db:10.5", "  cache:\n    image: redis:7.2\n", MINOR, "(cache)"),
        ("1.0.0", "127.0.0.1:5000/coop-test/db:latest", "", MAJOR, "(db)"),
    ],
)
def test_release_level_from_image_changes(tmp_path, app, db, extra, level, reason):
    repo = repo_at_1(tmp_path)
    (repo / "compose.yml").write_text(compose(app, db, extra))
    plan = rm.plan_release(settings_for(tmp_path), repo)
    assert plan.level == level and reason in plan.reason
    expected = {PATCH: "1.0.1", MINOR: "1.1.0", MAJOR: "2.0.0"}[level]
    assert plan.version == f"{expected}+{app}"
    assert plan.message == f"chore: publish {plan.version} release"
    if db.endswith("latest"):
        assert any("cannot size" in w for w in plan.warnings)


def test_removed_service_is_major(tmp_path):
    repo = repo_at_1(tmp_path)
    text = compose()
    (repo / "compose.yml").write_text(text[: text.index("  db:")])
    plan = rm.plan_release(settings_for(tmp_path), repo)
    assert plan.level == MAJOR and plan.version == "2.0.0+1.0.0"


def test_flags_and_explicit_version(tmp_path):
    repo = repo_at_1(tmp_path)
    (repo / "compose.yml").write_text(compose("1.1.0"))
    s = settings_for(tmp_path)
    assert rm.plan_release(s, repo, level=PATCH).version == "1.0.1+1.1.0"
    assert rm.plan_release(s, repo, level=MAJOR).version == "2.0.0+1.1.0"
    assert rm.plan_release(s, repo, version="1.5.0").version == "1.5.0+1.1.0"
    assert rm.plan_release(s, repo, version="1.5.0+1.1.0").version == "1.5.0+1.1.0"
    with pytest.raises(RecipeError, match="names image tag 1.0.0, but service app uses 1.1.0"):
        rm.plan_release(s, repo, version="1.5.0+1.0.0")
    with pytest.raises(Conflict, match="not newer than the last release 1.0.0"):
        rm.plan_release(s, repo, version="1.0.0")
    with pytest.raises(UsageError):
        rm.plan_release(s, repo, version="1.5.0", level=MINOR)
    git(repo, "tag", "1.5.0+1.1.0")  # lightweight: not a release, but the name is taken
    with pytest.raises(Conflict, match="tag 1.5.0\\+1.1.0 exists already"):
        rm.plan_release(s, repo, version="1.5.0")


def test_first_release(tmp_path):
    files = recipe_files("demo", WEB, "1.0.0")
    repo = make_recipe_repo(tmp_path / "demo", files)
    s = settings_for(tmp_path)
    plan = rm.plan_release(s, repo)
    assert (plan.version, plan.previous, plan.changes) == ("0.1.0+1.0.0", None, [])
    assert rm.plan_release(s, repo, level=MAJOR).version == "1.0.0+1.0.0"


def test_dirty_tree_other_than_compose_is_refused(tmp_path):
    repo = repo_at_1(tmp_path)
    (repo / "compose.yml").write_text(compose("1.1.0"))
    (repo / "scratch.txt").write_text("x")  # untracked: warned, left out
    plan = rm.plan_release(settings_for(tmp_path), repo)
    assert plan.commit_files == ["compose.yml"]
    assert any("scratch.txt" in w for w in plan.warnings)
    (repo / "abra.sh").write_text("export NGINX_CONF_VERSION=v2\n")
    with pytest.raises(RecipeError, match=r"uncommitted changes a release would not include: abra.sh"):
        rm.plan_release(settings_for(tmp_path), repo)


def test_notes_sources(tmp_path):
    repo = repo_at_1(tmp_path)
    s = settings_for(tmp_path)
    (repo / "release").mkdir()
    (repo / "release" / "next").write_text("from next\n")
    plan = rm.plan_release(s, repo)
    assert (plan.notes, plan.notes_source, plan.notes_path, plan.remove_next) == (
        "from next\n",
        "release/next",
        "release/1.0.1+1.0.0",
        True,
    )
    (repo / "release" / "1.0.1+1.0.0").write_text("hand written\n")
    plan = rm.plan_release(s, repo)
    assert (plan.notes, plan.notes_source) == ("hand written\n", "release/1.0.1+1.0.0")
    plan = rm.plan_release(s, repo, notes="given")
    assert plan.notes == "given" and any("replaced by --notes" in w for w in plan.warnings)


def test_apply_release_moves_release_next(tmp_path):
    repo = repo_at_1(tmp_path)
    commit(repo, {"release/next": "next notes\n"}, "notes for next")
    s = settings_for(tmp_path)
    plan = rm.plan_release(s, repo)
    result = rm.apply_release(s, plan)
    assert result.version == "1.0.1+1.0.0"
    assert not (repo / "release" / "next").exists()
    assert (repo / "release" / "1.0.1+1.0.0").read_text() == "next notes\n"
    assert git(repo, "status", "--porcelain").strip() == ""
    assert git(repo, "show", "--no-renames", "--name-status", "--format=", "HEAD").split() == [
        "M",
        "compose.yml",
        "A",
        "release/1.0.1+1.0.0",
        "D",
        "release/next",
    ]


def test_release_with_nothing_to_commit_tags_head(tmp_path):
    files = recipe_files("demo", WEB, "1.0.0")
    files["compose.yml"] = compose().replace("1.0.0+1.0.0", "1.0.1+1.0.0")
    repo = make_recipe_repo(tmp_path / "demo", files, [("1.0.0+1.0.0", {})])
    head = git(repo, "rev-parse", "HEAD").strip()
    s = settings_for(tmp_path)
    result = rm.apply_release(s, rm.plan_release(s, repo))
    assert result.commit == head and result.files == []
    assert git(repo, "rev-parse", "1.0.1+1.0.0^{commit}").strip() == head


def test_edit_notes_runs_the_editor_without_a_shell(tmp_path):
    script = tmp_path / "ed.py"
    script.write_text(
        "import sys\np = sys.argv[-1]\nopen(p, 'a').write('Upgrade carefully; it\\'s $HOME\\n# dropped\\n')\n"
    )
    env = {"EDITOR": f"{sys.executable} {script}", "PATH": os.environ["PATH"]}
    assert rm.edit_notes(env, "# template comment\n") == "Upgrade carefully; it's $HOME\n"
    empty = tmp_path / "empty.py"
    empty.write_text("")
    assert rm.edit_notes({"VISUAL": f"{sys.executable} {empty}"}, "# only comments\n") is None
    failing = tmp_path / "fail.py"
    failing.write_text("raise SystemExit(3)\n")
    with pytest.raises(UsageError, match="exited with status 3"):
        rm.edit_notes({"EDITOR": f"{sys.executable} {failing}"}, "")


# -- the CLI ----------------------------------------------------------------------------------


@pytest.fixture
def genv(coop_env):
    env = dict(coop_env)
    env.update({k: v for k, v in git_env().items() if k.startswith("GIT_")})
    return env


def test_cli_release_dry_run_changes_nothing(coop, tmp_path, genv):
    repo = repo_at_1(tmp_path)
    (repo / "compose.yml").write_text(compose("1.1.0"))
    before = (repo / "compose.yml").read_bytes(), git(repo, "rev-parse", "HEAD"), git(repo, "tag")
    r = coop("recipe", "release", str(repo), "--dry-run", "--notes", "x", "--json", env=genv)
    assert r.code == 0, r
    doc = json.loads(r.out)
    assert doc["dry_run"] is True and doc["version"] == "1.1.0+1.1.0" and doc["level"] == "minor"
    assert ((repo / "compose.yml").read_bytes(), git(repo, "rev-parse", "HEAD"), git(repo, "tag")) == before
    assert not (repo / "release").exists()


def test_cli_release_commits_tags_and_publishes(coop, tmp_path, genv):
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True, env=git_env())
    files = recipe_files("demo", WEB, "1.0.0")
    files["compose.yml"] = compose()
    repo = make_recipe_repo(tmp_path / "demo", files, [("1.0.0+1.0.0", {})], origin=str(origin))
    upgraded = compose().replace(f"{WEB}:1.0.0", f"{WEB}:1.1.0")
    (repo / "compose.yml").write_text(upgraded)
    r = coop(
        "recipe", "release", str(repo), "--no-input", "--notes", "Web 1.1.0.\nNothing to do.", "--publish", env=genv
    )
    assert r.code == 0, r
    assert "released 1.1.0+1.1.0" in r.out and "pushed to origin (main)" in r.out
    # label updated in place, nothing else in the file moved
    assert (repo / "compose.yml").read_text() == upgraded.replace("version=1.0.0+1.0.0", "version=1.1.0+1.1.0")
    assert (repo / "release" / "1.1.0+1.1.0").read_text() == "Web 1.1.0.\nNothing to do.\n"
    assert git(repo, "cat-file", "-t", "1.1.0+1.1.0").strip() == "tag"
    assert git(repo, "tag", "-l", "--format=%(contents)", "1.1.0+1.1.0").strip() == "chore: publish 1.1.0+1.1.0 release"
    assert git(repo, "log", "-1", "--format=%s").strip() == "chore: publish 1.1.0+1.1.0 release"
    assert git(repo, "status", "--porcelain").strip() == ""
    # the bare origin has the branch and the annotated tag
    assert git(origin, "rev-parse", "main").strip() == git(repo, "rev-parse", "HEAD").strip()
    assert git(origin, "cat-file", "-t", "1.1.0+1.1.0").strip() == "tag"


def test_cli_release_without_notes_under_no_input_writes_none(coop, tmp_path, genv):
    repo = repo_at_1(tmp_path)
    r = coop("recipe", "release", str(repo), "--no-input", env=genv)
    assert r.code == 0, r
    assert "notes: none" in r.out and not (repo / "release").exists()
    assert git(repo, "cat-file", "-t", "1.0.1+1.0.0").strip() == "tag"


def test_cli_release_publish_without_origin_is_refused_before_anything(coop, tmp_path, genv):
    repo = repo_at_1(tmp_path)
    r = coop("recipe", "release", str(repo), "--no-input", "--publish", env=genv)
    assert r.code == 4 and "no remote 'origin'" in r.err
    assert git(repo, "tag").split() == ["1.0.0+1.0.0"]


def test_cli_release_by_name_in_abra_dir(coop, tmp_path, genv):
    files = recipe_files("demo", WEB, "1.0.0")
    make_recipe_repo(Path(genv["ABRA_DIR"]) / "recipes" / "demo", files, [("1.0.0+1.0.0", {})])
    r = coop("recipe", "release", "demo", "--dry-run", env=genv)
    assert r.code == 0 and "would release 1.0.1+1.0.0" in r.out
    r = coop("recipe", "release", "nosuch", "--dry-run", env=genv)
    assert r.code == 3 and "recipe nosuch is not in" in r.err


def test_cli_sync_sets_the_label_only(coop, tmp_path, genv):
    repo = repo_at_1(tmp_path)
    (repo / "compose.yml").write_text(compose("2.0.0"))
    head = git(repo, "rev-parse", "HEAD")
    r = coop("recipe", "sync", str(repo), env=genv)
    assert r.code == 0, r
    assert "version=2.0.0+2.0.0 (updated; was 1.0.0+2.0.0)" in r.out
    assert (repo / "compose.yml").read_text() == compose("2.0.0").replace("version=1.0.0+2.0.0", "version=2.0.0+2.0.0")
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "tag").split() == ["1.0.0+1.0.0"]
    r = coop("recipe", "sync", str(repo), "3.0.0", "--json", env=genv)
    assert json.loads(r.out)["version"] == "3.0.0+2.0.0"
    (repo / "compose.yml").write_text(
        compose().replace('        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.0.0"\n', "")
    )
    r = coop("recipe", "sync", str(repo), env=genv)
    assert r.code == 4 and "no coop-cloud.${STACK_NAME}.version label" in r.err


def test_cli_diff_and_reset(coop, tmp_path, genv):
    repo = repo_at_1(tmp_path)
    r = coop("recipe", "diff", str(repo), env=genv)
    assert r.code == 0 and r.out == "" and "no uncommitted changes" in r.err
    (repo / "compose.yml").write_text(compose("1.1.0"))
    (repo / "scratch.txt").write_text("x")
    r = coop("recipe", "diff", str(repo), env=genv)
    assert r.code == 0
    assert f"-    image: {WEB}:1.0.0  # main" in r.out and f"+    image: {WEB}:1.1.0  # main" in r.out
    assert "untracked: scratch.txt" in r.err
    doc = json.loads(coop("recipe", "diff", str(repo), "--json", env=genv).out)
    assert doc["tracked"] == ["compose.yml"] and doc["untracked"] == ["scratch.txt"]

    r = coop("recipe", "reset", str(repo), "--no-input", env=genv)
    assert r.code == 2 and "--yes" in r.err
    assert "1.1.0" in (repo / "compose.yml").read_text()
    r = coop("recipe", "reset", str(repo), stdin="n\n", env=genv)  # no TTY: refuses like --no-input
    assert r.code == 2
    r = coop("recipe", "reset", str(repo), "--force", env=genv)  # --force answers no question
    assert r.code == 2 and "pass --yes" in r.err
    r = coop("recipe", "reset", str(repo), "--yes", env=genv)
    assert r.code == 0 and "discarded changes to 1 file\n" in r.out and "scratch.txt" in r.err
    assert (repo / "compose.yml").read_text() == compose() and (repo / "scratch.txt").exists()
    r = coop("recipe", "reset", str(repo), "-y", "--untracked", "--json", env=genv)
    assert json.loads(r.out)["discarded"] == ["scratch.txt"] and not (repo / "scratch.txt").exists()
    r = coop("recipe", "reset", str(repo), "--yes", env=genv)
    assert r.code == 0 and "nothing to reset" in r.err


def test_cli_upgrade_refuses_offline(coop, tmp_path, genv):
    repo = repo_at_1(tmp_path)
    r = coop("recipe", "upgrade", str(repo), "--offline", env=genv)
    assert r.code == 2 and "--offline" in r.err


# -- next_version: pure, one table ------------------------------------------------------------------

from coopcloud.domain.version import parse_version  # noqa: E402
from coopcloud.ops.recipe.maint.release import ImageChange, next_version  # noqa: E402


def _change(service, change, old="x:1", new="x:2"):
    return ImageChange("compose.yml", service, old, new, change)


@pytest.mark.parametrize(
    "previous, main_tag, changes, version, level, expected, level_out, reason",
    [
        (None, "1.27.2", [], None, None, "0.1.0+1.27.2", "minor", "first release"),
        (None, "1.27.2", [], None, "major", "1.0.0+1.27.2", "major", "--major"),
        (None, "1.27.2", [], None, "patch", "0.0.1+1.27.2", "patch", "--patch"),
        ("1.2.3+1.0", "1.0", [], None, None, "1.2.4+1.0", "patch", "no image changed since 1.2.3+1.0"),
        (
            "1.2.3+1.0",
            "1.1",
            [_change("app", "minor")],
            None,
            None,
            "1.3.0+1.1",
            "minor",
            "biggest image change since 1.2.3+1.0: minor (app)",
        ),
        (
            "1.2.3+1.0",
            "1.0",
            [_change("app", "patch"), _change("db", "major")],
            None,
            None,
            "2.0.0+1.0",
            "major",
            "biggest image change since 1.2.3+1.0: major (db)",
        ),
        ("1.2.3+1.0", "1.0", [_change("db", "major")], None, "patch", "1.2.4+1.0", "patch", "--patch"),
        ("1.2.0-rc1+1.0", "1.0", [], None, None, "1.2.0+1.0", "patch", "no image changed since 1.2.0-rc1+1.0"),
        ("1.2.3+1.0", "1.0", [], "1.3.0", None, "1.3.0+1.0", "minor", "given on the command line"),
        ("1.2.3+1.0", "1.0", [], "2.0.0+1.0", None, "2.0.0+1.0", "major", "given on the command line"),
        (None, "1.0", [], "0.0.5", None, "0.0.5+1.0", "patch", "given on the command line"),
    ],
)
def test_next_version_table(previous, main_tag, changes, version, level, expected, level_out, reason):
    prev = parse_version(previous) if previous else None
    got = next_version("web", prev, main_tag, changes, version=version, level=level)
    assert (got.version, got.level, got.reason) == (expected, level_out, reason)


@pytest.mark.parametrize(
    "previous, main_tag, version, level, error, match",
    [
        ("1.2.3+1.0", "1.0", "1.2.3", None, Conflict, "not newer than the last release 1.2.3"),
        ("1.2.3+1.0", "1.0", "1.0.0", None, Conflict, "not newer"),
        ("1.2.3+1.0", "1.0", "1.3.0+2.0", None, RecipeError, "names image tag 2.0, but service app uses 1.0"),
        (None, None, None, None, RecipeError, "service app has no image tag"),
        (None, None, "1.0.0", None, RecipeError, "service app has no image tag"),
        (None, "1.0", "1.0.0", "major", UsageError, "give a VERSION or --major, not both"),
    ],
)
def test_next_version_refuses(previous, main_tag, version, level, error, match):
    prev = parse_version(previous) if previous else None
    with pytest.raises(error, match=match):
        next_version("web", prev, main_tag, [], version=version, level=level)
