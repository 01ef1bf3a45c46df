"""An app's secrets: Docker secrets named `<stack>_<name>_<version>`, as Co-op Cloud names them.

The app env declares them (`SECRET_DB_PASSWORD_VERSION=v1 # length=32`); the
recipe's `.env.sample` supplies hints the app env lacks. Values exist only on
the server and, once, in what `generate` returns to the caller to show. They
are never logged, never part of an exception message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from coopcloud.domain.app import AppConfig
from coopcloud.domain.envfile import EnvFile, SecretSpec, secret_specs
from coopcloud.engine import views
from coopcloud.errors import Conflict, EngineConflict, EngineError, InvalidError, NotFound
from coopcloud.ops.trail.mutation import mutation
from coopcloud.rawdata import JSONDict

if TYPE_CHECKING:
    from coopcloud.engine.protocol import Engine

NAME_LIMIT = 64  # Docker refuses longer secret names
SECRET_LABEL = "coop.stack"  # not com.docker.stack.namespace: `docker stack rm` would delete them


@dataclass(frozen=True)
class AppSecret:
    name: str
    version: str
    remote: str
    length: int | None
    charset: str | None
    generate: bool
    present: bool | None = None  # None: not checked

    def to_json(self) -> JSONDict:
        return {
            "name": self.name,
            "version": self.version,
            "remote_name": self.remote,
            "present": self.present,
            "generate": self.generate,
            "length": self.length,
            "charset": self.charset,
        }


def remote_name(stack: str, name: str, version: str) -> str:
    return f"{stack}_{name}_{version}"


def check_name_length(app: str, remote: str) -> None:
    if len(remote) > NAME_LIMIT:
        raise InvalidError(
            f"app {app}: secret name {remote} is {len(remote)} characters, over Docker's limit of {NAME_LIMIT}",
            hint="use a shorter app name (domain) or secret name",
        )


def declared(cfg: AppConfig, sample: str | None, abra_versions: dict[str, str] | None = None) -> list[AppSecret]:
    """The app's secrets from its env, with hints from the recipe's `.env.sample` where the env has none."""
    sample_hints: dict[str, SecretSpec] = {}
    if sample:
        for spec in secret_specs(EnvFile.parse(sample, name=".env.sample"), abra_versions):
            sample_hints[spec.name] = spec
    out = []
    for spec in secret_specs(cfg.env, abra_versions):
        hint = sample_hints.get(spec.name)
        length, charset, generate = spec.length, spec.charset, spec.generate
        line = cfg.env.line_of(spec.key)
        if hint is not None and not (line and line.comment):
            length, charset, generate = hint.length, hint.charset, hint.generate
        out.append(
            AppSecret(
                spec.name,
                spec.version,
                remote_name(cfg.ref.stack_name, spec.name, spec.version),
                length,
                charset,
                generate,
            )
        )
    return out


def with_presence(client: Engine, secrets: list[AppSecret]) -> list[AppSecret]:
    names = {s.name for s in views.secrets(client)}
    return [AppSecret(**{**s.__dict__, "present": s.remote in names}) for s in secrets]


def select(secrets: list[AppSecret], app: str, stack: str, name: str | None, version: str | None) -> list[AppSecret]:
    if name is None:
        return secrets
    chosen = [s for s in secrets if s.name == name]
    if not chosen:
        known = ", ".join(s.name for s in secrets) or "none"
        raise NotFound(
            f"app {app} declares no secret {name} (declared: {known})", hint=f"see: coop app secret ls {app}"
        )
    if version is not None:
        chosen = [
            AppSecret(**{**s.__dict__, "version": version, "remote": remote_name(stack, s.name, version)})
            for s in chosen
        ]
    return chosen


class Generated(NamedTuple):
    """A secret `generate` went through, and the value it made (None: it was there, or is not generated).
    The value is shown once, to the operator who asked; never logged."""

    secret: AppSecret
    value: str | None

    def to_json(self) -> JSONDict:
        return {**self.secret.to_json(), "value": self.value}


@mutation
def create(client: Engine, app: str, stack: str, secret: AppSecret, value: str) -> AppSecret:
    """Store `value` as the secret on the server; returns the secret as it now is (present)."""
    check_name_length(app, secret.remote)
    try:
        client.secret_create(secret.remote, value.encode("utf-8"), labels={SECRET_LABEL: stack})
    except EngineConflict:
        raise Conflict(
            f"app {app}: secret {secret.name} ({secret.version}) already exists on the server as {secret.remote}",
            hint=f"bump SECRET_{secret.name.upper()}_VERSION in the app env to store a new value, "
            f"or run: coop app secret rm {app} {secret.name}",
        ) from None
    return AppSecret(**{**secret.__dict__, "present": True})


@mutation
def generate(client: Engine, app: str, stack: str, secrets: Iterable[AppSecret]) -> list[Generated]:
    """Generate and store each secret that is missing. Returns (secret, value) — value None when skipped.

    Every name is checked before the first one is created, so a bad name changes nothing.
    """
    from coopcloud.ops.app.secrets_gen import generate as make_value

    todo = list(secrets)
    for s in todo:
        check_name_length(app, s.remote)
    existing = {x.name for x in views.secrets(client)}
    out: list[Generated] = []
    for s in todo:
        if not s.generate or s.remote in existing:
            out.append(Generated(AppSecret(**{**s.__dict__, "present": s.remote in existing}), None))
            continue
        value = make_value(s.length, s.charset)
        out.append(Generated(create(client, app, stack, s, value), value))
    return out


def removable(
    client: Engine, app: str, stack: str, secrets: Iterable[AppSecret], *, all_versions: bool = False
) -> list[str]:
    """The remote names `remove` would delete (read-only); refused (exit 10) while a service uses one of
    them, so nobody is asked about a removal that cannot happen."""
    from coopcloud.swarm import service_spec

    wanted = list(secrets)
    names = set()
    for n in (s.name for s in views.secrets(client)):
        for w in wanted:
            if n == w.remote or (
                all_versions
                and n.startswith(f"{stack}_{w.name}_")
                and n[len(stack) + len(w.name) + 2 :].startswith("v")
            ):
                names.add(n)
    for svc in views.services(client):
        used = names & {ref.get("SecretName") for ref in service_spec.refs(svc.spec, "Secrets")}
        if used:
            raise Conflict(
                f"app {app}: secret {sorted(used)[0]} is in use by service {svc.name}",
                hint=f"run: coop app undeploy {app}",
            )
    return sorted(names)


@mutation
def remove(
    client: Engine, app: str, stack: str, secrets: Iterable[AppSecret], *, all_versions: bool = False
) -> list[str]:
    """Remove the app's secrets from the server. Returns the removed names."""
    names = removable(client, app, stack, secrets, all_versions=all_versions)
    removed = []
    for n in sorted(set(names)):
        try:
            client.secret_remove(n)
        except EngineError as exc:
            if "in use" in str(exc):
                raise Conflict(
                    f"app {app}: secret {n} is in use by a running service", hint=f"run: coop app undeploy {app}"
                ) from None
            raise
        removed.append(n)
    return removed
