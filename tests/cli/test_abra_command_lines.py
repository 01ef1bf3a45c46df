"""abra's command lines, verbatim: each parses to the coop command and options it means.

One table: what operators type and CI harnesses run with abra (docs.coopcloud.tech, abra's --help),
the coop command it reaches, the options it sets and the global flags it turns on. Parsing is
click's own (the same path `coop` takes), stopped before the command runs.
"""

from __future__ import annotations

import click
import pytest

from coopcloud.cli.main import cli, split_global_flags

APP = "git.example.org"

TABLE = [
    # (abra command line, coop command, options set, global flags)
    (f"app deploy {APP} -n -c", "app deploy", {"no_converge_checks": True}, {"no_input"}),
    (
        f"app deploy {APP} -f -C -c -D",
        "app deploy",
        {"force": True, "chaos": True, "no_converge_checks": True, "no_domain_checks": True},
        set(),
    ),
    (f"app deploy {APP} 1.2.0+1.21.4 -n", "app deploy", {"version": "1.2.0+1.21.4"}, {"no_input"}),
    (f"app deploy {APP} -nc", "app deploy", {"no_converge_checks": True}, {"no_input"}),
    (f"app deploy {APP} -fnCD", "app deploy", {"force": True, "chaos": True, "no_domain_checks": True}, {"no_input"}),
    (f"a lg {APP} -tn 5", "app logs", {"timestamps": True, "tail": "5"}, set()),  # -n is the command's own
    (f"a d {APP} -n -c -D", "app deploy", {"no_converge_checks": True, "no_domain_checks": True}, {"no_input"}),
    (f"app upgrade {APP} -n -f -c -D", "app upgrade", {"force": True, "no_domain_checks": True}, {"no_input"}),
    (f"a up {APP} 1.3.0 -n", "app upgrade", {"version": "1.3.0"}, {"no_input"}),
    (f"app rollback {APP} -n -f -c -D", "app rollback", {"force": True, "no_converge_checks": True}, {"no_input"}),
    (f"a rl {APP} -n", "app rollback", {}, {"no_input"}),
    ("app ls -S", "app ls", {"with_status": True}, set()),
    (
        "app ls -S -s cloud.example.org -r gitea -m",
        "app ls",
        {"server": "cloud.example.org", "recipe": "gitea"},
        {"json"},
    ),
    ("app list --status --machine", "app ls", {"with_status": True}, {"json"}),
    ("a ls", "app ls", {}, set()),
    (
        "app new gitea 1.2.0+1.21.4 -s cloud.example.org -D git.example.org -S",
        "app new",
        {"recipe": "gitea", "version_arg": "1.2.0+1.21.4", "server": "cloud.example.org", "with_secrets": True},
        set(),
    ),
    ("app new gitea -s cloud.example.org -D git.example.org -C -n", "app new", {"chaos": True}, {"no_input"}),
    (f"a n gitea -s cloud.example.org -D {APP}", "app new", {"domain": APP}, set()),
    (f"a un {APP} -n", "app undeploy", {}, {"no_input"}),
    (f"app remove {APP} -f -n", "app remove", {"force": True}, {"no_input"}),
    (f"a rm {APP} -f", "app remove", {"force": True}, set()),
    (f"a ps {APP} -m", "app ps", {}, {"json"}),
    (f"app ps {APP} -w", "app ps", {"watch": True}, set()),
    (f"app errors {APP} --watch", "app errors", {"watch": True}, set()),
    ("ac bash", "autocomplete", {"shell": "bash"}, set()),
    (f"a lg {APP} -n 20", "app logs", {"tail": "20"}, set()),  # the command's own -n wins
    (f"app cmd -n {APP} app migrate", "app cmd", {"function": "migrate"}, {"no_input"}),
    (f"app run {APP} app echo -n hi", "app run", {"cmd": ("echo", "-n", "hi")}, set()),  # passed on
    (f"a cfg {APP}", "app config", {}, set()),
    (f"a mv {APP} other.example.org", "app move", {}, set()),
    (f"a chk {APP}", "app check", {}, set()),
    (f"a re {APP} app", "app restart", {"service": "app"}, set()),
    (f"a sc ls {APP}", "app secret ls", {}, set()),
    (f"app secret list {APP}", "app secret ls", {}, set()),
    (f"a sc g {APP} -a", "app secret generate", {"all_": True}, set()),
    (f"a re {APP} -a", "app restart", {"all_": True}, set()),
    (f"app secret remove {APP} -a -n", "app secret rm", {"all_": True}, {"no_input"}),
    (f"app secret remove {APP} db_password", "app secret rm", {}, set()),
    (f"a vl ls {APP}", "app volume ls", {}, set()),
    (f"app backup list {APP}", "app backup ls", {}, set()),
    ("s ls", "server ls", {}, set()),
    ("server prune cloud.example.org -a -v", "server prune", {"all_images": True, "volumes": True}, set()),
    ("s p cloud.example.org -n", "server prune", {"name": "cloud.example.org"}, {"no_input"}),
    (f"app undeploy {APP} -p -n", "app undeploy", {"prune": True}, {"no_input"}),
    ("server list -m", "server ls", {}, {"json"}),
    ("server add cloud.example.org -d", "server add", {"destination": "cloud.example.org"}, {"debug"}),
    ("r ls", "recipe ls", {}, set()),
    ("recipe list -o", "recipe ls", {}, {"offline"}),
    ("r f gitea", "recipe fetch", {}, set()),
    ("r l gitea", "recipe lint", {}, set()),
    ("r v gitea", "recipe versions", {}, set()),
    ("c g -n", "catalogue generate", {}, {"no_input"}),
]


def parse(line: str) -> tuple[str, dict, set[str]]:
    """(command path, its parameters, global flags) that `coop LINE` would run with."""
    args, flags = split_global_flags(line.split())
    ctx = cli.make_context("coop", args)
    cmd: click.Command = cli
    path = []
    while isinstance(cmd, click.Group):
        name, sub, rest = cmd.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        assert sub is not None and name is not None
        path.append(name)
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd = sub
    return " ".join(path), ctx.params, {k for k, v in flags.items() if v}


@pytest.mark.parametrize(("line", "command", "options", "global_flags"), TABLE, ids=[t[0] for t in TABLE])
def test_abra_command_line(line, command, options, global_flags):
    got_command, params, flags = parse(line)
    assert got_command == command
    assert {k: params.get(k) for k in options} == options
    assert flags == global_flags


def test_alias_and_name_reach_the_same_command(coop, capsys):
    """The alias runs the command for real, help page and all."""
    assert coop("a", "d", "--help").code == 0
    by_alias = capsys.readouterr().out
    assert coop("app", "deploy", "--help").code == 0
    by_name = capsys.readouterr().out
    assert by_alias == by_name
    assert "-D, --no-domain-checks" in by_name and "-c, --no-converge-checks" in by_name
    assert coop("a", "--help").code == 0
    group_help = capsys.readouterr().out
    assert "Aliases (abra's):" in group_help and "d deploy" in group_help and "un undeploy" in group_help


def test_app_new_takes_abras_positional_version_and_chaos(coop, tmp_path):
    """`abra app new RECIPE VERSION -s S -D D` pins that version; `-C` starts from the working tree."""
    from recipe_factory import make_recipe_repo, recipe_files

    abra = tmp_path / "abra"
    (abra / "servers" / "default").mkdir(parents=True)
    make_recipe_repo(abra / "recipes" / "nice", recipe_files("nice"), [("0.1.0+1.0", {}), ("0.2.0+1.1", {})])
    servers = abra / "servers" / "default"

    r = coop("app", "new", "nice", "0.1.0+1.0", "-s", "default", "-D", "old.example.org")
    assert r.code == 0, r
    assert "TYPE=nice:0.1.0+1.0" in (servers / "old.example.org.env").read_text()

    r = coop("a", "n", "nice", "-s", "default", "-D", "chaos.example.org", "-C")
    assert r.code == 0, r
    assert "TYPE=nice\n" in (servers / "chaos.example.org.env").read_text()

    r = coop("app", "new", "nice", "0.2.0+1.1", "-C", "-s", "default", "-D", "both.example.org")
    assert r.code == 2 and "VERSION or --chaos" in r.err, r
    assert not (servers / "both.example.org.env").exists()
