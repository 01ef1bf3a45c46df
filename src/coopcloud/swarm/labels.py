"""The labels coop (and abra, and `docker stack deploy`) put on a stack's objects, read and written here only.

    STACK_LABEL                          com.docker.stack.namespace=<stack> on every object of a stack
    coop_label(stack, "version")         coop-cloud.<stack>.version, on the main service
    main_service_name(stack, names)      which service carries the coop-cloud.<stack>.* labels
    running_version(stack, labels)       the version label of what a stack runs (main service first)
    timeout_seconds(stack, labels)       coop-cloud.<stack>.timeout, the deploy/restart wait

Pure: no engine, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from coopcloud.errors import InvalidError

STACK_LABEL = "com.docker.stack.namespace"  # docker stack deploy's own: `docker stack ls` and abra read it
MAIN_SERVICE = "app"  # the service that carries an app's coop-cloud.<stack>.* labels (lint R009)
DEFAULT_TIMEOUT = 300  # seconds to wait for a stack to converge, unless its timeout label says otherwise

# Every label coop reads or writes, for the documentation (docs/reference/labels.md is built from this)
# and for tests/unit/test_labels_documented.py, which fails when the code names a label not listed here.
# (pattern, where it is, who sets it, what it means)
KNOWN_LABELS: tuple[tuple[str, str, str, str], ...] = (
    (
        "com.docker.stack.namespace",
        "every object of a stack",
        "coop, abra, docker stack deploy",
        "the stack an object belongs to; `docker stack ls` and abra read it",
    ),
    ("com.docker.stack.image", "services", "coop, docker stack deploy", "the image as the compose file names it"),
    ("com.docker.swarm.service.name", "containers", "swarm", "the service a container is a task of"),
    ("coop-cloud.<stack>.version", "main service", "coop, abra", "the release the app runs"),
    ("coop-cloud.<stack>.recipe", "main service", "coop, abra", "the recipe the app was deployed from"),
    ("coop-cloud.<stack>.chaos", "main service", "coop, abra", "true when deployed from a working tree (--chaos)"),
    (
        "coop-cloud.<stack>.chaos-version",
        "main service",
        "coop, abra",
        "the commit (and dirty marker) of a chaos deploy",
    ),
    (
        "coop-cloud.<stack>.autoupdate",
        "main service",
        "coop, abra",
        "ENABLE_AUTO_UPDATE: `coop autoupdate` may upgrade it",
    ),
    ("coop-cloud.<stack>.timeout", "main service (recipe)", "recipe", "seconds a deploy or restart waits to converge"),
    ("coop.spec-hash", "services", "coop", "hash of the spec coop sent: an unchanged redeploy restarts nothing"),
    ("coop.stack", "coop's own objects", "coop", "the stack a lock, audit or backup object is about"),
    ("coop.lock", "config coop-lock_<stack>", "coop", "the app's deploy lock: holder, command, pid, host, lease"),
    ("coop.audit", "configs coop-audit_…", "coop", "one audit-trail event of the app"),
    ("coop.backup", "coop's backup objects", "coop", "marks a backup job, secret or volume coop made"),
    ("coop.backup.app", "backup job services", "coop", "the app a backup or restore job works for"),
    ("coop.backup.job", "backup job services", "coop", "what the job does (backup, restore, verify, …)"),
    ("coop.backup.scratch", "scratch volumes", "coop", "a temporary volume of a restore, verify or download"),
    (
        "coop.backup.repository.*",
        "repository secrets",
        "coop",
        "a backup repository setting: setting, generation, kind, volume, shown URL, env keys",
    ),
    (
        "coop.move",
        "helper services of `coop app move`",
        "coop",
        "the stack being moved; a killed move's helpers are found by it",
    ),
    ("backupbot.backup", "services (recipe)", "recipe", "true: back this service's volumes up"),
    ("backupbot.backup.pre-hook", "services (recipe)", "recipe", "command run in the container before a backup"),
    ("backupbot.backup.post-hook", "services (recipe)", "recipe", "command run in the container after a backup"),
    ("backupbot.backup.volumes.<volume>", "services (recipe)", "recipe", "false: leave this volume out"),
    ("backupbot.backup.volumes.<volume>.path", "services (recipe)", "recipe", "only these paths of the volume"),
    ("backupbot.backup.path", "services (recipe)", "recipe", "legacy: container paths to back up"),
    ("backupbot.restore.pre-hook", "services (recipe)", "recipe", "command run in the container before a restore"),
    ("backupbot.restore.post-hook", "services (recipe)", "recipe", "command run in the container after a restore"),
)


def coop_label(stack: str, key: str) -> str:
    """``coop-cloud.<stack>.<key>``: abra's per-app labels (version, chaos, recipe, timeout…)."""
    return f"coop-cloud.{stack}.{key}"


def main_service_name(stack: str, names: Iterable[str]) -> str:
    """``<stack>_app`` when the stack has it, else the first service by name (as abra picks it).

    >>> main_service_name("a_b", ["a_b_db", "a_b_app"])
    'a_b_app'
    """
    names = sorted(names)
    if not names:
        raise ValueError(f"stack {stack} has no services")
    wanted = f"{stack}_{MAIN_SERVICE}"
    return wanted if wanted in names else names[0]


def running_version(stack: str, labels_by_service: Mapping[str, Mapping[str, str]]) -> str | None:
    """The ``coop-cloud.<stack>.version`` label of what the stack runs: the main service's, else the first
    other service (by name) that carries it (an app deployed by hand may label another one); None if none does.

    >>> running_version("s", {"s_db": {"coop-cloud.s.version": "1.0.0+2"}, "s_app": {}})
    '1.0.0+2'
    """
    if not labels_by_service:
        return None
    key = coop_label(stack, "version")
    main = main_service_name(stack, labels_by_service)
    for name in [main] + sorted(n for n in labels_by_service if n != main):
        if version := labels_by_service[name].get(key):
            return version
    return None


def timeout_seconds(stack: str, labels: Mapping[str, str], default: int = DEFAULT_TIMEOUT) -> int:
    """The stack's ``coop-cloud.<stack>.timeout`` label in whole seconds; `default` when unset or empty.

    A value that is not a whole positive number of seconds is the recipe's mistake, so it is
    refused (InvalidError, before anything changes) rather than silently replaced by the default.

    >>> timeout_seconds("s", {"coop-cloud.s.timeout": "120"})
    120
    """
    key = coop_label(stack, "timeout")
    raw = (labels.get(key) or "").strip()
    if not raw:
        return default
    try:
        seconds = int(raw)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise InvalidError(
            f"label {key}={raw!r} is not a whole number of seconds",
            hint="set it to e.g. 300 in the recipe's compose file (deploy.labels)",
        )
    return seconds
