"""Issue 13, identity: app, recipe and domain names are checked before anything is created, and two
apps never share a stack — whether the other one is an env file here or a stack on the swarm."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hostile import run_measured, swarm_objects, tree_state

pytestmark = pytest.mark.integration

MAX_RSS_MB = 60
MAX_SECONDS = 5.0
IMAGE = "127.0.0.1:5000/coop-test/web:1.0.0"


@pytest.fixture
def abra(coop, coop_env, local_engine_socket, registry, tmp_path) -> Path:
    assert coop("server", "add", "--local").code == 0
    recipe = tmp_path / "rec"
    recipe.mkdir()
    (recipe / "compose.yml").write_text(f"services:\n  app:\n    image: {IMAGE}\n")
    (recipe / ".env.sample").write_text("TYPE=rec\n")
    return Path(coop_env["ABRA_DIR"])


def refused(r, code: int, *needles: str) -> str:
    assert r.code == code, r
    line = r.error_line
    for n in needles:
        assert n in line, (n, line)
    assert r.seconds < MAX_SECONDS and r.max_rss_mb < MAX_RSS_MB, r
    return line


def test_two_apps_with_one_stack_name_are_refused(abra, coop_env, tmp_path, stack_name):
    first = f"{stack_name}.b"
    r = run_measured(
        ["app", "new", "./rec", "--server", "default", "--domain", "one.example.org", "--name", first],
        coop_env,
        cwd=str(tmp_path),
    )
    assert r.code == 0, r
    before = tree_state(abra)
    r = run_measured(
        ["app", "new", "./rec", "--server", "default", "--domain", "two.example.org", "--name", f"{stack_name}_b"],
        coop_env,
        cwd=str(tmp_path),
    )
    refused(r, 10, f"stack name {stack_name}_b is already app {first}'s")
    assert tree_state(abra) == before

    # An env file copied by hand is caught before a deploy touches the swarm.
    servers = abra / "servers" / "default"
    (servers / f"{stack_name}_b.env").write_text((servers / f"{first}.env").read_text())
    r = run_measured(["app", "deploy", f"{stack_name}_b", "--no-input"], coop_env)
    refused(r, 10, f"is already app {first}'s")
    assert swarm_objects(f"{stack_name}_b") == []
    # Nor may it take the other's stack down, or purge the other's volumes and secrets.
    for args in (["app", "undeploy", f"{stack_name}_b"], ["app", "remove", f"{stack_name}_b", "--purge", "--yes"]):
        r = run_measured([*args, "--no-input"], coop_env)
        refused(r, 10, f"is already app {first}'s")
    assert (servers / f"{first}.env").exists() and (servers / f"{stack_name}_b.env").exists()


def make_stack(stack: str, recipe: str, domain: str) -> None:
    """A stack deployed from elsewhere: only the swarm knows it."""
    subprocess.run(
        [
            "docker",
            "service",
            "create",
            "--detach",
            "--quiet",
            "--replicas",
            "0",
            "--name",
            f"{stack}_app",
            "--label",
            f"com.docker.stack.namespace={stack}",
            "--label",
            f"coop-cloud.{stack}.recipe={recipe}",
            "--label",
            f"traefik.http.routers.{stack}.rule=Host(`{domain}`)",
            "--env",
            f"DOMAIN={domain}",
            IMAGE,
        ],
        check=True,
        capture_output=True,
    )


def test_a_stack_on_the_swarm_of_another_recipe_or_domain_is_refused(abra, coop_env, tmp_path, stack_name):
    make_stack(stack_name, "other", f"{stack_name}.example.org")
    before = tree_state(abra)
    r = run_measured(
        ["app", "new", "rec", "--server", "default", "--domain", f"{stack_name}.example.org", "--name", stack_name],
        coop_env,
    )
    # The plain name is checked against the swarm before the recipe is looked up or cloned.
    refused(r, 10, f"stack {stack_name} already runs on server default as app {stack_name}.example.org", "recipe other")
    assert tree_state(abra) == before


def test_a_stack_on_the_swarm_for_another_domain_is_refused_same_domain_is_not(abra, coop_env, tmp_path, stack_name):
    make_stack(stack_name, "rec", f"{stack_name}.example.org")
    r = run_measured(
        ["app", "new", "./rec", "--server", "default", "--domain", "elsewhere.example.org", "--name", stack_name],
        coop_env,
        cwd=str(tmp_path),
    )
    refused(r, 10, f"as app {stack_name}.example.org", f"domain {stack_name}.example.org")
    assert not (abra / "servers" / "default" / f"{stack_name}.env").exists()
    # The same recipe and domain: the env of an app deployed from another machine, made again here.
    r = run_measured(
        ["app", "new", "./rec", "--server", "default", "--domain", f"{stack_name}.example.org", "--name", stack_name],
        coop_env,
        cwd=str(tmp_path),
    )
    assert r.code == 0, r


def test_deploy_never_turns_another_recipes_stack_into_this_app(abra, coop_env, stack_name):
    # Another machine deployed its app as this stack after (or without) our `app new` asking the swarm.
    make_stack(stack_name, "other", f"{stack_name}.example.org")
    (abra / "recipes").mkdir(exist_ok=True)
    (abra / "recipes" / "rec").symlink_to(Path(coop_env["ABRA_DIR"]).parent / "rec")
    (abra / "servers" / "default" / f"{stack_name}.env").write_text(f"TYPE=rec\nDOMAIN={stack_name}.example.org\n")
    before = swarm_objects(stack_name)
    spec = subprocess.run(
        ["docker", "service", "inspect", f"{stack_name}_app", "--format", "{{json .Spec}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for args in (["--chaos"], ["--chaos", "--force"]):
        r = run_measured(["app", "deploy", stack_name, "--no-input", *args], coop_env)
        refused(r, 10, f"stack {stack_name} on server default runs recipe other, not rec")
    assert swarm_objects(stack_name) == before
    assert (
        subprocess.run(
            ["docker", "service", "inspect", f"{stack_name}_app", "--format", "{{json .Spec}}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        == spec
    )


@pytest.mark.parametrize(
    "recipe, needle",
    [
        ("..", ".. is not a recipe: it has no compose.yml"),
        ("../" * 16 + "etc", "is not a recipe: it has no compose.yml"),  # /etc from any tmp_path (xdist's are deeper)
        ("-rf", "recipe name '-rf' is not valid"),
        (".hidden", "no such directory"),
    ],
)
def test_recipe_arguments_that_are_not_recipes_create_nothing(abra, coop_env, tmp_path, recipe, needle):
    before = tree_state(abra)
    r = run_measured(
        ["app", "new", "--server", "default", "--domain", "x.example.org", "--", recipe], coop_env, cwd=str(tmp_path)
    )
    refused(r, r.code, needle)
    assert r.code in (2, 3, 4)
    assert tree_state(abra) == before


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--domain", "x.com`) || Host(`victim.org"], "domain 'x.com`) || Host(`victim.org' is not valid"),
        (["--domain", "x.example.org", "--name", "../x"], "app name '../x' is not valid"),
        (["--domain", "x.example.org", "--name", "a.b/c"], "app name 'a.b/c' is not valid"),
    ],
)
def test_bad_names_are_refused_before_anything_is_written(abra, coop_env, tmp_path, args, needle):
    before = tree_state(abra)
    r = run_measured(["app", "new", "./rec", "--server", "default", *args], coop_env, cwd=str(tmp_path))
    refused(r, 2, needle)
    assert tree_state(abra) == before


def test_type_naming_a_folder_outside_recipes_is_refused(abra, coop_env, stack_name):
    env = abra / "servers" / "default" / f"{stack_name}.env"
    env.write_text("TYPE=../../../../etc\n")
    r = run_measured(["app", "deploy", stack_name, "--no-input"], coop_env)
    refused(r, 4, f"{stack_name}.env: RECIPE/TYPE '../../../../etc' is not a recipe name")
    assert swarm_objects(stack_name) == []


def test_domain_in_the_env_is_checked_before_it_reaches_a_label(abra, coop_env, stack_name):
    (abra / "recipes").mkdir(exist_ok=True)
    env = abra / "servers" / "default" / f"{stack_name}.env"
    env.write_text("TYPE=rec\nDOMAIN='x.com`) || Host(`victim.org'\n")
    (abra / "recipes" / "rec").symlink_to(Path(coop_env["ABRA_DIR"]).parent / "rec")
    r = run_measured(["app", "deploy", stack_name, "--no-input", "--chaos"], coop_env)
    refused(r, 4, f"app {stack_name}: DOMAIN: domain 'x.com`) || Host(`victim.org' is not valid")
    assert swarm_objects(stack_name) == []


def test_names_that_differ_only_in_case_are_one_name_as_docker_compares_them(abra, coop_env, tmp_path, stack_name):
    """`N1.example` beside `n1.example`: one stack, one lock, one set of secrets to Docker. Refused at
    `app new`, and by every command that addresses either app while both env files exist."""
    lower, upper = f"{stack_name}.example", f"{stack_name.upper()}.example"
    new = ["app", "new", "./rec", "--server", "default", "--domain", "one.example.org", "--name"]
    assert run_measured([*new, lower], coop_env, cwd=str(tmp_path)).code == 0
    before = tree_state(abra)
    r = run_measured([*new, upper], coop_env, cwd=str(tmp_path))
    refused(r, 10, f"app {upper}: app {lower} (server default) has the same name but for case")
    assert tree_state(abra) == before

    # An env file made by hand: no command acts on either app; none breaks the other's lock.
    servers = abra / "servers" / "default"
    (servers / f"{upper}.env").write_text((servers / f"{lower}.env").read_text())
    assert run_measured(["app", "lock", lower], coop_env).code == 10
    for args in (
        ["app", "deploy", upper],
        ["app", "unlock", upper],
        ["app", "lock", upper],
        ["app", "secret", "ls", upper],
        ["app", "secret", "generate", upper, "--all"],
        ["app", "undeploy", upper],
    ):
        r = run_measured([*args, "--no-input"], coop_env)
        refused(r, 10, f"app {upper}: app {lower} (server default) has the same name but for case")
    assert swarm_objects(f"{stack_name.upper()}_example") == []
    (servers / f"{upper}.env").unlink()

    # A stack on the swarm whose name differs only in case, deployed from elsewhere.
    make_stack(f"{stack_name.upper()}_b", "rec", "one.example.org")
    try:
        r = run_measured([*new, f"{stack_name}_b"], coop_env, cwd=str(tmp_path))
        refused(r, 10, f"stack {stack_name.upper()}_b", "case-insensitively")
        assert not (servers / f"{stack_name}_b.env").exists()
        # An env file made by hand is caught before its first deploy touches the swarm.
        (servers / f"{stack_name}_b.env").write_text((servers / f"{lower}.env").read_text())
        r = run_measured(["app", "deploy", f"{stack_name}_b", "--no-input"], coop_env)
        refused(r, 10, f"stack {stack_name.upper()}_b already runs", "case-insensitively")
        assert swarm_objects(f"{stack_name}_b") == []
    finally:
        subprocess.run(["docker", "service", "rm", f"{stack_name.upper()}_b_app"], capture_output=True)
