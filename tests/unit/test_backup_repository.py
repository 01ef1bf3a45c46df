"""A server's backup repository setting: URLs, the credentials they need, checked before any change, and
the generations of secrets that hold them (the engine here is the fake; the rig proves the rest in
tests/integration/test_backup_repo_url.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
from pathlib import Path

import pytest

from coopcloud.errors import NotFound, UsageError
from coopcloud.ops.backup import scripts
from coopcloud.ops.backup.job import Job
from coopcloud.ops.backup.repository import (
    LEGACY_SECRET,
    Credentials,
    load_credentials,
    parse_location,
    repository,
    set_repository,
)
from coopcloud.settings import Settings
from fakes.engine import FakeEngine


def test_locations():
    assert parse_location("s", "volume:coop-backups").volume == "coop-backups"
    rest = parse_location("s", "rest:https://user:pw@vault.example.org/x")
    assert rest.shown == "rest:https://vault.example.org/x" and rest.url.endswith("user:pw@vault.example.org/x")
    assert "pw" not in repr(rest)
    assert parse_location("s", "sftp:backup@vault:/srv/restic").shown == "sftp:vault:/srv/restic"
    assert parse_location("s", "sftp:backup@vault:/srv/restic").ssh_host == ("vault", 22)
    assert parse_location("s", "sftp://backup@vault:2222//srv/restic").ssh_host == ("vault", 2222)
    assert parse_location("s", "sftp://backup@vault:2222//srv/restic").shown == "sftp://vault:2222//srv/restic"
    # IPv6 hosts, in both of restic's forms
    assert parse_location("s", "sftp:backup@[2001:db8::7]:/srv/restic").ssh_host == ("2001:db8::7", 22)
    assert parse_location("s", "sftp:backup@[2001:db8::7]:/srv/restic").shown == "sftp:[2001:db8::7]:/srv/restic"
    assert parse_location("s", "sftp://backup@[2001:db8::7]:2222//r").ssh_host == ("2001:db8::7", 2222)
    for bad in (
        "/srv/restic",
        "http://x",
        "volume:../x",
        "sftp:vault",
        "sftp://vault:99999//r",
        "rest:nohost",
        "s3:",
        "sftp:u@h:/a b",
        "sftp:u@[::1/r",
        "sftp:u@[]:/r",
    ):
        with pytest.raises(UsageError, match="not a"):
            parse_location("s", bad)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "id")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret words", "-f", str(d / "locked")], check=True)
    host_key = (d / "id.pub").read_text().split()[:2]
    (d / "known_hosts").write_text(f"# scanned\n[vault]:2222 {' '.join(host_key)}\n")
    return d


SFTP = "sftp://backup@vault:2222//srv/restic"


def test_sftp_needs_a_readable_key_without_passphrase_and_the_hosts_key(keys):
    where = parse_location("s", SFTP)
    creds = load_credentials("s", where, ssh_key=keys / "id", known_hosts=keys / "known_hosts")
    assert creds.ssh_key == (keys / "id").read_bytes() and creds.known_hosts and not creds.env
    assert "PRIVATE" not in repr(creds)

    def refused(match: str, **kw) -> None:
        with pytest.raises(UsageError, match=match) as info:
            load_credentials("s", where, **kw)
        assert "\n" not in str(info.value)

    refused("needs --known-hosts FILE", ssh_key=keys / "id")
    refused("needs --ssh-key FILE", known_hosts=keys / "known_hosts")
    refused("cannot read it", ssh_key=keys / "nosuch", known_hosts=keys / "known_hosts")
    refused("is not a private key", ssh_key=keys / "id.pub", known_hosts=keys / "known_hosts")
    refused("protected by a passphrase", ssh_key=keys / "locked", known_hosts=keys / "known_hosts")
    refused(
        "has no host key for \\[vault\\]:2222",
        ssh_key=keys / "id",
        known_hosts=_write(keys / "other", "vault ssh-ed25519 AAAA\n"),
    )
    refused("is not a known_hosts file", ssh_key=keys / "id", known_hosts=_write(keys / "junk", "hello\n"))
    v6 = parse_location("s", "sftp:backup@[2001:db8::7]:/srv/restic")
    hosts6 = _write(keys / "v6", "2001:db8::7 ssh-ed25519 AAAA\n")
    assert load_credentials("s", v6, ssh_key=keys / "id", known_hosts=hosts6).known_hosts
    with pytest.raises(UsageError, match="is for an sftp: repository"):
        load_credentials("s", parse_location("s", "s3:https://s3.example.org/b"), ssh_key=keys / "id")
    with pytest.raises(UsageError, match="is for a URL repository"):
        load_credentials("s", parse_location("s", "volume:v"), env_keys=["A"])


def test_known_hosts_patterns_and_hashed_names(keys):
    where = parse_location("s", SFTP)
    salt = b"0123456789abcdefghij"
    digest = hmac.new(salt, b"[vault]:2222", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()} ssh-ed25519 AAAA\n"
    for text in (
        hashed,
        "[vault]:2222,other ssh-ed25519 AAAA\n",
        "[vau*]:2222 ssh-ed25519 AAAA\n",
        "@cert-authority [vault]:2222 ssh-ed25519 AAAA\n",
    ):
        load_credentials("s", where, ssh_key=keys / "id", known_hosts=_write(keys / "kh", text))
    for text in ("vault ssh-ed25519 AAAA\n", "[vau*]:2222,![vault]:2222 ssh-ed25519 AAAA\n"):
        with pytest.raises(UsageError, match="has no host key"):
            load_credentials("s", where, ssh_key=keys / "id", known_hosts=_write(keys / "kh", text))


def test_variables_from_a_file_and_the_environment_never_echoed(tmp_path):
    where = parse_location("s", "s3:https://s3.example.org/bucket")
    env_file = _write(tmp_path / "s3.env", "# creds\nAWS_ACCESS_KEY_ID=AKIA1\nAWS_SECRET_ACCESS_KEY='x y$(reboot)'\n")
    creds = load_credentials(
        "s", where, env_file=env_file, env_keys=["AWS_DEFAULT_REGION"], environ={"AWS_DEFAULT_REGION": "eu-1"}
    )
    assert creds.env == {
        "AWS_ACCESS_KEY_ID": "AKIA1",
        "AWS_SECRET_ACCESS_KEY": "x y$(reboot)",
        "AWS_DEFAULT_REGION": "eu-1",
    }
    assert "AKIA1" not in repr(creds)
    # The job's shell reads the file: values are quoted, never run.
    out = subprocess.run(
        ["sh", "-c", ". /dev/stdin; printf '%s' \"$AWS_SECRET_ACCESS_KEY\""],
        input=creds.env_file(),
        capture_output=True,
        check=True,
    ).stdout
    assert out == b"x y$(reboot)"
    for kw, match in (
        ({"env_keys": ["K=v"]}, "not KEY=value"),
        ({"env_keys": ["NOPE"]}, "NOPE is not set"),
        ({"env_file": _write(tmp_path / "p.env", "RESTIC_PASSWORD=x\n")}, "set by coop itself"),
        ({"env_file": _write(tmp_path / "bad.env", "A=1\nhunter2 hunter2\n")}, "line 2 is not KEY=value"),
    ):
        with pytest.raises(UsageError, match=match) as info:
            load_credentials("s", where, environ={}, **kw)
        assert "hunter2" not in str(info.value) and str(info.value) != "v"
    with pytest.raises(UsageError, match="is not a variable name"):  # a newline would split the export line
        load_credentials("s", where, env_keys=["K\n"], environ={"K\n": "v"})


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_setting_is_a_generation_of_secrets_replaced_whole(keys):
    engine = FakeEngine()
    engine.secret_create(
        LEGACY_SECRET,
        b"sftp:old:/r",
        labels={
            "coop.backup": "repository",
            "coop.backup.repository.kind": "url",
            "coop.backup.repository.shown": "sftp:old:/r",
        },
    )
    assert repository(engine).shown == "sftp:old:/r"  # a setting stored by the first version is read

    where = parse_location("s", SFTP)
    creds = load_credentials("s", where, ssh_key=keys / "id", known_hosts=keys / "known_hosts")
    done = set_repository(engine, "s", where, creds)
    repo = done.repository
    assert repo.kind == "url" and repo.ssh and repo.shown == "sftp://vault:2222//srv/restic" and not done.kept
    assert [s.file_name for s in repo.secrets] == ["restic-repository", "restic-ssh-key", "restic-known-hosts"]
    names = {s["Spec"]["Name"] for s in engine.secrets()}
    assert LEGACY_SECRET not in names and len(names) == 3  # the old one removed once the new one was whole
    assert engine.secret_values[repo.secrets[0].secret_name] == SFTP.encode()

    # Another URL with variables: the ssh parts go, the new ones come.
    s3 = parse_location("s", "s3:https://s3.example.org/b")
    done = set_repository(engine, "s", s3, Credentials(env={"AWS_ACCESS_KEY_ID": "AKIA1"}))
    assert [s.file_name for s in done.repository.secrets] == ["restic-repository", "restic-env"]
    assert done.repository.env_keys == ("AWS_ACCESS_KEY_ID",) and len(engine.secrets()) == 2
    job = Job(
        kind="backup", app="a", image="i", script="true", secrets=done.repository.secrets, env=done.repository.env()
    )
    spec = str(job.service_spec("coop-backup-x"))
    assert "AKIA1" not in spec and "s3.example.org" not in spec  # both only in secrets

    # A named setting lives beside the default one, and does not change it.
    set_repository(engine, "s", parse_location("s", "volume:copy"), setting="offsite")
    assert repository(engine, "offsite").volume == "copy" and repository(engine).kind == "url"
    with pytest.raises(NotFound, match="no backup repository setting 'nosuch'"):
        repository(engine, "nosuch")


def test_a_secret_a_running_job_holds_is_left_to_it(keys):
    engine = FakeEngine()
    first = set_repository(engine, "s", parse_location("s", "s3:https://a/b"), Credentials(env={"K": "1"})).repository
    held = first.secrets[0].secret_id
    original = engine.secret_remove

    def remove(ident: str) -> None:
        if ident == held:
            from coopcloud.errors import EngineError

            raise EngineError("secret is in use by service coop-backup-x")
        original(ident)

    engine.secret_remove = remove  # type: ignore[method-assign]
    done = set_repository(engine, "s", parse_location("s", "s3:https://c/d"))
    assert done.kept == (first.secrets[0].secret_name,) and done.repository.shown == "s3:https://c/d"
    engine.secret_remove = original  # type: ignore[method-assign]
    done = set_repository(engine, "s", parse_location("s", "volume:v"))  # the next change removes it
    assert not done.kept and len(engine.secrets()) == 1


def test_the_environment_picks_a_volume_or_a_named_setting_never_a_url():
    from coopcloud.ops.backup.repository import for_command

    engine = FakeEngine()
    set_repository(engine, "s", parse_location("s", "volume:copy"), setting="t1")

    def pick(value: str):
        return for_command(Settings.from_environ({"COOP_BACKUP_REPOSITORY": value}), engine)

    assert pick("volume:mine").volume == "mine" and pick("repo:t1").volume == "copy"
    with pytest.raises(UsageError, match="only volume:NAME or repo:NAME"):
        pick("sftp:u@h:/r")


def test_the_job_writes_an_ssh_config_of_paths_that_checks_host_keys():
    script = scripts.snapshots_script(["app=a"])
    assert "StrictHostKeyChecking yes" in script and "UserKnownHostsFile /run/secrets/restic-known-hosts" in script
    assert "StrictHostKeyChecking no" not in script and "accept-new" not in script
    assert ". /run/secrets/restic-env" in script


def test_names_with_a_trailing_newline_are_refused():
    from coopcloud.ops.backup.repository import check_setting_name

    with pytest.raises(UsageError, match="not a setting name"):
        check_setting_name("s", "offsite\n")
    with pytest.raises(UsageError, match="not a volume name"):
        parse_location("s", "volume:a\nb")


def test_every_job_script_is_valid_shell():
    from coopcloud.ops.backup.labels import backup_spec

    spec = backup_spec("a", "a", [])
    for script in (
        scripts.backup_script(spec, host="a", tags=["app=a"], run_tag="run=x"),
        scripts.snapshots_script(["app=a"]),
        scripts.restore_job_script(None, "a b", ["/backup/db/dumps", "/backup/a/b c"], "t0", wait_for_plan=True),
        scripts.restore_swap_script([scripts.RestoreTarget("/backup/db/dumps", ("a b", "x"))], "t0"),
        scripts.restore_swap_script([scripts.RestoreTarget("/backup/app/files")], "t0", discard=True),
        scripts.verify_script("abc"),
        scripts.download_script("abc", "/r"),
        scripts.JOB_COMMAND,
    ):
        p = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr


def test_a_failed_run_whose_snapshot_cannot_be_forgotten_says_so(tmp_path):
    """restic saved a snapshot and failed (exit 3: a file could not be read), and restic forget is refused (another
    app's backup holds the repository): the script must say the snapshot stays, never end as if it were gone."""
    from coopcloud.ops.backup.labels import backup_spec

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "restic").write_text("""#!/bin/sh
case "$1" in
  backup) echo '{"message_type":"summary","snapshot_id":"abc123"}'; echo 'error: read /backup/x: input/output error' >&2; exit 3;;
  snapshots) echo '[{"id":"abc123","short_id":"abc123"}]';;
  forget) echo >>"$FORGET_LOG"; echo 'unable to create lock in backend: repository is already locked by PID 7' >&2; exit 1;;
esac
""")
    (bin_dir / "sleep").write_text("#!/bin/sh\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "config").write_text("x")
    script = scripts.backup_script(backup_spec("a", "a", []), host="a", tags=["app=a"], run_tag="run=x")
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "RESTIC_REPOSITORY": str(repo),
        "HOME": str(tmp_path),
        "FORGET_LOG": str(tmp_path / "forgets"),
    }
    p = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == scripts.SNAPSHOT_KEPT, p
    assert "coop-error: the run failed (restic exit code 3) and the snapshot it saved could not be removed" in p.stderr
    assert "restic forget abc123" in p.stderr
    assert len((tmp_path / "forgets").read_text().splitlines()) == scripts.FORGET_TRIES  # tried again meanwhile
