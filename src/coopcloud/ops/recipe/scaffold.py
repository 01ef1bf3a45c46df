"""`coop recipe new`: write a new recipe that passes `coop recipe lint`, as a fresh git repository.

The recipe is Co-op Cloud's usual shape (what ``abra recipe new`` copies from
coop-cloud/example): an ``app`` service on a pinned image behind traefik,
a healthcheck, a versioned config (its version exported by ``abra.sh``), a
versioned secret with a generation hint, ``.env.sample``, a README metadata
block and a ``release/`` folder for release notes. It is committed once, so
``coop recipe lint``, ``recipe release`` and ``app new`` work on it straight away.

    >>> scaffold("myapp", Path("~/.abra/recipes/myapp").expanduser())   # doctest: +SKIP
    Scaffolded(name='myapp', path=PosixPath('/home/me/.abra/recipes/myapp'), files=[...], commit='3f2a...')
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from coopcloud.errors import Conflict, UsageError
from coopcloud.gitops.worktree import init_and_commit
from coopcloud.rawdata import JSONDict

# The example image: the official nginx image, pinned to a release (R003/R004/R005/R101 pass).
IMAGE, IMAGE_TAG = "nginx", "1.27.2"
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True)
class Scaffolded:
    name: str
    path: Path
    files: list[str]
    commit: str

    def to_json(self) -> JSONDict:
        return {"recipe": self.name, "path": str(self.path), "files": self.files, "commit": self.commit}


# One unit on purpose: the new recipe's file templates, read top to bottom as the files they become.
def recipe_files(name: str) -> dict[str, str]:
    """The files of a new recipe called `name` (paths relative to its root)."""
    compose = f"""\
---
version: "3.8"

services:
  app:
    image: {IMAGE}:{IMAGE_TAG}
    networks:
      - proxy
    configs:
      - source: nginx_conf
        target: /etc/nginx/conf.d/default.conf
    secrets:
      - db_password
    environment:
      # Apps read secrets from files; never put a password in the environment itself.
      - DB_PASSWORD_FILE=/run/secrets/db_password
    healthcheck:
      test: ["CMD", "curl", "-fsS", "http://localhost/"]
      interval: 30s
      timeout: 10s
      retries: 10
      start_period: 1m
    deploy:
      restart_policy:
        condition: on-failure
      update_config:
        failure_action: rollback
        order: start-first
      labels:
        - "traefik.enable=true"
        - "traefik.http.services.${{STACK_NAME}}.loadbalancer.server.port=80"
        - "traefik.http.routers.${{STACK_NAME}}.rule=Host(`${{DOMAIN}}`${{EXTRA_DOMAINS}})"
        - "traefik.http.routers.${{STACK_NAME}}.entrypoints=web-secure"
        - "traefik.http.routers.${{STACK_NAME}}.tls.certresolver=${{LETS_ENCRYPT_ENV}}"
        # Written by `coop recipe release` / `coop recipe sync`.
        - "coop-cloud.${{STACK_NAME}}.version="

networks:
  proxy:
    external: true

configs:
  nginx_conf:
    # Configs cannot change once deployed: bump NGINX_CONF_VERSION in abra.sh whenever nginx.conf changes.
    name: ${{STACK_NAME}}_nginx_conf_${{NGINX_CONF_VERSION}}
    file: nginx.conf

secrets:
  db_password:
    external: true
    name: ${{STACK_NAME}}_db_password_${{SECRET_DB_PASSWORD_VERSION}}
"""
    env_sample = f"""\
TYPE={name}

DOMAIN={name}.example.com

## Domain aliases
#EXTRA_DOMAINS=', `www.{name}.example.com`'

LETS_ENCRYPT_ENV=production

# Secrets: `coop app secret generate` creates them (hints: length=, charset=, generate=false).
SECRET_DB_PASSWORD_VERSION=v1 # length=32
"""
    abra_sh = """\
# Versions of the configs this recipe vendors: bump one whenever its file changes.
export NGINX_CONF_VERSION=v1
"""
    nginx_conf = """\
server {
    listen 80;
    server_name _;

    location / {
        root /usr/share/nginx/html;
        index index.html;
    }
}
"""
    readme = f"""\
# {name}

> One line about what {name} is.

<!-- metadata -->

* **Category**: Apps
* **Status**: 0
* **Image**: [`{IMAGE}`](https://hub.docker.com/_/{IMAGE}), 4, upstream
* **Healthcheck**: Yes
* **Backups**: No
* **Email**: No
* **Tests**: No
* **SSO**: No

<!-- endmetadata -->

## Quick start

* `coop app new {name}`
* `coop app config <app-name>`
* `coop app secret generate <app-name> --all`
* `coop app deploy <app-name>`

## Maintaining

* `coop recipe lint {name}` before every release
* `coop recipe upgrade {name}` to find newer image tags, then `coop recipe release {name}`
* release notes go in `release/<version>`
"""
    return {
        "compose.yml": compose,
        ".env.sample": env_sample,
        "abra.sh": abra_sh,
        "nginx.conf": nginx_conf,
        "README.md": readme,
        # git keeps no empty folders; release notes land here as release/<version>
        "release/.gitkeep": "",
    }


def check_recipe_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name or ""):
        raise UsageError(
            f"recipe name {name!r} is not valid",
            hint="use lowercase letters, digits, '-' and '_', starting with a letter or digit (e.g. my-app)",
        )
    return name


def scaffold(name: str, path: Path, *, environ: Mapping[str, str] | None = None) -> Scaffolded:
    """Write recipe `name` into the new folder `path`, `git init` it and commit.

    Refuses an existing `path` (Conflict). The commit uses the git identity of
    `environ` (GIT_AUTHOR_NAME..., or git config); when there is none it is
    made as ``coop <coop@localhost>``. On failure the half-made folder is removed.
    """
    check_recipe_name(name)
    path = Path(path).expanduser()
    if path.exists() or path.is_symlink():
        raise Conflict(f"{path} already exists", hint="choose another name, or another folder with --dir")
    files = recipe_files(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir()
    try:
        for rel, text in files.items():
            target = path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        commit = init_and_commit(
            path, f"chore: new recipe {name} (coop recipe new)", dict(os.environ if environ is None else environ)
        )
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return Scaffolded(name, path, sorted(files), commit)
