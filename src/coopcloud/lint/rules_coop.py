"""coop's own rules: R000 (the recipe renders) and R100 on."""

from __future__ import annotations

import re
from collections.abc import Iterator

from coopcloud.domain.imagetag import split_image
from coopcloud.lint.context import PROVIDED_VARS, LintContext
from coopcloud.lint.registry import ERROR, WARNING, Issue, Skip, rule
from coopcloud.lint.rules_abra import config_version_vars
from coopcloud.lint.util import env_items, strings, var_refs
from coopcloud.rawdata import as_map, get_list, get_map, get_str

# Channel tags that move to new releases (`latest` is R004's).
FLOATING_TAGS = frozenset({"stable", "lts", "current", "mainline", "release", "production", "prod"})
# A major version alone, maybe with a variant suffix: 16, v2, 17-alpine, 20-bookworm.
MAJOR_ONLY_TAG = re.compile(r"[vV]?\d+(?:-[A-Za-z][0-9A-Za-z._-]*)?")
# Keys whose value is a credential; matched at the end of the key, case-insensitively.
SECRET_KEY_RE = re.compile(
    r"(password|passwd|passphrase|pass|pwd|_pw|secret|token|api_?key|private_?key|access_?key|secret_?key|key_base|credentials?)$",
    re.I,
)
NOT_SECRET_KEYS = frozenset({"PWD", "OLDPWD", "BYPASS", "COMPASS"})  # the shell's working directory, words
NOT_SECRET_SUFFIXES = ("_FILE", "_VERSION", "_PATH", "_LENGTH", "_URL", "BYPASS")
NOT_SECRET_VALUES = frozenset({"true", "false", "yes", "no", "on", "off", "0", "1", "none", "null"})


@rule("R000", ERROR, "the recipe renders", fix="fix the file named, at the line and key the message gives")
def renders(ctx: LintContext) -> Iterator[Issue]:
    """The recipe renders: with its ``.env.sample``, the compose files it
    selects load, interpolate, validate and convert to Swarm specs, and so does
    every ``compose.*.yml`` overlay on top of them (the same path ``app deploy``
    takes). Compose files that are not YAML fail here too.
    """
    if not ctx.compose_files:
        yield Issue("there is no compose.yml", file="compose.yml", fix="add a compose.yml with an app service")
        return
    rendered = {f for failure in ctx.rendering.failures for f in failure.files} | set(ctx.rendering.files)
    for fname, why in sorted(ctx.raw_errors.items()):
        if fname not in rendered:  # never got to render (the base failed first): say why it would not
            yield Issue(f"{fname} is not valid YAML: {why}", file=fname)
    for failure in ctx.rendering.failures:
        files = ":".join(failure.files)
        if failure.file is None:
            where = (
                f"COMPOSE_FILE in {ctx.env_sample_path}"
                if "COMPOSE_FILE" in ctx.sample_values
                else "the default compose file"
            )
            yield Issue(f"{files} ({where}) does not render: {failure.error}", file=failure.files[-1])
        else:
            yield Issue(
                f"{failure.file} does not render on top of {':'.join(failure.files[:-1])}: {failure.error}",
                file=failure.file,
            )


@rule("R100", ERROR, "changed configs have a new version", fix="bump the config's _VERSION in abra.sh (v1 -> v2)")
def config_changed_without_bump(ctx: LintContext) -> Iterator[Issue]:
    """A config file that changed since the last release has a new name.

    Swarm configs are immutable: deploying a changed file under the same name
    (same ``*_VERSION``) fails with "only updates to Labels are allowed". coop
    renders the last release (from its git tag) and the working tree; a
    config whose Docker name is the same in both but whose file differs fails.
    Skipped without a git repository or a release.
    """
    old = ctx.release_context
    last = ctx.last_release
    if last is None:  # release_context skipped already
        raise Skip("the recipe has no release")
    tag = last.tag
    now_configs = get_map(ctx.model, "configs")
    if old.rendering.model is None:
        raise Skip(f"release {tag} does not render")
    old_configs = get_map(old.rendering.model, "configs")
    for key in sorted(now_configs):
        cfg, before = as_map(now_configs[key], key), as_map(old_configs.get(key), key)
        if not before or cfg.get("external") or not get_str(cfg, "file") or not get_str(before, "file"):
            continue
        if cfg.get("name") != before.get("name"):
            continue  # bumped (or renamed): a new config object
        path, old_path = ctx.relative(get_str(cfg, "file")), old.relative(get_str(before, "file"))
        try:
            changed = ctx.recipe.read(path) != old.recipe.read(old_path)
        except Exception:
            continue
        if changed:
            variables = _version_vars_of(ctx, key)
            bump = f"bump {' or '.join(variables)} in abra.sh" if variables else "give the config a versioned name"
            yield Issue(
                f"config {key}: {path} changed since release {tag} but its name {cfg.get('name')} did not",
                fix=bump,
                file=path,
                key=f"configs.{key}",
            )


def _version_vars_of(ctx: LintContext, key: str) -> list[str]:
    for doc in ctx.raw.values():
        configs = doc.get("configs")
        cfg = configs.get(key) if isinstance(configs, dict) else None
        if isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
            return [ref.name for ref in config_version_vars(cfg["name"])]
    return []


@rule(
    "R101", WARNING, "image tags do not float", fix="pin the exact release, e.g. postgres:16.4 rather than postgres:16"
)
def floating_tags(ctx: LintContext) -> Iterator[Issue]:
    """No image uses a tag that moves to new releases: a channel (``stable``,
    ``lts``, ``mainline``...) or a major version alone (``16``, ``17-alpine``).
    The same recipe version would then deploy different software on different
    days, and ``recipe upgrade`` cannot tell what changed. ``latest`` is R004's.
    ``major.minor`` tags (``10.6``) are the usual practice and pass.
    """
    for name, svc in sorted(ctx.services.items()):
        image = svc.get("image")
        if not isinstance(image, str):
            continue
        ref = split_image(image)
        if not ref.tag or ref.digest:
            continue
        if ref.tag.lower() in FLOATING_TAGS or MAJOR_ONLY_TAG.fullmatch(ref.tag):
            yield Issue(f"service {name}: image {image}: tag {ref.tag!r} floats", service=name, key="image")


def _looks_secret(key: str, value: str | None) -> bool:
    """A credential-named key with a literal, non-boolean value."""
    value = (value or "").strip().strip("\"'")
    if not value or "$" in value or value.lower() in NOT_SECRET_VALUES:
        return False
    upper = key.upper()
    return bool(SECRET_KEY_RE.search(key)) and upper not in NOT_SECRET_KEYS and not upper.endswith(NOT_SECRET_SUFFIXES)


@rule(
    "R102",
    WARNING,
    "no secrets in plain environment variables",
    fix="use a Docker secret (SECRET_<NAME>_VERSION in .env.sample, <NAME>_FILE=/run/secrets/<name>)",
)
def plain_env_secrets(ctx: LintContext) -> Iterator[Issue]:
    """No credential is written in plain text: an environment variable whose
    name says password, secret, token or key (``DB_PASSWORD=``,
    ``API_TOKEN=``) with a literal value, in a compose file's ``environment:``
    or an active line of ``.env.sample``. Anyone who reads the recipe (or
    ``docker service inspect``) reads it. Values taken from a variable
    (``${X}``) and ``*_FILE`` / ``SECRET_*_VERSION`` keys pass.
    """
    for fname, sname, svc in ctx.raw_services():
        for key, value in env_items(svc.get("environment")):
            if _looks_secret(key, value):
                yield Issue(
                    f"{fname}: service {sname}: {key} is set to a literal value",
                    file=fname,
                    service=sname,
                    key=f"environment.{key}",
                )
    if ctx.env_sample is not None:
        for line in ctx.env_sample.lines:
            if line.key and _looks_secret(line.key, line.literal):
                yield Issue(
                    f"{ctx.env_sample_path}:{line.lineno}: {line.key} has a value",
                    file=ctx.env_sample_path,
                    key=line.key,
                    fix="leave it empty in the sample, or use a Docker secret",
                )


@rule(
    "R103",
    WARNING,
    "services with volumes have backup labels",
    fix='label the service "backupbot.backup=true" (or "backupbot.backup=false" if its data needs no backup)',
)
def backup_labels(ctx: LintContext) -> Iterator[Issue]:
    """A service that mounts a named volume says whether it is backed up: the
    deploy label ``backupbot.backup`` (Co-op Cloud's backupbot spec, DESIGN.md
    §3.8). Without it, ``app backup`` silently skips that data. Bind mounts
    and tmpfs are not app data and pass.
    """
    for name, svc in sorted(ctx.services.items()):
        volumes = [
            str(v["source"])
            for v in get_list(svc, "volumes")
            if isinstance(v, dict) and v.get("type") == "volume" and v.get("source")
        ]
        if volumes and "backupbot.backup" not in ctx.deploy_labels(name):
            yield Issue(
                f"service {name} has volumes ({', '.join(volumes)}) but no backupbot.backup label",
                service=name,
                key="deploy.labels",
            )


@rule(
    "R104",
    WARNING,
    "variables the compose files need are in .env.sample",
    fix="add the variable to .env.sample (commented out if it is optional: #NAME=value)",
)
def env_vars_documented(ctx: LintContext) -> Iterator[Issue]:
    """Every variable a compose file interpolates without a default
    (``${NAME}``, ``$NAME``, ``${NAME:?...}``) is in ``.env.sample``, assigned or
    commented out, unless coop provides it (``STACK_NAME``, ``DOMAIN``, the
    ``*_VERSION`` exports of abra.sh). Otherwise operators learn about it when
    it renders as an empty string.
    """
    known = set(ctx.sample_keys) | set(PROVIDED_VARS) | set(ctx.abra_versions)
    seen: set[tuple[str, str]] = set()
    for fname, doc in ctx.raw.items():
        for path, text in strings(doc):
            for ref in var_refs(text):
                if ref.default is not None or ref.name in known or (fname, ref.name) in seen:
                    continue
                seen.add((fname, ref.name))
                yield Issue(
                    f"{fname} uses ${{{ref.name}}}, which .env.sample does not mention",
                    file=fname,
                    key=".".join(str(p) for p in path),
                )


@rule(
    "R105",
    WARNING,
    "config names carry a version",
    fix="name it ${STACK_NAME}_<name>_${<NAME>_VERSION} and export <NAME>_VERSION=v1 in abra.sh",
)
def config_names_versioned(ctx: LintContext) -> Iterator[Issue]:
    """Every config made from a file has a ``name:`` with a ``*_VERSION``
    variable. Swarm configs cannot change: without a version in the name, the
    first change to the file makes every later deploy fail.
    """
    for fname, doc in ctx.raw.items():
        configs = doc.get("configs")
        if not isinstance(configs, dict):
            continue
        for key, cfg in configs.items():
            if not isinstance(cfg, dict) or cfg.get("external") or not cfg.get("file"):
                continue
            name = cfg.get("name")
            if not isinstance(name, str) or not config_version_vars(name):
                yield Issue(
                    f"config {key} ({fname}) has no *_VERSION in its name", file=fname, key=f"configs.{key}.name"
                )


@rule("R106", WARNING, ".env.sample is at the recipe root", fix="move it to the root of the recipe")
def env_sample_at_root(ctx: LintContext) -> Iterator[Issue]:
    """The sample env is ``.env.sample`` at the recipe root. coop also finds
    one in a sub-folder, but abra (and so half of your operators) does not.
    """
    if ctx.env_sample_path and ctx.env_sample_path != ".env.sample":
        yield Issue(f"the sample env is {ctx.env_sample_path}, not .env.sample at the root", file=ctx.env_sample_path)


@rule(
    "R107",
    WARNING,
    "release tags are <semver>+<image-tag>",
    fix="tag releases as <semver>+<main image tag>, e.g. 1.2.0+1.27.2 (coop recipe release does)",
)
def release_tag_format(ctx: LintContext) -> Iterator[Issue]:
    """Annotated tags are versions of the form ``<semver>+<main-image-tag>``
    (``1.7.1+1.27.2``): no ``v`` prefix, the ``+`` part present. Tolerated
    forms still deploy; a tag that is not a version at all is ignored.
    """
    annotated = {t.name for t in ctx.tags if t.annotated}
    for issue in ctx.tag_issues:
        if issue.kind in ("v-prefix", "no-image-tag") or (issue.kind == "malformed" and issue.tag in annotated):
            yield Issue(str(issue), key=issue.tag)


@rule(
    "R108",
    ERROR,
    "each version is tagged once",
    fix="delete all but one of the tags (git tag -d, git push --delete origin)",
)
def duplicate_versions(ctx: LintContext) -> Iterator[Issue]:
    """No two release tags have the same semver with different ``+`` parts
    (``1.0.0+1.27.1`` and ``1.0.0+1.27.2``): which one is newer is undefined,
    so upgrades and rollbacks cannot order them.
    """
    for issue in ctx.tag_issues:
        if issue.kind == "duplicate":
            yield Issue(str(issue), key=issue.tag)


@rule(
    "R109",
    WARNING,
    "bind mounts name paths on the server",
    fix="use a named volume, or an absolute path that exists on the server",
)
def relative_bind_mounts(ctx: LintContext) -> Iterator[Issue]:
    """A bind mount's source is an absolute path. ``docker stack deploy``
    (and so abra, and coop) makes a relative one (``./data:/data``, or
    ``~/data``) absolute against the recipe's folder (or the home folder) on
    the machine that runs the deploy — the operator's laptop — while the
    server mounts that path from its own disk, where it does not exist (the
    task fails to start) or is something else entirely.
    """
    for fname, service, svc in ctx.raw_services():
        volumes = svc.get("volumes")
        for i, vol in enumerate(volumes if isinstance(volumes, list) else []):
            if isinstance(vol, str):
                source = vol.split(":", 1)[0] if ":" in vol else ""
            elif isinstance(vol, dict) and vol.get("type") == "bind":
                source = str(vol.get("source") or "")
            else:
                continue
            if source.startswith((".", "~")) or (
                isinstance(vol, dict) and source and not source.startswith(("/", "$"))
            ):
                yield Issue(
                    f"service {service}: bind mount {source} is relative: it names a path on the machine that "
                    "deploys, not on the server",
                    file=fname,
                    service=service,
                    key=f"services.{service}.volumes.{i}",
                )
