"""`coop autoupdate`: upgrade the apps that opted in, each through the deploy pipeline; a report, a webhook."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from coopcloud.cli.context import Runtime, mutating_apps, yes_option

if TYPE_CHECKING:
    from coopcloud.ops.autoupdate import Outcome

NOTIFY_ENV = "COOP_NOTIFY_URL"


@click.command("autoupdate")
@click.option("--server", "-s", "servers", multiple=True, metavar="SERVER", help="Only this server (repeatable).")
@click.option("--app", "-a", "apps", multiple=True, metavar="APP", help="Only this app (repeatable).")
@click.option("--major", is_flag=True, help="Also take a new major version (breaking changes, by semver).")
@click.option("--dry-run", is_flag=True, help="Say what would be upgraded; take no lock, change nothing.")
@click.option(
    "--notify-url",
    metavar="URL",
    help=f"POST the JSON report here when anything was upgraded, rolled back or failed (or set ${NOTIFY_ENV}).",
)
@yes_option
@mutating_apps("autoupdate")  # ops.autoupdate opens each app's mutating("autoupdate") as it upgrades it
def autoupdate(
    rt: Runtime,
    servers: tuple[str, ...],
    apps: tuple[str, ...],
    major: bool,
    dry_run: bool,
    notify_url: str | None,
    yes: bool,
) -> None:
    """Upgrade the apps that opted in to auto-updates.

    Each goes to the newest release of its recipe within the same major version (--major: any
    newer one). At a terminal the upgrades are listed and confirmed first (--yes: not asked);
    without one (cron, a systemd timer) they go ahead. An app opts in with ENABLE_AUTO_UPDATE=true in its env (a deploy then labels its app
    service coop-cloud.<stack>.autoupdate=true, as abra does). Each opted-in app is upgraded
    as `coop app upgrade` does it: its lock, a pre-upgrade snapshot of its data (an app whose
    snapshot fails is not upgraded), the new release, a wait until it runs healthy, the whole
    app rolled back if it does not, the env pinned, the history recorded as "autoupdate".

    Skipped, with the reason: auto-update off, env file missing, a --chaos deployment, not
    converged, locked (by another run too: it is never waited for), drifted from its pinned
    version (coop app diff). Servers in parallel, the apps of one server one at a time.

    Exit 0 when nothing failed, 8 when an upgrade was rolled back, 7 when a rollback failed
    too, 1 for any other failure. The report (--json: a list of objects) is POSTed to
    --notify-url as application/json; a notify failure is a warning. A URL that carries a
    token is better given as $COOP_NOTIFY_URL than on the command line.

    \b
    Run it on a schedule, on the always-on machine that holds ~/.abra:
      # /etc/systemd/system/coop-autoupdate.service
      [Service]
      Type=oneshot
      User=coop
      EnvironmentFile=/etc/coop/autoupdate.env   # COOP_NOTIFY_URL=https://...
      ExecStart=/usr/local/bin/coop autoupdate --no-input
      # /etc/systemd/system/coop-autoupdate.timer
      [Timer]
      OnCalendar=*-*-* 04:00:00
      RandomizedDelaySec=30m
      Persistent=true
      [Install]
      WantedBy=timers.target
    \b
    or cron (crontab -e of that user):
      COOP_NOTIFY_URL=https://ntfy.example.org/ops
      0 4 * * * coop autoupdate --no-input >>~/autoupdate.log 2>&1

    \b
    Examples:
      coop autoupdate --dry-run          # what would be upgraded
      coop autoupdate --server cloud.example.org --notify-url https://ntfy.example.org/ops
    """
    from coopcloud.domain.words import plural
    from coopcloud.ops import autoupdate as au
    from coopcloud.ops.autoupdate.notify import Webhook

    url = notify_url or rt.settings.environ.get(NOTIFY_ENV) or None
    hook = Webhook(url) if url else None  # a bad URL is refused before anything else
    options = au.Options(servers=servers, apps=apps, major=major, dry_run=dry_run)

    def progress(row: au.Outcome) -> None:
        if row.result in au.NOTIFY_ON:
            rt.out.info(f"app {row.app} on {row.server}: {row.shown.splitlines()[0]}")

    surveyed = au.survey_all(rt.settings, rt.servers(), options, warn=rt.out.warn)
    if surveyed.candidates and not dry_run:
        moves = ", ".join(f"{c.ref.name} ({c.deployed} -> {c.target.tag})" for c in surveyed.candidates)
        rt.out.approve("autoupdate", f"upgrade {plural(len(surveyed.candidates), 'app')}: {moves}", yes=yes)
    outcomes = au.finish(rt.settings, rt.servers(), surveyed, notify=rt.out.info, on_outcome=progress)
    if rt.out.json:
        rt.out.emit_json([o.to_json() for o in outcomes])
    elif outcomes:
        rt.out.table(
            ["app", "server", "from", "to", "result"],
            [[o.app, o.server, o.from_version or "-", o.to_version or "-", o.shown] for o in outcomes],
        )
    else:
        rt.out.info("no deployed apps on " + (", ".join(servers) if servers else "any server"))
    if hook is not None and hook.wanted(outcomes):
        try:
            hook.post(outcomes)
        except Exception as exc:  # never a reason to fail the run
            rt.out.warn(f"the report was not sent: {exc}")
    _exit(outcomes)


def _exit(outcomes: list[Outcome]) -> None:
    """One error line for a run that did not go well, with its exit status."""
    from coopcloud.errors import CoopError, DeployFailed, RolledBack
    from coopcloud.ops import autoupdate as au

    status = au.exit_status(outcomes)
    if status == 0:
        return
    bad = [o for o in outcomes if o.result in (au.ROLLED_BACK, au.FAILED)]
    first = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    shown = first.shown.splitlines()[0] if first.shown else first.result
    line = f"autoupdate: app {first.app} on {first.server}: {shown}{more}"
    hint = f"see: coop app history {first.app}" if first.app != "-" else "see the report above"
    kind = {7: DeployFailed, 8: RolledBack}.get(status, CoopError)
    raise kind(line, hint=hint)
