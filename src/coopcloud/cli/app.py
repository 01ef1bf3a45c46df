"""`coop app ...`: create, deploy and inspect apps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from coopcloud.cli.app_inspect import register as register_inspect
from coopcloud.cli.app_move import register as register_move
from coopcloud.cli.app_team import register as register_team
from coopcloud.cli.app_upgrade import register as register_upgrade
from coopcloud.cli.backup import register_app as register_backup
from coopcloud.cli.context import (
    AliasGroup,
    Runtime,
    mutating,
    mutating_apps,
    no_json,
    pass_runtime,
    yes_option,
)
from coopcloud.domain.results import AppItem, RemovedFrom, Values, app_items

if TYPE_CHECKING:
    from typing import IO

    from coopcloud.domain.app import AppConfig, AppRef
    from coopcloud.engine.protocol import Engine
    from coopcloud.ops.app.context import AppContext
    from coopcloud.ops.app.secrets import AppSecret, Generated
    from coopcloud.ops.deploy import DeployResult, Prepared


@click.group(cls=AliasGroup)
def app() -> None:
    """Create, deploy and inspect apps.

    An app is a recipe deployed as a stack on a server.
    """


# -- new / ls / config / env / check / labels ------------------------------------------------------


@app.command("new")
@click.argument("recipe")
@click.argument("version_arg", metavar="[VERSION]", required=False)
@click.option("--server", "-s", required=True, help="The server to deploy to (see: coop server ls).")
@click.option("--domain", "-D", required=True, help="The app's domain; also its name unless --name is given.")
@click.option("--name", help="App name, when it should differ from the domain.")
@click.option("--version", "version", help="Recipe version whose .env.sample to start from (default: latest).")
@click.option(
    "--secrets", "-S", "with_secrets", is_flag=True, help="Generate every secret now and print each value once."
)
@click.option("--chaos", "-C", is_flag=True, help="Start from the recipe's working tree; pin no version.")
@mutating_apps("secret generate", adds=True)
def new(
    rt: Runtime,
    recipe: str,
    version_arg: str | None,
    server: str,
    domain: str,
    name: str | None,
    version: str | None,
    with_secrets: bool,
    chaos: bool,
) -> None:
    """Create an app from a recipe.

    Create an app from RECIPE: a recipe name in $ABRA_DIR/recipes, a git URL, or a local path.

    Writes servers/<server>/<app>.env (mode 0600) from the recipe's .env.sample.

    \b
    Examples:
      coop app new gitea --server cloud.example.org --domain git.example.org --secrets
      coop app new gitea 1.2.0+1.21.4 -s cloud.example.org -D git.example.org -S
    """
    from coopcloud.errors import UsageError
    from coopcloud.ops.app.lifecycle import new_app

    if version and version_arg and version != version_arg:
        raise UsageError(f"give the version once: {version_arg} or --version {version}")

    created = new_app(
        rt.settings,
        recipe,
        server=server,
        domain=domain,
        name=name,
        version=version or version_arg,
        offline=rt.settings.offline,
        pool=rt.servers(),
        chaos=chaos,
    )
    for line in created.warnings:
        rt.out.warn(line)
    if with_secrets:
        from coopcloud.ops.app.context import AppContext

        made = AppContext.open(rt.settings, rt.servers(), created.ref.name, warn=rt.out.warn)
        with made.mutating("secret generate") as change:
            created.secrets = _generate_all(rt, made)
            change.plan = [f"+ secret {s.name} ({s.version})" for s, v in created.secrets if v is not None]
    generated = created.secrets
    if rt.out.json:
        rt.out.emit_json(created.to_json())
        return
    pin = (
        f"pinned to {created.recipe} {created.version}, the release a deploy takes (nothing runs it yet)"
        if created.version
        else f"recipe {created.recipe}, unreleased: no version pinned"
    )
    rt.out.print(f"app {created.ref.name} created: {created.env_path}; {pin}")
    _print_generated(rt, generated)
    rt.out.info(f"next: coop app config {created.ref.name}, then: coop app deploy {created.ref.name}")


@app.command("ls")
@click.option("--server", "-s", help="Only apps on this server.")
@click.option("--recipe", "-r", help="Only apps of this recipe.")
@click.option(
    "--status",
    "-S",
    "with_status",
    is_flag=True,
    help="Ask each server once (in parallel) what is deployed, and whether it drifted (see: coop app diff).",
)
@pass_runtime
def ls(rt: Runtime, server: str | None, recipe: str | None, with_status: bool) -> None:
    """List apps; --status adds what each server runs.

    List apps from their env files; --status adds what each server runs.
    """
    from coopcloud.ops.app.status import STATUS_FIELDS, app_rows

    rows = app_rows(rt.settings, server=server, recipe=recipe)
    if with_status:
        from coopcloud.ops.app.status import deployed_status, fill_upgrades

        deployed_status(rt.servers(), rows, rt.settings)
        fill_upgrades(rt.settings, rows)
    if rt.out.json:
        rt.out.emit_json([r.to_json() for r in rows])
        return
    headers = ["server", "app", "recipe", "version"]
    if with_status:
        headers += list(STATUS_FIELDS)
    rt.out.table(headers, [[r.cell(h) for h in headers] for r in rows])
    for r in rows:
        if r.error:
            rt.out.warn(f"app {r.app}: {r.error}")


def _prune_app(rt: Runtime, client: Engine, ref: AppRef) -> dict[str, list[str]]:
    from coopcloud.ops.app.apps import all_apps
    from coopcloud.ops.prune import prune_app

    pruned = prune_app(client, ref, {a.stack_name for a in all_apps(rt.settings) if a != ref})
    for kind, names in pruned.items():
        for name in names:
            rt.out.info(f"removed {kind[:-1]} {name}")
    return pruned


@no_json
@app.command("config")
@click.argument("app_name", metavar="APP")
@pass_runtime
def config(rt: Runtime, app_name: str) -> None:
    """Edit the app's env file in $VISUAL or $EDITOR.

    Needs a terminal and an editor; without them it fails and names the file to edit.
    """
    import os
    import subprocess

    from coopcloud.errors import NeedsInput, UsageError
    from coopcloud.ops.app.apps import env_path, find_app

    path = env_path(rt.settings, find_app(rt.settings, app_name))
    if not rt.out.can_prompt:
        raise NeedsInput(f"app {app_name}: editing needs a terminal", hint=f"edit {path} directly")
    editor = rt.settings.environ.get("VISUAL") or rt.settings.environ.get("EDITOR")
    if not editor:
        raise UsageError(f"app {app_name}: no editor set", hint=f"set $EDITOR, or edit {path} directly")
    import shlex

    argv = shlex.split(editor) + [str(path)]
    try:
        subprocess.run(argv, check=False)
    except FileNotFoundError:
        raise UsageError(f"editor {argv[0]} not found", hint="set $EDITOR") from None
    os.chmod(path, 0o600)


@app.command("env")
@click.argument("app_name", metavar="APP")
@pass_runtime
def env(rt: Runtime, app_name: str) -> None:
    """Print the app's env values, expanded.

    Print the app's env values (expanded; secrets are Docker secrets, never in this file).
    """
    from coopcloud.ops.app.apps import load_app

    values = load_app(rt.settings, app_name).values()
    if rt.out.json:
        rt.out.emit_json(Values(values).to_json())
        return
    for key, value in values.items():
        rt.out.print(f"{key}={value}")


@app.command("check")
@click.argument("app_name", metavar="APP")
@pass_runtime
def check(rt: Runtime, app_name: str) -> None:
    """List env variables the recipe expects but the app lacks.

    List variables the recipe's .env.sample sets that the app's env lacks.
    """
    from coopcloud.domain.words import plural
    from coopcloud.errors import InvalidError
    from coopcloud.ops.app.check import missing_env

    found = missing_env(rt.settings, app_name)
    missing, version = found.missing, found.version
    if rt.out.json:
        rt.out.emit_json(found.to_json())
    elif missing:
        for key in missing:
            rt.out.print(key)
    if missing:
        raise InvalidError(
            f"app {app_name}: {plural(len(missing), 'variable')} from the recipe's .env.sample ({version}) "
            + ("is" if len(missing) == 1 else "are")
            + " missing",
            hint=f"add them with: coop app config {app_name}",
        )
    if not rt.out.json:
        rt.out.print(f"app {app_name}: env has every variable the recipe ({version}) expects")


@app.command("labels")
@click.argument("app_name", metavar="APP")
@pass_runtime
def labels(rt: Runtime, app_name: str) -> None:
    """Show the labels of the app's main service.

    Show the labels of the deployed app's main service (coop-cloud.<stack>.* and the rest).
    """
    from coopcloud.ops.app.apps import find_app
    from coopcloud.ops.app.ps import main_labels

    ref = find_app(rt.settings, app_name)
    found = main_labels(rt.servers().client(ref.server), ref)
    if rt.out.json:
        rt.out.emit_json(Values(found).to_json())
        return
    for key in sorted(found):
        rt.out.print(f"{key}={found[key]}")


# -- deploy / undeploy / remove ---------------------------------------------------------------------


@app.command("deploy")
@click.argument("app_name", metavar="APP")
@click.argument("version", required=False)
@click.option(
    "--chaos", "-C", is_flag=True, help="Deploy the recipe's working tree as it is (labelled with its commit)."
)
@click.option("--force", "-f", is_flag=True, help="Deploy even though this version is already deployed.")
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
@yes_option
@click.option(
    "--no-rollback",
    is_flag=True,
    help="On failure, leave the app as swarm left it (exit 7) instead of rolling it back.",
)
@click.option("--no-converge-checks", "-c", is_flag=True, help="Do not wait for the services to run and be healthy.")
@click.option(
    "--no-domain-checks", "-D", is_flag=True, help="Do not check that DOMAIN resolves to an address of the server."
)
@mutating("deploy", lock="at begin", unless="dry_run")
def deploy(
    rt: Runtime,
    app: AppContext,
    app_name: str,
    version: str | None,
    chaos: bool,
    force: bool,
    dry_run: bool,
    yes: bool,
    no_rollback: bool,
    no_converge_checks: bool,
    no_domain_checks: bool,
) -> None:
    """Deploy APP: validate, plan, ask, apply, wait.

    Deploy APP (at VERSION, or the pinned or latest release): validate, plan, ask, apply, wait.

    Everything is checked before the first change on the server; a refused deploy
    leaves it as it was. The plan is shown; at a terminal you are asked before it is
    applied (--yes or --no-input: not asked). If the app ran before and the new specs
    do not converge, every service is put back on what ran before (exit 8; with
    --no-rollback: exit 7, left as swarm left it). On success the version is written to
    the app's env (TYPE=<recipe>:<version>) and images are recorded by digest in
    <app>.lock.json.

    \b
    Examples:
      coop app deploy git.example.org --dry-run   # the plan only, on stdout
      coop app deploy git.example.org             # the pinned (or latest) release
      coop app deploy git.example.org 1.2.0 --yes # that release, without asking
    """
    from coopcloud.ops import deploy as dep
    from coopcloud.output.plan import ProgressPrinter, show_plan

    post_deploy = _post_deploy_commands(rt, app_name)  # a malformed one is refused before any change
    if not no_domain_checks:
        from coopcloud.ops.deploy.domains import check_app_domains

        check_app_domains(rt.settings, app.name, warn=rt.out.warn)
    prepared = dep.prepare(rt.settings, app.pool, app.name, version=version, chaos=chaos, force=force or dry_run)
    show_plan(rt.out, prepared)
    for w in prepared.warnings:
        rt.out.warn(w)
    if dry_run:
        _report_deploy(rt, prepared.result(), "dry run, nothing changed")
        return
    approved(rt, prepared, yes=yes, action=f"deploy {prepared.version} to {prepared.server}")
    with ProgressPrinter(rt.out) as progress:
        options = dep.DeployOptions(
            converge=not no_converge_checks, rollback=not no_rollback, progress=progress, notify=rt.out.info
        )
        result = dep.execute(prepared, app, options)
    if not result.services:
        checked = "" if no_converge_checks else ", every service converged"
        _report_deploy(rt, result, f"already up to date at {result.version}{checked}; nothing changed")
    else:
        _report_deploy(rt, result, f"deployed {result.version} on {result.server}")
    _run_post_deploy(rt, app_name, post_deploy, converged=not no_converge_checks)


def _post_deploy_commands(rt: Runtime, app_name: str) -> list[tuple[str, str, list[str]]]:
    from coopcloud.ops.app.appcmd import post_deploy_commands
    from coopcloud.ops.app.apps import load_app

    return post_deploy_commands(load_app(rt.settings, app_name).env.values(), app_name)


def _run_post_deploy(
    rt: Runtime, app_name: str, commands: list[tuple[str, str, list[str]]], *, converged: bool
) -> None:
    """abra's POST_DEPLOY_CMDS, once the deploy converged, as `app cmd` runs them (their output on stderr)."""
    if not commands:
        return
    if not converged:
        rt.out.warn(f"app {app_name}: POST_DEPLOY_CMDS not run: the deploy did not wait for convergence (-c)")
        return
    from coopcloud.ops.app.appcmd import run_post_deploy
    from coopcloud.ops.app.apps import find_app

    def to_stderr(_stream: str, data: bytes) -> None:
        rt.out.stderr.write(data.decode("utf-8", "replace"))
        rt.out.stderr.flush()

    ref = find_app(rt.settings, app_name)
    run_post_deploy(rt.settings, rt.servers(), ref, commands, on_output=to_stderr, notify=rt.out.info)


def approved(rt: Runtime, prepared: Prepared, *, yes: bool, action: str) -> None:
    """Ask before applying a plan that changes something (at a terminal, without --yes); N is "cancelled"."""
    if prepared.plan.changes_anything:
        rt.out.approve(f"app {prepared.app}", action, yes=yes)


def _report_deploy(rt: Runtime, result: DeployResult, line: str) -> None:
    if rt.out.json:
        rt.out.emit_json(result.to_json())
    else:
        rt.out.print(f"app {result.app}: {line}")


@app.command("undeploy")
@click.argument("app_name", metavar="APP")
@click.option(
    "--prune", "-p", is_flag=True, help="Also remove the app's networks and configs that nothing uses any more."
)
@yes_option
@mutating("undeploy", lock="at begin")
def undeploy(rt: Runtime, app: AppContext, app_name: str, yes: bool, prune: bool) -> None:
    """Take the app's stack down; volumes and secrets are kept.

    Its services, networks and configs are removed; its volumes and secrets stay,
    so a later deploy brings the app back with its data.

    \b
    Examples:
      coop app undeploy git.example.org
      coop app undeploy git.example.org --yes
    """
    from coopcloud.domain.words import plural
    from coopcloud.ops.app.apps import check_own_stack
    from coopcloud.ops.app.lifecycle import stack_services
    from coopcloud.ops.app.lifecycle import undeploy as run_undeploy
    from coopcloud.ops.app.status import deployed_version

    ref, client = app.ref, app.engine
    check_own_stack(rt.settings, ref)  # the stack would be another app's too
    running = stack_services(client, ref.stack_name)
    if running:  # not deployed: the undeploy below says so
        rt.out.approve(
            f"app {app_name}",
            f"take down {plural(len(running), 'service')} on {ref.server} (volumes and secrets are kept)",
            yes=yes,
        )
    change = app.changing()
    change.version_from = deployed_version(client, ref.stack_name)
    removed = run_undeploy(client, ref)
    change.plan = [f"- service {name}" for name in removed.services]
    if prune:
        from dataclasses import replace

        removed = replace(removed, pruned=_prune_app(rt, client, ref))
    if rt.out.json:
        rt.out.emit_json(removed.to_json())
        return
    rt.out.print(f"app {app_name}: undeployed ({plural(len(removed.services), 'service')}); volumes and secrets kept")


@app.command("remove")
@click.argument("app_name", metavar="APP")
@click.option(
    "--purge", "--volumes", "purge", is_flag=True, help="Also delete its volumes, secrets and configs (data lost)."
)
@yes_option
# `-f` as abra has it would delete data: say what to pass instead of click's "no such option".
@click.option("--force", "-f", is_flag=True, hidden=True)
@mutating("remove", destroys=True, lock="at begin")
def remove(rt: Runtime, app: AppContext, app_name: str, purge: bool, yes: bool, force: bool) -> None:
    """Forget an undeployed app; --purge also deletes its data.

    Removes its env file and lockfile. An app that still has volumes, secrets or
    configs on its server is refused unless --purge deletes them too (their data
    is lost for good). Answering no changes nothing.

    \b
    Examples:
      coop app remove git.example.org                  # an app with nothing left on its server
      coop app remove git.example.org --purge          # with its volumes, secrets and configs
      coop app remove git.example.org --purge --yes    # without a terminal
    """
    from coopcloud.errors import UsageError
    from coopcloud.ops.app.lifecycle import check_removable, describe_leftovers, leftovers, refuse_leftovers
    from coopcloud.ops.app.lifecycle import remove as run_remove

    if force:
        raise UsageError(
            f"app {app_name}: --force does not delete data in coop",
            hint=f"run: coop app remove {app_name} --purge --yes",
        )
    ref = check_removable(rt.settings, app.pool, app_name)  # before asking anything
    client = app.engine
    found = leftovers(rt.settings, client, ref, purge=purge)
    refuse_leftovers(ref, found, purge=purge)
    if any(found.values()):
        data = " — their data is lost for good" if found["volumes"] or found["secrets"] else ""
        action = f"remove it with {describe_leftovers(found)} on {ref.server}{data}"
        rt.out.approve(f"app {app_name}", action, yes=yes, destroys=bool(data))
    else:
        rt.out.approve(f"app {app_name}", f"remove its env file ({ref.server} holds nothing of it)", yes=yes)
    removed = run_remove(rt.settings, app.pool, app_name, purge=purge, found=found)
    app.changing().plan = [f"- {kind[:-1]} {name}" for kind, names in removed.by_kind().items() for name in names]
    if rt.out.json:
        rt.out.emit_json(removed.to_json())
        return
    gone = {k: v for k, v in removed.by_kind().items() if v}
    rt.out.print(f"app {app_name}: removed" + (f" with {describe_leftovers(gone)}" if gone else ""))


@no_json
@app.command("cmd", context_settings={"ignore_unknown_options": True})
@click.argument("app_name", metavar="APP")
@click.argument("service")
@click.argument("function", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--user", "-u", help="Run as this user in the container.")
@click.option("--list", "list_", is_flag=True, help="List the functions abra.sh defines.")
@click.pass_context
def cmd(
    ctx: click.Context,
    app_name: str,
    service: str,
    function: str | None,
    args: tuple[str, ...],
    user: str | None,
    list_: bool,
) -> None:
    """Run a function of the recipe's abra.sh in a container.

    Run FUNCTION from the recipe's abra.sh in a running container of SERVICE; exit with its code.

    abra.sh comes from the version the app runs. Arguments after FUNCTION are passed to it.

    \b
    Examples:
      coop app cmd git.example.org app set_admin_pass
      coop app cmd git.example.org app --list
    """
    from coopcloud.cli.app_inspect import _writer
    from coopcloud.errors import UsageError
    from coopcloud.ops.app import appcmd
    from coopcloud.ops.app.apps import find_app

    rt = ctx.find_object(Runtime)
    assert rt is not None  # main() puts it there
    ref = find_app(rt.settings, app_name)
    client = rt.servers().client(ref.server)
    if list_:
        script, _where = appcmd.deployed_script(rt.settings, client, ref)
        for name in appcmd.functions(script):
            rt.out.print(name)
        return
    if not function:
        raise UsageError("give a FUNCTION of abra.sh", hint=f"see: coop app cmd {app_name} {service} --list")
    from coopcloud.ops.server.nodes import engine_for_service

    node = engine_for_service(rt.settings, rt.servers(), ref, service)
    code = appcmd.run(
        rt.settings, client, ref, service, function, list(args), on_output=_writer(rt), user=user, node=node
    )
    ctx.exit(code & 0xFF if code >= 0 else 1)


# -- secrets ------------------------------------------------------------------------------------------


@app.group("secret")
def secret() -> None:
    """Manage an app's secrets.

    Manage an app's secrets (Docker secrets <stack>_<name>_<version>).
    """


def _secrets_context(rt: Runtime, app_name: str) -> tuple[AppConfig, list[AppSecret]]:
    from coopcloud.ops.app import secrets as sec
    from coopcloud.ops.app.apps import load_app
    from coopcloud.ops.deploy import resolve_target

    cfg = load_app(rt.settings, app_name)
    sample = None
    abra = {}
    try:
        target = resolve_target(rt.settings, cfg)
        sample = target.recipe.env_sample()
        abra = target.recipe.abra_sh_versions()
    except Exception as exc:  # hints are a help; the app env alone still lists the secrets
        rt.out.debug(f"recipe hints unavailable: {exc}")
    return cfg, sec.declared(cfg, sample, abra)


def _generate_all(rt: Runtime, app: AppContext) -> list[Generated]:
    from coopcloud.ops.app import secrets as sec

    _cfg, declared = _secrets_context(rt, app.name)
    return sec.generate(app.engine, app.name, app.stack, declared)


def _print_generated(rt: Runtime, generated: list[Generated]) -> None:
    for s, value in generated:
        if value is not None:
            rt.out.print(f"{s.name} ({s.version}): {value}")
        elif not s.generate:
            rt.out.info(f"{s.name} ({s.version}): not generated (generate=false) — run: coop app secret insert")
        else:
            rt.out.info(f"{s.name} ({s.version}): already on the server, kept")
    if any(v is not None for _, v in generated):
        rt.out.info("these values are shown once and stored only on the server: keep them somewhere safe")


@secret.command("generate")
@click.argument("app_name", metavar="APP")
@click.argument("name", required=False)
@click.argument("version", required=False)
@click.option("--all", "-a", "all_", is_flag=True, help="Every secret the app declares.")
@mutating("secret generate", adds=True)
def secret_generate(
    rt: Runtime, app: AppContext, app_name: str, name: str | None, version: str | None, all_: bool
) -> None:
    """Generate secrets and print each value once.

    Generate secrets (hints: length=N, charset=..., generate=false) and print each value once.
    """
    from coopcloud.errors import UsageError
    from coopcloud.ops.app import secrets as sec

    if bool(name) == all_:
        raise UsageError("give a secret NAME (and VERSION) or --all", hint=f"see: coop app secret ls {app_name}")
    _cfg, declared = _secrets_context(rt, app_name)
    chosen = sec.select(declared, app_name, app.stack, name, version)
    generated = sec.generate(app.engine, app_name, app.stack, chosen)
    app.changing().plan = [f"+ secret {s.name} ({s.version})" for s, v in generated if v is not None]
    if rt.out.json:
        rt.out.emit_json([i.to_json() for i in app_items(app.ref, generated, stack=False)])
        return
    _print_generated(rt, generated)


@secret.command("insert")
@click.argument("app_name", metavar="APP")
@click.argument("name")
@click.argument("version")
@click.argument("value", required=False)
@click.option("--file", "file_", type=click.File("r"), help="Read the value from a file ('-' for stdin).")
@mutating("secret insert", adds=True, lock="at begin")
def secret_insert(
    rt: Runtime, app: AppContext, app_name: str, name: str, version: str, value: str | None, file_: IO[str] | None
) -> None:
    """Store a secret value you already have.

    Store a secret value you already have (from VALUE, --file, or a hidden prompt).
    """
    from coopcloud.errors import NeedsInput, UsageError
    from coopcloud.ops.app import secrets as sec

    if value is not None and file_ is not None:
        raise UsageError("give VALUE or --file, not both")
    if file_ is not None:
        value = file_.read().rstrip("\n")
    if value is None:
        if not rt.out.can_prompt:
            raise NeedsInput(f"secret {name} needs a value", hint="pass VALUE or --file")
        value = click.prompt(f"value for {name} ({version})", hide_input=True, err=True)
    cfg, declared = _secrets_context(rt, app_name)
    [chosen] = sec.select(declared, app_name, app.stack, name, version)
    stored = sec.create(app.engine, app_name, app.stack, chosen, value)
    app.changing().plan = [f"+ secret {name} ({version})"]
    if rt.out.json:
        rt.out.emit_json(AppItem(cfg.ref, stored, stack=False).to_json())
        return
    rt.out.print(f"app {app_name}: secret {name} ({version}) stored as {chosen.remote}")


@secret.command("rm")
@click.argument("app_name", metavar="APP")
@click.argument("name", required=False)
@click.option("--all", "-a", "all_", is_flag=True, help="Every secret the app declares, every version.")
@yes_option
@mutating("secret rm", destroys=True, lock="at begin")
def secret_rm(rt: Runtime, app: AppContext, app_name: str, name: str | None, all_: bool, yes: bool) -> None:
    """Remove an app's secrets from its server.

    Every version of each is removed; their values are lost for good. Refused while a
    running service uses them.

    \b
    Examples:
      coop app secret rm git.example.org db_password
      coop app secret rm git.example.org --all --yes
    """
    from coopcloud.errors import UsageError
    from coopcloud.ops.app import secrets as sec

    if bool(name) == all_:
        raise UsageError("give a secret NAME or --all")
    _cfg, declared = _secrets_context(rt, app_name)
    chosen = sec.select(declared, app_name, app.stack, name, None)
    from coopcloud.domain.words import plural

    doomed = sec.removable(app.engine, app_name, app.stack, chosen, all_versions=True)  # in use: exit 10, not asked
    if doomed:
        rt.out.approve(
            f"app {app_name}",
            f"remove {plural(len(doomed), 'secret')} ({', '.join(doomed)}) — their values are lost for good",
            yes=yes,
            destroys=True,
        )
    removed = sec.remove(app.engine, app_name, app.stack, chosen, all_versions=True)
    app.changing().plan = [f"- secret {n}" for n in removed]
    if rt.out.json:
        rt.out.emit_json(RemovedFrom(app.ref, removed).to_json())
        return
    rt.out.print(
        f"app {app_name}: removed {plural(len(removed), 'secret')}" + (": " + ", ".join(removed) if removed else "")
    )


@secret.command("rotate")
@click.argument("app_name", metavar="APP")
@click.argument("name", required=False)
@click.option("--all", "-a", "all_", is_flag=True, help="Every secret coop generates for the app.")
@click.option("--show", is_flag=True, help="Print the new values (once); they are never shown otherwise.")
@yes_option
@mutating("secret rotate", lock="at begin")
def secret_rotate(
    rt: Runtime, app: AppContext, app_name: str, name: str | None, all_: bool, show: bool, yes: bool
) -> None:
    """Give secrets new values and redeploy the app.

    Creates each secret's next version (v1 -> v2), redeploys, then removes the old one.

    The app's env gets SECRET_<NAME>_VERSION bumped; the app is redeployed at its
    pinned version and must converge before the old version is removed. If it
    does not, the env and the secrets go back as they were. A password that a
    database keeps in its own data changes only if the recipe applies it at start.

    \b
    Examples:
      coop app secret rotate git.example.org db_password
      coop app secret rotate git.example.org --all --show --yes
    """
    from coopcloud.errors import NotFound, UsageError
    from coopcloud.ops.app import rotate
    from coopcloud.ops.app.status import deployed_version
    from coopcloud.ops.deploy import DeployOptions
    from coopcloud.ops.deploy.guard import check_downgrade
    from coopcloud.output.plan import ProgressPrinter

    if bool(name) == all_:
        raise UsageError("give a secret NAME or --all", hint=f"see: coop app secret ls {app_name}")
    cfg, declared = _secrets_context(rt, app_name)
    chosen = rotate.choose(declared, app_name, None if all_ else [name or ""])
    running = deployed_version(app.engine, app.stack)
    if running is None:
        raise NotFound(
            f"app {app_name} is not deployed on {cfg.ref.server}: rotation redeploys it",
            hint=f"deploy it first: coop app deploy {app_name}",
        )
    if cfg.pinned_version:  # refused before anything is created, not after
        check_downgrade(app_name, cfg.ref.server, running=running, target=cfg.pinned_version, explicit=False)
    from coopcloud.domain.words import plural

    rt.out.approve(
        f"app {app_name}",
        f"give {plural(len(chosen), 'secret')} ({', '.join(s.name for s in chosen)}) new values and redeploy it",
        yes=yes,
    )

    change = app.changing()
    change.version_from = change.version_to = running
    change.plan = [f"~ secret {s.name}: {s.version} -> next" for s in chosen]
    with ProgressPrinter(rt.out) as progress:
        rotation = rotate.rotate(app, chosen, DeployOptions(progress=progress, notify=rt.out.info))
    change.plan = rotation.plan_lines()
    if rt.out.json:
        rt.out.emit_json(rotation.to_json(show=show))
        return
    for old, new, value in rotation.rotated:
        rt.out.print(f"app {app_name}: secret {old.name} rotated {old.version} -> {new.version}")
        if show:
            rt.out.print(f"{new.name} ({new.version}): {value}")
    if show:
        rt.out.info("these values are shown once and stored only on the server: keep them somewhere safe")
    if rotation.removed:
        rt.out.info(f"old versions removed: {', '.join(rotation.removed)}")


@secret.command("ls")
@click.argument("app_name", metavar="APP")
@pass_runtime
def secret_ls(rt: Runtime, app_name: str) -> None:
    """List the app's secrets and whether the server has them.

    List the app's secrets: name, version, remote name, and whether the server has it.
    """
    from coopcloud.ops.app import secrets as sec

    cfg, declared = _secrets_context(rt, app_name)
    rows = sec.with_presence(rt.servers().client(cfg.ref.server), declared)
    if rt.out.json:
        rt.out.emit_json([i.to_json() for i in app_items(cfg.ref, rows, stack=False)])
        return
    rt.out.table(
        ["name", "version", "remote name", "on server", "generate"],
        [[s.name, s.version, s.remote, s.present, s.generate] for s in rows],
    )


# The inspection commands (ps, logs, errors, services, restart, run, cp, volume) live in their own module.
register_inspect(app)
register_upgrade(app)
register_team(app)
register_move(app)
register_backup(app)
