"""Build real recipe git repositories for tests (unit and integration).

    from recipe_factory import make_recipe_repo, recipe_files

    repo = make_recipe_repo(
        tmp_path / "demo",
        recipe_files("demo"),                        # the first commit
        tags=[
            ("1.0.0+1.27.1", {}),                    # annotated tag on the first commit
            ("1.1.0+1.27.2", {"compose.yml": ...,    # a commit with these changes, then the tag
                              "release/1.1.0+1.27.2": "notes"}),
            ("junk", {}, False),                     # a lightweight tag
        ],
    )

`files`/changes map a path to str or bytes content; None deletes the path.
Every git call gets its identity, dates and an empty global config from the
environment, so the tests never depend on (nor touch) the user's git config,
and commit ids are reproducible.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

FileMap = Mapping[str, "str | bytes | None"]
_clock = [1_700_000_000]


def git_env() -> dict[str, str]:
    _clock[0] += 60
    date = f"@{_clock[0]} +0000"
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME="Coop Test",
        GIT_AUTHOR_EMAIL="test@coop.invalid",
        GIT_COMMITTER_NAME="Coop Test",
        GIT_COMMITTER_EMAIL="test@coop.invalid",
        GIT_AUTHOR_DATE=date,
        GIT_COMMITTER_DATE=date,
        GIT_CONFIG_GLOBAL=os.devnull,  # ignore ~/.gitconfig (signing, hooks, templates...)
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
    )
    return env


def git(path: Path, *args: str) -> str:
    """Run git in `path` with the test identity; returns stdout."""
    proc = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, env=git_env())
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def write_files(path: Path, files: FileMap) -> None:
    """Write (or, for None, delete) files under `path`, creating directories."""
    for rel, content in files.items():
        target = path / rel
        if content is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


def commit(path: Path, changes: FileMap, message: str) -> str:
    """Apply `changes`, commit everything (allowing an empty commit); returns the commit id."""
    write_files(path, changes)
    git(path, "add", "-A")
    git(path, "commit", "-q", "--allow-empty", "--no-verify", "-m", message)
    return git(path, "rev-parse", "HEAD").strip()


def tag(path: Path, name: str, annotated: bool = True, rev: str = "HEAD") -> None:
    if annotated:
        git(path, "tag", "-a", name, "-m", f"Release {name}", rev)
    else:
        git(path, "tag", name, rev)


def make_recipe_repo(
    path: Path,
    files: FileMap,
    tags: Sequence[tuple] = (),
    *,
    branch: str = "main",
    origin: str | None = None,
) -> Path:
    """Create a git repo at `path`: one commit of `files`, then per tag entry
    ``(name, changes[, annotated=True])`` a commit of `changes` (skipped when
    empty: the tag then lands on the previous commit) and the tag. Returns `path`.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    if origin:
        git(path, "remote", "add", "origin", origin)
    commit(path, files, "Initial recipe")
    for entry in tags:
        name, changes = entry[0], entry[1]
        annotated = entry[2] if len(entry) > 2 else True
        if changes:
            commit(path, changes, f"chore: publish {name}")
        tag(path, name, annotated=annotated)
    return path


def recipe_files(
    name: str = "demo",
    image: str = "nginx",
    image_tag: str = "1.27.2",
    *,
    extra: FileMap | None = None,
) -> dict[str, str | bytes | None]:
    """A small, valid Co-op Cloud recipe: compose.yml, .env.sample, abra.sh, README.md, a config."""
    files: dict[str, str | bytes | None] = {
        "compose.yml": f"""\
version: "3.8"
services:
  app:
    image: {image}:{image_tag}
    networks: [proxy]
    configs:
      - source: nginx_conf
        target: /etc/nginx/conf.d/default.conf
    secrets: [db_password]
    deploy:
      labels:
        - "traefik.enable=true"
        - "traefik.http.routers.${{STACK_NAME}}.rule=Host(`${{DOMAIN}}`)"
        - "coop-cloud.${{STACK_NAME}}.version=0.1.0+{image_tag}"
    healthcheck:
      test: ["CMD", "true"]
configs:
  nginx_conf:
    name: ${{STACK_NAME}}_nginx_conf_${{NGINX_CONF_VERSION}}
    file: nginx.conf
secrets:
  db_password:
    external: true
    name: ${{STACK_NAME}}_db_password_${{SECRET_DB_PASSWORD_VERSION}}
networks:
  proxy:
    external: true
""",
        "compose.smtp.yml": """\
version: "3.8"
services:
  app:
    environment:
      - SMTP_HOST
""",
        ".env.sample": f"""\
TYPE={name}

DOMAIN={name}.example.com
LETS_ENCRYPT_ENV=production

SECRET_DB_PASSWORD_VERSION=v1 # length=32

#COMPOSE_FILE="$COMPOSE_FILE:compose.smtp.yml"
#SMTP_HOST=mail.example.com
""",
        "abra.sh": "export NGINX_CONF_VERSION=v1\n\nfoo() {\n  echo hi\n}\n",
        "nginx.conf": "server { listen 80; }\n",
        "README.md": f"""\
# {name}

<!-- metadata -->
* **Category**: Apps
* **Status**: 2, beta
* **Image**: [`{image}`](https://hub.docker.com/_/{image}), 4, upstream
* **Healthcheck**: Yes
* **Backups**: No
* **Email**: N/A
* **Tests**: No
* **SSO**: No
<!-- endmetadata -->
""",
    }
    files.update(extra or {})
    return files
