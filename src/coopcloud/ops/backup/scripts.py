"""What the short-lived restic container runs: shell scripts as data (pure, tested by comparison).

The container is started with our own command (`/bin/sh -c SCRIPT`), never the
image's entrypoint, so any image with restic and a POSIX shell works (the
official `restic/restic`, or the rig's Debian-built one). Inside it:

    /backup/<service>/<volume>   each volume of the app (read-only for a backup)
    /repository                  the server's repository volume (default repository)
    /run/secrets/restic-password the password, a Docker secret (RESTIC_PASSWORD_FILE)
    /run/secrets/restic-repository   a URL repository (RESTIC_REPOSITORY_FILE), and with it
    /run/secrets/restic-ssh-key      sftp: the ssh key and the known_hosts ssh checks the
    /run/secrets/restic-known-hosts    server's host key against (StrictHostKeyChecking yes)
    /run/secrets/restic-env          other back ends: `export KEY='value'` lines, read by the shell

A script reports a refusal as one stderr line ``coop-error: <reason>`` and exits
`REFUSED`; restic's own output (``--json``) goes to stdout.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .labels import BackupSpec

MOUNT_ROOT = "/backup"
REPOSITORY_MOUNT = "/repository"
SCRATCH = "/scratch"
FORGET_TRIES = 10  # ~30 s
REFUSED = 64  # a script's own refusal (restic uses 0-3, 10-12)
SNAPSHOT_KEPT = 65  # a failed backup whose snapshot could not be forgotten: it stays in the repository
LOCKED = 66  # the repository is locked by another restic job: nothing was done
ERROR_PREFIX = "coop-error: "
WARNING_PREFIX = "coop-warning: "  # a stderr line coop shows as a warning
RESULT_PREFIX = "coop-result: "  # a script's last stdout line: what it did, for coop (never prose to match)
REPOSITORY_FILE = "restic-repository"
SSH_KEY_FILE = "restic-ssh-key"
KNOWN_HOSTS_FILE = "restic-known-hosts"
ENV_FILE = "restic-env"

# restic runs `ssh [-p port] [-l user] host -s sftp`: the user's ssh config gives it our key and known_hosts.
# Only paths are written there; the secrets stay in /run/secrets. restic relays ssh's stderr from a goroutine
# that may not get to print before restic exits, so a wrapper found first on PATH keeps it in SSH_ERRORS.
SSH_ERRORS = "/tmp/ssh.err"
_SSH_CONFIG = (
    "Host *",
    f"  IdentityFile /run/secrets/{SSH_KEY_FILE}",
    "  IdentitiesOnly yes",
    f"  UserKnownHostsFile /run/secrets/{KNOWN_HOSTS_FILE}",
    "  GlobalKnownHostsFile /dev/null",
    "  StrictHostKeyChecking yes",
    "  UpdateHostKeys no",
    "  BatchMode yes",
    "  ConnectTimeout 10",
    "  LogLevel ERROR",
)

_PRELUDE = f"""set -u
fail() {{ echo "{ERROR_PREFIX}$*" >&2; exit {REFUSED}; }}
if [ -e /run/secrets/{ENV_FILE} ]; then . /run/secrets/{ENV_FILE} || fail "cannot read the repository's variables"; fi
if [ -e /run/secrets/{SSH_KEY_FILE} ]; then
  real_ssh=$(command -v ssh) || fail "the restic image has no ssh client, which an sftp: repository needs (see COOP_RESTIC_IMAGE)"
  mkdir -p "$HOME/.ssh" /tmp/coop-bin && printf '%s\\n' {" ".join(shlex.quote(line) for line in _SSH_CONFIG)} >"$HOME/.ssh/config" \\
    && printf '#!/bin/sh\\nexec %s "$@" 2>>{SSH_ERRORS}\\n' "$real_ssh" >/tmp/coop-bin/ssh && chmod 755 /tmp/coop-bin/ssh \\
    || fail "cannot write the ssh configuration in $HOME/.ssh"
  PATH=/tmp/coop-bin:$PATH; export PATH
fi
"""

# Why the repository cannot be opened, in one line: ssh's own words for a host key it refuses and for a
# key the server refuses (restic only says EOF), else restic's first error line (its last one names the URL).
_DIAGNOSE = f"""first_error() {{ grep -m 1 -i -e '^fatal' -e 'error' "$1" || tail -n 1 "$1"; }}
ssh_refused() {{
  if grep -q -e 'Host key verification failed' -e 'HOST IDENTIFICATION HAS CHANGED' "$1" {SSH_ERRORS} 2>/dev/null; then
    fail "the sftp server's host key is not the one in the known_hosts given to coop server backup-repo: ssh refused to connect"
  fi
  if grep -q -e 'Permission denied' "$1" {SSH_ERRORS} 2>/dev/null; then
    fail "the sftp server refused the ssh key given to coop server backup-repo: $(grep -h -m 1 'Permission denied' "$1" {SSH_ERRORS} 2>/dev/null | head -n 1)"
  fi
  if grep -q -e '^ssh: ' {SSH_ERRORS} 2>/dev/null; then  # unreachable: ssh's own reason, not restic's EOF
    fail "cannot reach the sftp server: $(grep -m 1 '^ssh: ' {SSH_ERRORS})"
  fi
}}
"""

# Open the repository: `open_repo` returns 0 when it is there, 2 when nothing is there (the only case where
# coop may create one), and fails the job, naming why, when something is there that restic cannot open:
# a volume holding files but no config, a config restic cannot read, a wrong password, or (`known`: coop
# has used the repository before) a URL whose config is gone. A repository is never created over one.
# A local repository (a volume) is looked at directly: opening it costs a key derivation (~1 s).
ABSENT = 2


def _open_repo(known: bool) -> str:
    gone = (
        'fail "the repository has no config (coop has used it before, so it is damaged, not new): restic cannot open it, '
        'and coop creates no repository over it; look at it with restic cat config"'
        if known
        else f"return {ABSENT}"
    )
    return f"""open_repo() {{
  if [ -n "${{RESTIC_REPOSITORY:-}}" ] && [ -d "$RESTIC_REPOSITORY" ]; then
    [ -e "$RESTIC_REPOSITORY/config" ] && return 0
    # Nothing of value: empty, or what an interrupted `restic init` leaves (its key, not yet its config).
    [ -z "$(find "$RESTIC_REPOSITORY" -type f ! -path "$RESTIC_REPOSITORY/keys/*" | head -n 1)" ] && return {ABSENT}
    fail "the repository holds snapshots or data but no config: restic cannot open it (damaged?), and coop creates no repository over it"
  fi
  restic cat config >/dev/null 2>/tmp/cat-config.err && return 0
  ssh_refused /tmp/cat-config.err
  if grep -q -i -e 'wrong password' -e 'no key found' /tmp/cat-config.err; then
    fail "the repository's password does not match the server's secret coop-backup-password"
  fi
  if grep -q -i -e 'does not exist' -e 'no such file' /tmp/cat-config.err; then
    {gone}
  fi
  fail "cannot open the repository: $(first_error /tmp/cat-config.err)"
}}
"""


def _ensure_repo(known: bool) -> str:
    """Open the repository, or create it where nothing is (the job's last line then says `created`)."""
    return (
        _open_repo(known)
        + f"""created=
open_repo
if [ "$?" = {ABSENT} ]; then
  restic init >/dev/null 2>/tmp/init.err || fail "cannot create the repository: $(first_error /tmp/init.err)"
  created=1
fi
"""
    )


# The job's command: the script runs under a shell that only waits for it. That shell is PID 1 of the
# container, which hears no signal it does not trap: without this, the SIGTERM of the job's removal (coop
# interrupted) reached nothing and restic ran on until the engine's SIGKILL 10 s later, finishing a snapshot
# of an interrupted backup (its post-hooks already run) or leaving its lock in the repository. On SIGTERM it
# leaves STOPPED and sends SIGINT to every process of the job (itself immune): restic stops, removes its lock
# and exits 130; the script goes on to its end (a backup forgets what its run saved), then PID 1 exits.
STOPPED = "/tmp/coop-stopped"
JOB_COMMAND = f"""trap '' INT
trap ': >{STOPPED}; kill -INT 0' TERM
/bin/sh -c "$1" "$0" & script=$!
wait "$script"; rc=$?
while kill -0 "$script" 2>/dev/null; do wait "$script"; rc=$?; done
exit "$rc"
"""


def mount_point(service: str, volume: str) -> str:
    return f"{MOUNT_ROOT}/{service}/{volume}"


def backup_paths(spec: BackupSpec) -> list[str]:
    """What restic is given: each volume's root, or the declared paths inside it."""
    paths: list[str] = []
    for svc in spec.services:
        for vol in svc.volumes:
            root = mount_point(svc.service, vol.name)
            paths.extend([f"{root}/{p}" for p in vol.paths] if vol.paths else [root])
    return paths


def declared_paths(spec: BackupSpec) -> list[tuple[str, str, str, str]]:
    """(service, volume, path, container path) of every path a label declares: each must hold data."""
    return [
        (svc.service, vol.name, p, f"{mount_point(svc.service, vol.name)}/{p}")
        for svc in spec.services
        for vol in svc.volumes
        for p in vol.paths
    ]


def _q(words: Iterable[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)


def looks_like_a_file(path: str) -> bool:
    """A declared path that is missing is taken for a file when its name has an extension (app.sql.gz),
    else for a directory (uploads, keep): a missing file fails a backup, a missing directory is empty."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return "." in name.lstrip(".")


EMPTY_TAG = "empty="  # + service/volume/path: a declared directory that was empty or missing, recorded as empty


def _declared_checks(spec: BackupSpec) -> str:
    """Each declared path: a file must hold data (a missing or empty one, or one empty once decompressed,
    fails the backup); a directory that is empty or missing is recorded as empty (a tag), with a warning.
    Builds `$paths` (what restic backs up) and `$extra` (the tags), each word already quoted for `eval`."""
    lines = ["paths=\nextra=\n"]
    for svc in spec.services:
        for vol in svc.volumes:
            if not vol.paths:
                lines.append(f'paths="$paths "{shlex.quote(shlex.quote(mount_point(svc.service, vol.name)))}\n')
    for service, volume, path, where in declared_paths(spec):
        what = shlex.quote(f"service {service}, volume {volume}, path {path}")
        p, word = shlex.quote(where), shlex.quote(shlex.quote(where))
        tag = shlex.quote(shlex.quote(f"{EMPTY_TAG}{service}/{volume}/{path}"))
        empty_dir = f'echo "{WARNING_PREFIX}"{what}": $1 directory, recorded as empty" >&2; extra="$extra --tag "{tag}'
        missing = f'fail {what}": missing"' if looks_like_a_file(path) else "set -- missing; " + empty_dir
        lines.append(
            f"if [ ! -e {p} ]; then {missing}\n"
            f'elif [ -d {p} ]; then if [ -n "$(ls -A {p})" ]; then paths="$paths "{word}; '
            f"else set -- empty; {empty_dir}; fi\n"
            f'else [ -s {p} ] || fail {what}": empty file"\n'
            f'  case {p} in *.gz) [ -n "$(gzip -dc {p} 2>/dev/null | head -c 1)" ] || fail {what}": empty once decompressed";; esac\n'
            f'  paths="$paths "{word}\n'
            "fi\n"
        )
    if spec.services and spec.services[0].volumes:  # nothing left to back up: the (empty) root of one volume
        root = mount_point(spec.services[0].service, spec.services[0].volumes[0].name)
        lines.append(
            f'[ -n "$paths" ] || {{ paths={shlex.quote(shlex.quote(root))}; extra="$extra --exclude "{shlex.quote(shlex.quote(root + "/*"))}; }}\n'
        )
    return "".join(lines)


def backup_script(spec: BackupSpec, *, host: str, tags: Sequence[str], run_tag: str, known: bool = False) -> str:
    """Check declared paths, open the repository, back up; a failed run leaves no snapshot behind."""
    checks = [_declared_checks(spec)]
    tag_args = [a for t in [*tags, run_tag] for a in ("--tag", t)]
    exclude = ["--exclude", f"{RESTORE_SCRATCH}*"]  # a restore's scratch directory, if one was left
    restic = _q(["restic", "backup", "--json", "--host", host, *tag_args, *exclude])
    backup = f'eval {shlex.quote(restic)}" $extra -- $paths"'
    # Forget what the failed run saved. restic forget locks the repository exclusively: another app's backup
    # running now makes it fail, so it is tried again for a while (not once stopped: the engine's SIGKILL
    # would leave its exclusive lock), and a snapshot that stays is said, never "no snapshot was kept".
    run_ids = f"""restic snapshots --json --tag {shlex.quote(run_tag)} 2>/dev/null | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4"""
    forget = f"""tries=0
  while ids=$({run_ids}) && [ -n "$ids" ]; do
    restic forget $ids >/dev/null 2>&1 && continue
    tries=$((tries + 1))
    if [ -e {STOPPED} ] || [ "$tries" -ge {FORGET_TRIES} ]; then
      echo "{ERROR_PREFIX}the run failed (restic exit code $rc) and the snapshot it saved could not be removed (another restic job holds the repository locked): remove it once that job ended: restic forget $ids" >&2
      exit {SNAPSHOT_KEPT}
    fi
    sleep 3
  done"""
    return (
        _PRELUDE
        + "".join(checks)
        + _DIAGNOSE
        + _ensure_repo(known)
        + f"{backup}\nrc=$?\n"
        # Stopped (coop interrupted): even a run restic finished meanwhile is not a backup anyone was told of.
        + f'if [ "$rc" = 0 ] && [ -e {STOPPED} ]; then rc=130; fi\n'
        # restic exits 3 when some files could not be read (the snapshot is incomplete): not a good backup.
        + f'if [ "$rc" != 0 ]; then\n  {forget}\n  exit "$rc"\nfi\n'
        + f"if [ -n \"$created\" ]; then echo '{RESULT_PREFIX}created'; else echo '{RESULT_PREFIX}saved'; fi\n"
    )


def snapshots_script(tags: Sequence[str], *, known: bool = False) -> str:
    """Every snapshot carrying all `tags`, as restic's JSON, then `coop-result: listed`; an empty list and
    `coop-result: absent` when nothing is there yet. A repository restic cannot open is an error, never empty."""
    tag = ",".join(tags)
    return (
        _PRELUDE
        + _DIAGNOSE
        + _open_repo(known)
        + f"open_repo\nif [ \"$?\" = {ABSENT} ]; then echo '[]'; echo '{RESULT_PREFIX}absent'; exit 0; fi\n"
        + f"{_q(['restic', 'snapshots', '--json', '--tag', tag])} || exit\n"
        + f"echo '{RESULT_PREFIX}listed'\n"
    )


# A restore is all or nothing: restic writes the snapshot into a scratch directory of each volume (same
# filesystem, so putting it in place is a rename), and only a complete, checked restore is put in place.
RESTORE_SCRATCH = ".coop-restore-"  # + the restore's token: never in a backup, removed by the next restore


@dataclass(frozen=True)
class RestoreTarget:
    """One volume a restore writes: where the job mounts it, and what of it is replaced by the snapshot's."""

    mount: str  # /backup/<service>/<volume>
    paths: tuple[str, ...] = ()  # declared paths, relative to the volume root; () = every top-level entry
    empty: tuple[str, ...] = ()  # declared directories the snapshot recorded as empty: made empty

    def scratch(self, token: str) -> str:
        return f"{self.mount}/{RESTORE_SCRATCH}{token}"


PLAN = "/tmp/coop-plan"  # what the restore job renames, written by coop (an exec) once the pre-hooks ran
PLAN_WAIT = 3600  # seconds a restore job waits for its plan: coop killed outright meanwhile leaves it that long
SNAPSHOT_PREFIX = "coop-snapshot: "  # + restic's JSON of the snapshot a restore job resolved


def _sizes_agree(mount: str, scratch: str) -> str:
    """The files restic ls lists under `mount` against those restored under `scratch`: their number and total
    size (stat; nothing is read back). A JSON key is matched with its quotes: in a name they are escaped."""
    inside = shlex.quote(f'"path":"{mount}/')
    return (
        f'want_n=$(grep -F \'"type":"file"\' /tmp/coop-ls.json | grep -c -F {inside})\n'
        f'want_b=$(grep -F \'"type":"file"\' /tmp/coop-ls.json | grep -F {inside} | grep -o \'"size":[0-9]*\' | cut -d: -f2 | total)\n'
        f"got_n=$(find {shlex.quote(scratch)} -type f | wc -l)\n"
        f"got_b=$(find {shlex.quote(scratch)} -type f -exec stat -c %s {{}} + | total)\n"
        f'[ "$want_n" -eq "$got_n" ] && [ "$want_b" -eq "$got_b" ] || {{ discard; '
        f'fail "snapshot $id holds $want_n files ($want_b bytes) under {mount}, $got_n ($got_b bytes) were restored; nothing was changed"; }}\n'
    )


def restore_job_script(
    wanted: str | None, app: str, mounts: Sequence[str], token: str, *, wait_for_plan: bool, known: bool = False
) -> str:
    """One job for a restore: resolve the snapshot (`wanted`, else the app's newest) and list its files with one
    restic command, print it (`coop-snapshot: {...}`), restore it into a scratch directory of each volume, check
    the files' number and size against the listing, then say `coop-result: restored`. With `wait_for_plan`, wait
    for coop's plan (restore_swap_script, written to PLAN by an exec once the pre-hooks ran) and run it: the
    renames, never stopped part way. Stopped, failed, or left without a plan: the scratch is removed.

    Why not restic's --verify (each file read back and hashed): restic checks every blob's SHA-256 against its id
    as it reads it from the repository, before writing it, and any blob or write it could not do makes it exit
    non-zero ("There were N errors"). What is left for --verify to find is restic writing a file wrongly without
    an error. Its likely form, a file written short or not at all, the files' number and size against the
    snapshot's listing find without reading the data back (the listing costs no extra time: it runs beside the
    restore). A wrong byte at the right offset they do not find; --verify's read-back would mostly come from the
    page cache, not the disk, and `coop app backup verify` still runs it.

    The listing runs beside the first volume's restore (each restic command derives the key, ~0.5 s): by the
    id when one is named; for the newest, both ask restic for the newest of the app's snapshots, which is the
    same one when the repository's list of snapshots did not change meanwhile — seen on a volume repository
    (its `snapshots/` directory; after a change that volume is restored again by the id). On a URL repository,
    where that list cannot be seen without restic, the listing comes first.

    Both run with --no-lock: a lock costs restic a write and a 200 ms wait for a racing one (a fifth of a small
    restore), and a restore killed outright would leave it behind, blocking `verify` for 30 minutes. What a lock
    guards against is a `prune` deleting packs while they are read; then restic fails (each blob is checked
    against its hash), the scratch is discarded and the live data is untouched. The app's backups, which
    forget their own failed snapshots, never run beside its restore: both hold the app's lock."""
    which = ["--tag", f"app={app}", "latest"] if wanted is None else [wanted]
    scratch = {m: f"{m}/{RESTORE_SCRATCH}{token}" for m in mounts}
    first = next(iter(scratch.items()), None)
    snapshots = 'ls "${RESTIC_REPOSITORY:-/nonexistent}/snapshots" 2>/dev/null'
    lines = [
        _PRELUDE,
        _DIAGNOSE,
        _open_repo(known),
        f"discard() {{ rm -rf {' '.join(shlex.quote(s) for s in scratch.values())}; }}\n",
        # A repository on this node's disk is read faster directly than through a cache this container starts empty.
        'nocache=; if [ -n "${RESTIC_REPOSITORY:-}" ] && [ -d "$RESTIC_REPOSITORY" ]; then nocache=--no-cache; fi\n',
        'total() { t=0; while read -r v; do t=$((t + v)); done; echo "$t"; }\n',
        "restore_into() {  # MOUNT SCRATCH SNAPSHOT...: what an earlier restore killed outright left goes first\n"
        f'  [ -e {STOPPED} ] && {{ discard; exit 130; }}\n  rm -rf "$1"/{RESTORE_SCRATCH}*\n'
        '  mkdir "$2" || fail "cannot make a scratch directory in $1"\n'
        '  m=$1; s=$2; shift 2; restic restore --no-lock $nocache --target "$s" --include "$m" "$@" >&2; rc=$?\n'
        f'  if [ "$rc" != 0 ] || [ -e {STOPPED} ]; then discard; [ -e {STOPPED} ] && exit 130; '
        'fail "restic restore failed (exit code $rc); nothing was changed"; fi\n}\n',
        f"before=$({snapshots})\n",
        f"restic ls --no-lock $nocache --json {_q(which)} >/tmp/coop-ls.json 2>/tmp/coop-ls.err & lister=$!\n",
    ]
    if first is not None:  # beside the listing: by the id named, or the newest where `same` can tell
        beside = "true" if wanted is not None else '[ -n "$before" ]'
        lines.append(f"first=\nif {beside}; then restore_into {_q(first)} {_q(which)} & first=$!; fi\n")
    lines += [
        "wait $lister; listed=$?\n",
        f"[ -e {STOPPED} ] && {{ wait; discard; exit 130; }}\n",
        'if [ "$listed" != 0 ]; then\n  wait; discard\n'
        f"  open_repo; [ \"$?\" = {ABSENT} ] && {{ echo '{RESULT_PREFIX}none'; exit 0; }}\n"
        # restic 0.14 ends without output when nothing matches; later versions say so and fail.
        "  grep -q -i -e 'no snapshot found' -e 'no matching ID' /tmp/coop-ls.err "
        f"&& {{ echo '{RESULT_PREFIX}none'; exit 0; }}\n"
        '  fail "cannot list the snapshot: $(first_error /tmp/coop-ls.err)"\n'
        "fi\n",
        "snap=$(head -n 1 /tmp/coop-ls.json)\n",
        f'case "$snap" in *\'"struct_type":"snapshot"\'*) ;; *) wait; discard; echo \'{RESULT_PREFIX}none\'; exit 0;; esac\n',
        'id=$(printf \'%s\\n\' "$snap" | grep -o \'"id":"[0-9a-f]*"\' | cut -d\'"\' -f4)\n',
        f"printf '%s\\n' \"{SNAPSHOT_PREFIX}$snap\"\n",
    ]
    for n, (m, s) in enumerate(scratch.items()):
        if n == 0 and wanted is not None:
            lines.append('wait "$first" || exit\n')
        elif n == 0:  # the newest, restored beside the listing: again by the id if the list of snapshots changed
            lines.append(
                f'if [ -n "$first" ]; then wait "$first" || exit; [ "$before" = "$({snapshots})" ] || '
                f'restore_into {_q([m, s])} "$id"\nelse restore_into {_q([m, s])} "$id"; fi\n'
            )
        else:
            lines.append(f'restore_into {_q([m, s])} "$id"\n')
        lines.append(_sizes_agree(m, s))
    lines.append(f'echo "{RESULT_PREFIX}restored"\n')
    if wait_for_plan:
        lines.append(
            f"n=0\nwhile [ ! -e {PLAN} ]; do\n"
            f"  [ -e {STOPPED} ] && {{ discard; exit 130; }}\n"
            f'  n=$((n + 1)); [ "$n" -lt {PLAN_WAIT * 20} ] || {{ discard; fail "no word from coop within {PLAN_WAIT} s after the restore into scratch; nothing was changed"; }}\n'
            "  sleep 0.05\ndone\n"
            # A plan handed over early may be there already when a stop comes: the stop wins until the renames begin.
            f"[ -e {STOPPED} ] && {{ discard; exit 130; }}\n"
            # From here on nothing stops it (the plan ignores INT and TERM from its first line, so do we).
            f"trap '' INT TERM\nexec /bin/sh {PLAN}\n"
        )
    return "".join(lines)


def restore_swap_script(
    targets: Sequence[RestoreTarget], token: str, *, discard: bool = False, others: Sequence[str] = ()
) -> str:
    """Put the scratch restore in place (or, `discard`, only remove it): each path the snapshot holds replaces
    the live one with a rename; paths it does not hold are left as they are. Every scratch directory is
    checked before the first rename, and the job does not stop part way (coop waits for it, whatever the
    signal). Its last line says what it did: `coop-result: swapped` or `coop-result: discarded`. The scratch
    directories of `others` (volumes restored into scratch that the snapshot does not hold) are removed too."""
    lines = ["set -u\ntrap '' INT TERM\n", f'fail() {{ echo "{ERROR_PREFIX}$*" >&2; exit {REFUSED}; }}\n']
    if discard:
        # A stopped restore's restic may still write for a moment (it makes directories as it goes): remove
        # until the directory stays gone, for at most ~15 s (longer than a job's stop grace period).
        lines += [
            f"d={shlex.quote(t.scratch(token))}; n=0\n"
            'while [ "$n" -lt 30 ]; do rm -rf "$d"; sleep 0.5; [ -e "$d" ] || { sleep 1; [ -e "$d" ] || break; }; '
            "n=$((n + 1)); done\n"
            for t in targets
        ]
        return "".join(lines) + f'echo "{RESULT_PREFIX}discarded"\n'
    for t in targets:
        lines.append(
            f"[ -d {shlex.quote(t.scratch(token))} ] || fail 'the restored files in {t.mount} are gone; nothing was changed'\n"
        )
    lines.append(
        # No subshell and no mkdir where the directories are there: a process start costs milliseconds.
        "put() {  # put NEW in place of LIVE, the live one moved into OLD first\n"
        '  { [ -d "${2%/*}" ] || mkdir -p "${2%/*}"; } && { [ -d "${3%/*}" ] || mkdir -p "${3%/*}"; } '
        '|| fail "cannot make the directory of $2"\n'
        '  if [ -e "$2" ] || [ -L "$2" ]; then mv "$2" "$3" || fail "cannot move $2 aside"; fi\n'
        '  mv "$1" "$2" || fail "cannot put $2 in place"\n'
        "}\n"
    )
    for t in targets:
        new, old = f"{t.scratch(token)}{t.mount}", f"{t.scratch(token)}/old"
        for p in t.empty:
            lines.append(
                f"mkdir -p {shlex.quote(f'{new}/{p}')} || fail 'cannot make an empty directory in {t.mount}'\n"
            )
            lines.append(
                f"put {shlex.quote(f'{new}/{p}')} {shlex.quote(f'{t.mount}/{p}')} {shlex.quote(f'{old}/{p}')}\n"
            )
        if t.paths:
            for p in t.paths:
                src = shlex.quote(f"{new}/{p}")
                lines.append(
                    f"if [ -e {src} ] || [ -L {src} ]; then put {src} {shlex.quote(f'{t.mount}/{p}')} {shlex.quote(f'{old}/{p}')}; fi\n"
                )
        else:
            lines.append(
                f"for e in {shlex.quote(new)}/* {shlex.quote(new)}/.[!.]* {shlex.quote(new)}/..?*; do\n"
                '  [ -e "$e" ] || [ -L "$e" ] || continue\n'
                "  b=${e##*/}\n"
                f'  case "$b" in {RESTORE_SCRATCH}*) continue;; esac\n'
                f'  put "$e" {shlex.quote(t.mount)}/"$b" {shlex.quote(old)}/"$b"\n'
                "done\n"
            )
    lines += [f"rm -rf {shlex.quote(t.scratch(token))}\n" for t in targets]
    lines += [f"rm -rf {shlex.quote(f'{m}/{RESTORE_SCRATCH}{token}')}\n" for m in others]  # restored, not held
    return "".join(lines) + f'echo "{RESULT_PREFIX}swapped"\n'


# restic check locks the repository exclusively: another job's lock (a backup or restore running now, or
# one killed without removing its lock, which `restic unlock` removes only once it is 30 minutes old) makes
# it fail without checking anything. That is not damage: it is said so, never "found errors".
_CHECK = f"""restic unlock >/dev/null 2>&1
if ! restic check >/tmp/check.out 2>&1; then
  cat /tmp/check.out >&2
  if grep -q 'already locked' /tmp/check.out; then
    echo "{ERROR_PREFIX}the repository is locked by another restic job (a backup or restore running now, or one killed in the last 30 minutes), so nothing was checked; run verify again once it has ended" >&2
    exit {LOCKED}
  fi
  fail "restic check found errors in the repository"
fi
"""


def verify_script(snapshot: str) -> str:
    """restic check, then restore into a scratch directory with --verify (every restored file's content is
    hashed and compared with the snapshot's blob hashes), then the file counts must agree."""
    snap = shlex.quote(snapshot)
    return (
        _PRELUDE
        + _CHECK
        + f'restic restore {snap} --target {SCRATCH} --verify >&2 || fail "restoring snapshot {snapshot} failed or its files do not match their hashes"\n'
        + _files_agree(snapshot, SCRATCH)
    )


def unlock_script() -> str:
    """Remove every lock of the repository (coop checked that none of its jobs runs)."""
    return (
        _PRELUDE
        + _DIAGNOSE
        + _open_repo(False)
        + f"open_repo\nif [ \"$?\" = {ABSENT} ]; then fail 'there is no repository there'; fi\n"
        + 'restic unlock --remove-all >&2 || fail "restic unlock failed"\n'
        + f"echo '{RESULT_PREFIX}unlocked'\n"
    )


def download_script(snapshot: str, target: str) -> str:
    """Restore the snapshot into `target` (a scratch volume), then the file counts must agree; prints
    `{"files": N}`, which the copy to the operator's machine is checked against."""
    return (
        _PRELUDE
        + f'{_q(["restic", "restore", snapshot, "--target", target])} >&2 || fail "restoring snapshot {snapshot} failed"\n'
        + _files_agree(snapshot, target)
    )


def _files_agree(snapshot: str, target: str) -> str:
    """The snapshot's files (restic ls; a failing ls is an error, not 0 files) against the files under
    `target`; `{"files": N}` on stdout when they agree."""
    snap, where = shlex.quote(snapshot), shlex.quote(target)
    return f"""restic ls --json {snap} >/tmp/coop-ls.json || fail "cannot list the files of snapshot {snapshot}"
in_snapshot=$(grep -c '"type":"file"' /tmp/coop-ls.json)
on_disk=$(find {where} -type f | wc -l)
[ "$in_snapshot" -eq "$on_disk" ] || fail "snapshot {snapshot} lists $in_snapshot files, $on_disk were restored"
echo "{{\\"files\\": $on_disk}}"
"""
