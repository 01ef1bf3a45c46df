"""The restic job of a backup command: its image, repository, password and mounts; its reason for failing."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from coopcloud.engine import views
from coopcloud.engine.protocol import Engine
from coopcloud.errors import CoopError, EngineError
from coopcloud.rawdata import RawDataError, RawMap, get_float, get_int
from coopcloud.settings import Settings

from . import repository, scripts
from .job import START_TIMEOUT, Job, JobResult, Mount, OnStatus, run_job
from .repository import Repository, password

DEFAULT_IMAGE = "restic/restic:0.17.3"
SCRATCH_LABEL = "coop.backup.scratch"
WHY = ("manual", "pre-upgrade", "pre-rollback", "server")

Progress = Callable[[str], None]


class BackupFailed(CoopError):
    """A backup, restore or verify did not do what was asked; nothing was recorded as good."""


def restic_image(settings: Settings) -> str:
    """`COOP_RESTIC_IMAGE`, or the pinned official image."""
    return settings.environ.get("COOP_RESTIC_IMAGE") or DEFAULT_IMAGE


def restic_job(
    settings: Settings,
    client: Engine,
    kind: str,
    script: str,
    *,
    app_name: str,
    node_id: str | None,
    mounts: Sequence[Mount] = (),
    repo: Repository | None = None,
) -> tuple[Job, str | None]:
    """The restic job, with the repository and its password secret (generated on first use: returned to show once)."""
    repo = repo or repository.for_command(settings, client)
    secret, generated = password(client, generate=kind == "backup")
    env = {
        "RESTIC_PASSWORD_FILE": f"/run/secrets/{secret.file_name}",
        "RESTIC_CACHE_DIR": "/tmp/restic-cache",
        "RESTIC_PROGRESS_FPS": "0.5",
        **repo.env(),
    }
    job = Job(
        kind=kind,
        app=app_name,
        image=restic_image(settings),
        script=script,
        node_id=node_id,
        mounts=[*repo.mounts(), *mounts],
        secrets=[secret, *repo.secrets],
        env=env,
        repository=repo.shown,
    )
    return job, generated


def run_resolved(
    settings: Settings,
    client: Engine,
    build: Callable[[Repository], Job],
    *,
    start_timeout: float = START_TIMEOUT,
    on_status: OnStatus | None = None,
    shield: bool = False,
) -> tuple[Repository, JobResult]:
    """Resolve the repository setting and mount its secrets in one step: the setting is read just before the
    job is created, and read again if a change of it (`coop server backup-repo`) removed those secrets in
    between — never "secrets not found" from a setting chosen before the hooks ran."""
    for attempt in range(3):
        repo = repository.for_command(settings, client)
        job = build(repo)
        try:
            return repo, run_job(client, job, start_timeout=start_timeout, on_status=on_status, shield=shield)
        except EngineError:
            wanted = {s.secret_id for s in job.secrets}
            if attempt == 2 or wanted <= {s.id for s in views.secrets(client)}:
                raise  # not a setting that changed under us
    raise AssertionError("unreachable")


def failure_reason(result: JobResult) -> str:
    """The job's one-line reason: our own refusal, else restic's last error line, else the engine's;
    never a URL's user info (restic and ssh print the URL and user@host as given)."""
    return repository.redact(_reason(result))


def _reason(result: JobResult) -> str:
    if result.state not in ("complete", "failed") and result.error:  # it never ran (rejected, shut down)
        hint = " (set COOP_RESTIC_IMAGE to an image the server can pull)" if "image" in result.error.lower() else ""
        return f"the restic container did not run: {result.error}{hint}"
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(scripts.ERROR_PREFIX):
            return line[len(scripts.ERROR_PREFIX) :]
    fatal = [line for line in lines if line.lower().startswith(("fatal:", "error:")) or "error" in line.lower()]
    if fatal:
        return fatal[-1]
    if result.error:
        return result.error
    return lines[-1] if lines else f"the restic container ended with exit code {result.exit_code}"


def note(on_progress: Progress | None, text: str) -> None:
    if on_progress is not None:
        on_progress(text)


def status_printer(on_progress: Progress | None, what: str) -> OnStatus | None:
    if on_progress is None:
        return None

    def show(status: RawMap) -> None:
        try:
            pct = get_float(status, "percent_done") * 100
            done = get_int(status, "bytes_done") / 1e6
            total = get_int(status, "total_bytes") / 1e6
        except RawDataError:
            return  # a status line of another shape: no progress shown, never a failed backup
        on_progress(f"{what}: {pct:5.1f}%  {done:.1f}/{total:.1f} MB")

    return show
