"""An app: a deployed instance of a recipe, configured by ``servers/<server>/<name>.env``.

The name is normally the app's domain; its stack name is the name with
``.`` -> ``_`` (``cloud.example.org`` -> ``cloud_example_org``), as abra does.

The env names its recipe with ``RECIPE=`` (newer abra) or ``TYPE=`` (older),
optionally pinned to a version: ``TYPE=nextcloud:1.0.0+27.1``. When both are
present, ``RECIPE`` wins. ``COMPOSE_FILE`` is a colon list (default
``compose.yml``).

    >>> AppRef("srv1", "cloud.example.org").stack_name
    'cloud_example_org'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from coopcloud.domain.envfile import EnvFile, load
from coopcloud.domain.names import check_app_name, check_domain, recipe_name_problem
from coopcloud.errors import Conflict, EnvFileError, UsageError
from coopcloud.fsutil import write_atomic

DEFAULT_COMPOSE_FILE = "compose.yml"
# A server name becomes a folder name: no '/', no leading '.' (app names: domain/names.py).
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]*")


def check_name(kind: str, name: str) -> str:
    if not _NAME_RE.fullmatch(name or ""):
        raise UsageError(
            f"{kind} name {name!r} is not valid",
            hint="use letters, digits, '.', '-', '_', '@', ':', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class AppRef:
    server: str
    name: str

    def __post_init__(self) -> None:
        check_name("server", self.server)
        check_app_name(self.name)

    @property
    def stack_name(self) -> str:
        return stack_name(self.name)

    def env_path(self, servers_dir: Path) -> Path:
        """``<servers_dir>/<server>/<name>.env`` (servers_dir is `Settings.servers_dir`)."""
        return Path(servers_dir) / self.server / f"{self.name}.env"

    @classmethod
    def from_env_path(cls, path: Path) -> AppRef:
        path = Path(path)
        if path.suffix != ".env":
            raise UsageError(f"{path}: an app config is named <app>.env")
        return cls(server=path.parent.name, name=path.name[: -len(".env")])

    def __str__(self) -> str:
        return self.name


def stack_name(app_name: str) -> str:
    """The Docker stack an app deploys as (abra's rule): its name with dots as underscores,
    ``cloud.example.org`` -> ``cloud_example_org``. The one place this rule is written."""
    return app_name.replace(".", "_")


def docker_key(name: str) -> str:
    """A Docker object name as the engine compares it: case aside (``N1_example`` is ``n1_example``)."""
    return name.lower()


def twin(ref: AppRef, apps: Iterable[AppRef]) -> tuple[AppRef, str] | None:
    """Another app that Docker cannot tell from `ref`, and why: the same name but for case (app names
    are unique across servers), or on the same server the same stack name, case aside (``a.b``, ``a_b``
    and ``A_b`` are one stack: its services, secrets, lock and history would be shared)."""
    key, stack = docker_key(ref.name), docker_key(ref.stack_name)
    for other in apps:
        if other == ref:
            continue
        if docker_key(other.name) == key:
            return other, (
                f"app {other.name} (server {other.server}) has the same name but for case, "
                "and Docker compares names case-insensitively"
            )
        if other.server == ref.server and docker_key(other.stack_name) == stack:
            case = "" if other.stack_name == ref.stack_name else " (case aside, as Docker compares names)"
            return other, f"stack name {ref.stack_name} is already app {other.name}'s on server {ref.server}{case}"
    return None


def check_no_twin(ref: AppRef, apps: Iterable[AppRef], *, hint: str | None = None) -> None:
    """Conflict when another app env file is one Docker cannot tell from `ref` (see `twin`)."""
    found = twin(ref, apps)
    if found is not None:
        other, why = found
        raise Conflict(
            f"app {ref.name}: {why}",
            hint=hint
            or f"two apps cannot share a stack; choose another --name, or remove one of {other.name}, {ref.name}",
        )


def recipe_of(values: Mapping[str, str], where: str = "app env") -> tuple[str, str | None]:
    """``(recipe, pinned version or None)`` from ``RECIPE=`` or ``TYPE=`` (``name[:version]``)."""
    raw = (values.get("RECIPE") or values.get("TYPE") or "").strip()
    if not raw:
        raise EnvFileError(f"{where}: no RECIPE= (or TYPE=) line naming the recipe", hint="add e.g. TYPE=nextcloud")
    recipe, _, version = raw.partition(":")
    if not recipe:
        raise EnvFileError(f"{where}: RECIPE/TYPE {raw!r} has no recipe name")
    problem = recipe_name_problem(recipe)  # TYPE=../../etc must not name a folder outside recipes/
    if problem:
        raise EnvFileError(f"{where}: RECIPE/TYPE {recipe!r} is not a recipe name", hint=problem)
    return recipe, version or None


def pin_recipe(env: EnvFile, recipe: str, version: str | None) -> None:
    """The env pins its recipe's version: ``<KEY>=<recipe>:<version>`` (just the recipe when None) in
    the key the env uses (RECIPE, which newer abra writes, when it has it; else TYPE)."""
    key = "RECIPE" if env.get("RECIPE") else "TYPE"
    env.set(key, f"{recipe}:{version}" if version else recipe)


def compose_files(values: Mapping[str, str]) -> list[str]:
    """The ``COMPOSE_FILE`` colon list, empty entries and repeats dropped; default ``compose.yml``."""
    names = [n.strip() for n in (values.get("COMPOSE_FILE") or "").split(":")]
    names = list(dict.fromkeys(n for n in names if n))
    return names or [DEFAULT_COMPOSE_FILE]


def compose_env(app: AppRef, values: Mapping[str, str], abra_versions: Mapping[str, str]) -> dict[str, str]:
    """The variables compose files are interpolated with, lowest precedence first:

    1. the recipe's ``abra.sh`` ``export *_VERSION=`` values;
    2. the app env (`values`, already expanded, e.g. ``EnvFile.values(base=abra_versions)``) — it wins;
    3. ``DOMAIN`` = the app name when the env does not set it;
    4. ``STACK_NAME`` = the stack name, always: Docker object names depend on it,
       so an env's own STACK_NAME (nodex's sample sets one) is overridden, as abra does.

    The process environment is not consulted: the same inputs render the same everywhere.
    """
    env = dict(abra_versions)
    env.update(values)
    if not env.get("DOMAIN"):
        env["DOMAIN"] = app.name  # an app name is already safe in a label
    else:
        check_domain(env["DOMAIN"], EnvFileError, where=f"app {app.name}: DOMAIN: ")
    env["STACK_NAME"] = app.stack_name
    return env


@dataclass
class AppConfig:
    """An app and its parsed env file."""

    ref: AppRef
    env: EnvFile

    @classmethod
    def load(cls, ref: AppRef, servers_dir: Path) -> AppConfig:
        path = ref.env_path(servers_dir)
        return cls(ref, load(path, name=str(path)))

    def values(self, abra_versions: Mapping[str, str] | None = None) -> dict[str, str]:
        return self.env.values(base=abra_versions)

    @property
    def recipe(self) -> str:
        return recipe_of(self.env.values(), self.env.name)[0]

    @property
    def pinned_version(self) -> str | None:
        return recipe_of(self.env.values(), self.env.name)[1]

    def compose_files(self, abra_versions: Mapping[str, str] | None = None) -> list[str]:
        return compose_files(self.values(abra_versions))

    def compose_env(self, abra_versions: Mapping[str, str]) -> dict[str, str]:
        return compose_env(self.ref, self.values(abra_versions), abra_versions)

    def pin(self, version: str | None, *, recipe: str | None = None) -> None:
        """The env pins `version` (`pin_recipe`) of `recipe`, the env's own unless given."""
        pin_recipe(self.env, recipe or self.recipe, version)

    def save(self, servers_dir: Path) -> None:
        write_atomic(self.ref.env_path(servers_dir), self.env.render(), mode=0o600)  # it names secrets' versions
