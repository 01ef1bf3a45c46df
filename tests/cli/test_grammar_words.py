"""The grammar's words and steps, without an engine (docs/grammar.md): the one confirmation step,
"did you mean", plurals, yes/no and cut table cells, progress without a countdown, `app config`
without a terminal or an editor, `app ls --server` of an unknown server."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from coopcloud.cli.main import main
from coopcloud.domain.version import parse_version, resolve_version
from coopcloud.domain.words import did_you_mean, plural
from coopcloud.errors import Cancelled, ExitStatus, NeedsInput, NotFound
from coopcloud.output.console import Output
from coopcloud.output.plan import ProgressPrinter


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def output(answers: str | None = None, **flags) -> Output:
    stdin = _TTY(answers) if answers is not None else io.StringIO()
    return Output(io.StringIO(), io.StringIO(), stdin, **flags)


def test_approve_asks_at_a_terminal_and_no_is_cancelled():
    out = output("n\n")
    with pytest.raises(Cancelled) as caught:
        out.approve("app git.example.org", "remove 1 volume (data) — its data is lost for good", yes=False)
    assert out.stderr.getvalue() == "app git.example.org: remove 1 volume (data) — its data is lost for good? [y/N] "
    assert str(caught.value) == "app git.example.org: cancelled, nothing changed"
    assert caught.value.exit_status == ExitStatus.CANCELLED == 14
    out = output("\n")  # Enter is no
    with pytest.raises(Cancelled):
        out.approve("app a", "undeploy", yes=False)
    output("y\n").approve("app a", "undeploy", yes=False)
    output("yes\n").approve("app a", "undeploy", yes=False)


def test_yes_never_asks():
    out = output("n\n")
    out.approve("app a", "remove it", yes=True, destroys=True)
    assert out.stderr.getvalue() == ""


def test_without_a_terminal_routine_goes_ahead_and_destroying_is_refused():
    for out in (output(), output("n\n", no_input=True)):
        out.approve("app a", "undeploy", yes=False)  # routine: no question, no refusal
        with pytest.raises(NeedsInput) as caught:
            out.approve("app a", "remove 2 volumes (db, files)", yes=False, destroys=True)
        assert str(caught.value) == (
            "app a: refused to remove 2 volumes (db, files) without a terminal to confirm it — pass --yes to do it"
        )
        assert out.stderr.getvalue() == ""


def test_plural_and_did_you_mean():
    assert [plural(n, "service") for n in (0, 1, 2)] == ["0 services", "1 service", "2 services"]
    assert plural(2, "entry") == "2 entries" and plural(1, "secret") == "1 secret"
    assert did_you_mean("git.exmaple.org", ["git.example.org", "wiki.example.org"]) == "did you mean: git.example.org?"
    assert did_you_mean("GIT.EXAMPLE.ORG", ["git.example.org"]) == "did you mean: git.example.org?"
    assert did_you_mean("zzz", ["git.example.org"]) is None


def test_an_unknown_version_names_the_releases_and_a_close_one():
    versions = [parse_version(t) for t in ("1.0.0+1.0", "1.1.0+1.0", "2.0.0+2.0")]
    with pytest.raises(NotFound) as caught:
        resolve_version(versions, "1.1.1")
    assert str(caught.value) == (
        "no version '1.1.1' (releases: 1.0.0+1.0, 1.1.0+1.0, 2.0.0+2.0) — did you mean: 1.1.0?"
    )
    many = [parse_version(f"1.{i}.0+1") for i in range(8)]
    with pytest.raises(NotFound, match=r"\(newest releases: 1\.3\.0\+1, .*1\.7\.0\+1\)"):
        resolve_version(many, "9.9.9")


def test_tables_say_yes_no_and_cut_long_cells_unless_wide():
    out = output()
    out.table(["server", "manager", "detail"], [["default", True, "x" * 200], ["other", False, None]])
    lines = out.stdout.getvalue().splitlines()
    assert lines[1].split()[:2] == ["default", "yes"] and lines[2].split() == ["other", "no"]
    assert ("x" * (Output.CELL_MAX - 1) + "…") in lines[1] and "x" * Output.CELL_MAX not in lines[1]
    wide = output(wide=True)
    wide.table(["detail"], [["x" * 200]])
    assert "x" * 200 in wide.stdout.getvalue()


@dataclass
class _Progress:
    name: str
    text: str

    def line(self) -> str:
        return self.text


def test_progress_without_a_terminal_is_a_line_per_change_of_state_never_a_countdown():
    out = output()
    printer = ProgressPrinter(out)
    with printer:
        for text in (
            ["app: 0/1 running — waiting", "app: 0/1 running — waiting"]
            + [f"app: 1/1 running — checking it stays up ({s} s)" for s in (5, 4, 3, 2, 1, 0)]
            + ["app: 1/1 running — ok"]
        ):
            printer([_Progress("app", text)])
    assert out.stderr.getvalue().splitlines() == [
        "  app: 0/1 running — waiting",
        "  app: 1/1 running — checking it stays up",
        "  app: 1/1 running — ok",
    ]
    assert out.stdout.getvalue() == ""


def _run(tmp_path: Path, *argv: str, env: dict | None = None, stdin=None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    environ = {"ABRA_DIR": str(tmp_path / "abra"), "DOCKER_CONFIG": str(tmp_path / "docker"), **(env or {})}
    code = main(list(argv), environ=environ, stdout=out, stderr=err, stdin=stdin or io.StringIO())
    return int(code), out.getvalue(), err.getvalue()


@pytest.fixture
def one_app(tmp_path: Path) -> Path:
    folder = tmp_path / "abra" / "servers" / "cloud.example.org"
    folder.mkdir(parents=True)
    env = folder / "git.example.org.env"
    env.write_text("TYPE=gitea\nDOMAIN=git.example.org\n")
    return env


def test_a_misspelt_app_or_server_is_named_with_a_close_one(tmp_path, one_app):
    code, out, err = _run(tmp_path, "app", "env", "git.exmaple.org")
    assert code == ExitStatus.NOT_FOUND and out == ""
    assert err.endswith("— did you mean: git.example.org?\n") and err.count("\n") == 1
    code, out, err = _run(tmp_path, "app", "ls", "--server", "cloud.exmple.org")
    assert code == ExitStatus.NOT_FOUND and out == ""  # never an empty table, exit 0
    assert err == "error: server cloud.exmple.org is not registered — did you mean: cloud.example.org?\n"
    code, out, err = _run(tmp_path, "app", "ls", "--server", "nope")
    assert code == ExitStatus.NOT_FOUND
    assert err == "error: server nope is not registered — see: coop server ls, or run: coop server add nope\n"


def test_app_config_without_a_terminal_or_an_editor_fails_in_one_line(tmp_path, one_app):
    code, out, err = _run(tmp_path, "app", "config", "git.example.org", env={"EDITOR": "vi"})
    assert code == ExitStatus.USAGE
    assert err == f"error: app git.example.org: editing needs a terminal — edit {one_app} directly\n"
    code, out, err = _run(tmp_path, "app", "config", "git.example.org", env={"EDITOR": ""}, stdin=_TTY(""))
    assert code == ExitStatus.USAGE
    assert err == f"error: app git.example.org: no editor set — set $EDITOR, or edit {one_app} directly\n"


def test_a_plan_says_in_words_what_changed_and_the_spec_paths_only_under_debug():
    from types import SimpleNamespace

    from coopcloud.ops.deploy.plan import Change, Plan, ServicePlan
    from coopcloud.output.plan import show_plan

    path = "TaskTemplate.ContainerSpec.Healthcheck.Test"
    plan = Plan((ServicePlan("s_app", "update", (Change("other settings", None, "healthcheck command", (path,)),)),))
    result = SimpleNamespace(plan=plan, chaos=False, app="git.example.org", server="cloud.example.org", version="1.1.0")
    result.unpinned = {}
    out = output()
    show_plan(out, result)
    assert "      other settings: healthcheck command\n" in out.stdout.getvalue() and path not in out.stdout.getvalue()
    debug = output(debug=True)
    show_plan(debug, result)
    assert f"      other settings: healthcheck command ({path})\n" in debug.stdout.getvalue()
