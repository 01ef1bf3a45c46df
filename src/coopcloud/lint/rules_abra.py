"""Co-op Cloud's lint rules, R001–R016, with abra's IDs, meanings and levels.

Where abra's check is narrower than its meaning, the docstring says what coop
checks and why; the ID and level never change meaning (DESIGN.md §3.10).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from coopcloud.domain.imagetag import ImageParts, split_image
from coopcloud.lint.context import LintContext
from coopcloud.lint.registry import ERROR, WARNING, Issue, Skip, rule
from coopcloud.lint.util import VarRef, var_refs
from coopcloud.rawdata import get_map

EXPECTED_COMPOSE_VERSION = (3, 8)
UNSTABLE_TAG_WORDS = frozenset(
    {
        "latest",
        "nightly",
        "edge",
        "dev",
        "develop",
        "devel",
        "testing",
        "unstable",
        "main",
        "master",
        "snapshot",
        "canary",
        "alpha",
        "beta",
        "rc",
    }
)
# abra's tagcmp idea: numbers separated by dots, optional v, optional -suffix (`1.27.2`, `v2.4.8`, `17-3.5-alpine`)
SEMVER_LIKE_TAG = re.compile(r"[vV]?\d+(?:\.\d+)*(?:[-_+][0-9A-Za-z][0-9A-Za-z._-]*)?")
METADATA_FIELDS = ("category", "status", "image", "healthcheck", "backups", "email", "tests", "sso")
SECRET_NAME_MAX = 12  # abra's limit: leaves room in Docker's 64 characters for <stack>_<name>_<version>
DOCKER_NAME_MAX = 64


@rule("R001", WARNING, 'compose files declare version "3.8"', fix='put version: "3.8" at the top of every compose file')
def compose_version(ctx: LintContext) -> Iterator[Issue]:
    """Every compose file declares ``version: "3.8"`` (or a later 3.x).

    Co-op Cloud recipes target the 3.8 schema (Swarm's ``docker stack deploy``).
    A file without ``version`` is read as the newest 3.x by Docker, and files of
    one app must all have the same version, so an overlay without it breaks
    the merge with a 3.8 ``compose.yml``.
    """
    for name, doc in ctx.raw.items():
        if "version" not in doc:
            yield Issue(f"{name} has no version", file=name, key="version")
            continue
        value = str(doc["version"])
        m = re.fullmatch(r"(\d+)\.(\d+)", value)
        if not m or m[1] != "3" or (int(m[1]), int(m[2])) < EXPECTED_COMPOSE_VERSION:
            yield Issue(f'{name} has version {value!r}, not "3.8"', file=name, key="version")


@rule("R002", WARNING, "all services have a healthcheck", fix="add a healthcheck: to the service")
def healthchecks(ctx: LintContext) -> Iterator[Issue]:
    """Every service has a ``healthcheck``.

    Deploys wait for services to be healthy; without a healthcheck "running"
    is all coop (and Swarm's rolling updates) can know. A healthcheck that is
    explicitly disabled (``disable: true``) counts as a decision and passes.
    """
    for name, svc in sorted(ctx.services.items()):
        if not svc.get("healthcheck"):
            yield Issue(f"service {name} has no healthcheck", service=name, key="healthcheck")


def _images(ctx: LintContext) -> Iterator[tuple[str, str, ImageParts]]:
    for name, svc in sorted(ctx.services.items()):
        image = svc.get("image")
        if isinstance(image, str) and image:
            yield name, image, split_image(image)


@rule("R003", WARNING, "all images use a tag", fix="pin the image to a tag, e.g. nginx:1.27.2")
def images_tagged(ctx: LintContext) -> Iterator[Issue]:
    """Every image names a tag (or a digest); an untagged image means ``:latest``."""
    for name, image, ref in _images(ctx):
        if not ref.tag and not ref.digest:
            yield Issue(
                f"service {name}: image {image} has no tag (it means {image}:latest)", service=name, key="image"
            )


@rule("R004", WARNING, "no unstable tags", fix="use a released version tag, e.g. 1.27.2")
def no_unstable_tags(ctx: LintContext) -> Iterator[Issue]:
    """No image uses an unstable tag: ``latest`` (abra's check), or a moving
    development channel (``nightly``, ``edge``, ``dev``, ``testing``, ``main``...)
    or a pre-release marker (``-rc1``, ``beta``).
    Floating stable channels (``stable``, a major version only) are R101's.
    """
    for name, image, ref in _images(ctx):
        if not ref.tag or ref.digest:
            continue
        words = {w.rstrip("0123456789") for w in re.split(r"[-_.]", ref.tag.lower())}
        bad = sorted(words & UNSTABLE_TAG_WORDS)
        if bad:
            yield Issue(f"service {name}: image {image} uses the unstable tag {ref.tag!r}", service=name, key="image")


@rule("R005", WARNING, "image tags are semver-like", fix="use the image's versioned tags (1.2.3, v1.2.3, 1.2.3-alpine)")
def semver_like_tags(ctx: LintContext) -> Iterator[Issue]:
    """Every image tag looks like a version: numbers separated by dots, an
    optional ``v`` prefix and an optional ``-suffix`` (``1.27.2``, ``v2.4.8``,
    ``17-3.5-alpine``), so ``coop recipe upgrade`` can order them.
    """
    for name, image, ref in _images(ctx):
        if not ref.tag or ref.digest:
            continue
        if not SEMVER_LIKE_TAG.fullmatch(ref.tag):
            yield Issue(f"service {name}: image {image}: tag {ref.tag!r} is not semver-like", service=name, key="image")


@rule("R006", WARNING, "the recipe has a published version", fix="publish a release: coop recipe release RECIPE")
def published_version(ctx: LintContext) -> Iterator[Issue]:
    """The recipe has at least one release: an annotated tag ``<semver>+<image-tag>``.

    abra asks its catalogue; coop asks the recipe's git tags, which is what the
    catalogue is generated from (skipped when the recipe is not a git repository).
    """
    if not ctx.versions:
        yield Issue(f"recipe {ctx.name} has no release (no annotated tag like 0.1.0+1.27.2)")


@rule("R007", WARNING, "README.md metadata is filled in", fix="fill in the <!-- metadata --> block of README.md")
def metadata_filled_in(ctx: LintContext) -> Iterator[Issue]:
    """README.md has a ``<!-- metadata -->`` block with every field filled in:
    Category, Status, Image, Healthcheck, Backups, Email, Tests, SSO (the
    catalogue is generated from it).
    """
    if not ctx.exists("README.md"):
        yield Issue("there is no README.md", file="README.md")
        return
    meta = ctx.recipe.readme_metadata()
    if not meta:
        yield Issue("README.md has no <!-- metadata --> ... <!-- endmetadata --> block", file="README.md")
        return
    missing = [f for f in METADATA_FIELDS if not meta.get(f)]
    if missing:
        yield Issue(
            "README.md metadata: "
            + ", ".join(missing)
            + (" is" if len(missing) == 1 else " are")
            + " empty or missing",
            file="README.md",
            key=",".join(missing),
        )


@rule("R008", ERROR, ".env.sample is provided", fix="add a .env.sample with TYPE=, DOMAIN= and LETS_ENCRYPT_ENV=")
def env_sample_present(ctx: LintContext) -> Iterator[Issue]:
    """The recipe ships a ``.env.sample``: ``app new`` copies it to make an app's env file.

    coop also finds one in a sub-folder (R106 warns about that); a sample that
    does not parse fails this rule too.
    """
    if ctx.env_sample_path is None:
        yield Issue("there is no .env.sample", file=".env.sample")
    elif ctx.env_sample_error:
        yield Issue(
            f"{ctx.env_sample_path} does not parse: {ctx.env_sample_error}",
            file=ctx.env_sample_path,
            fix="fix the line named; values with spaces or # need quotes",
        )


@rule("R009", ERROR, "a service is named app", fix="name the main service 'app'")
def app_service(ctx: LintContext) -> Iterator[Issue]:
    """A service is named ``app``: the main service, which carries the version
    label and which commands (``app run``, ``app cmd``) default to.
    """
    if "app" not in ctx.services:
        yield Issue("no service is named app (services: " + ", ".join(sorted(ctx.services)) + ")", file="compose.yml")


@rule(
    "R010",
    ERROR,
    "traefik routing is enabled",
    fix='add the deploy label "traefik.enable=true" to the web-facing service',
)
def traefik_enabled(ctx: LintContext) -> Iterator[Issue]:
    """A service has the deploy label ``traefik.enable=true``, so the proxy
    routes ``DOMAIN`` to the app. Skipped, as abra does, when the
    ``.env.sample`` has no ``DOMAIN`` (an app that is not on the web).
    """
    if ctx.env_sample is None:
        raise Skip("there is no usable .env.sample (see R008)")
    if "DOMAIN" not in ctx.sample_keys:
        raise Skip(".env.sample has no DOMAIN: the recipe does not serve a domain")
    for name in ctx.services:
        if ctx.deploy_labels(name).get("traefik.enable", "").strip().lower() == "true":
            return
    yield Issue("no service has the deploy label traefik.enable=true", file="compose.yml")


@rule("R011", ERROR, "all services have an image", fix="set image: on every service (stack deploy does not build)")
def images_present(ctx: LintContext) -> Iterator[Issue]:
    """Every service names an image: ``docker stack deploy`` never builds one."""
    for name, svc in sorted(ctx.services.items()):
        if not svc.get("image"):
            yield Issue(f"service {name} has no image", service=name, key="image")


def config_version_vars(name: str) -> list[VarRef]:
    """The ``*_VERSION`` variables a config's ``name:`` interpolates."""
    return [ref for ref in var_refs(name) if ref.name.endswith("_VERSION")]


@rule("R012", ERROR, "config versions are vendored in abra.sh", fix="add export <NAME>_VERSION=v1 to abra.sh")
def config_versions_vendored(ctx: LintContext) -> Iterator[Issue]:
    """Config versions come from the recipe's ``abra.sh``.

    A recipe with configs has an ``abra.sh`` (abra's check), and every
    ``*_VERSION`` variable a config's ``name:`` uses is exported there
    (``export NGINX_CONF_VERSION=v1``), so a release that changes the file
    also bumps the name. A variable with a default in the compose file
    (``${X_VERSION:-v1}``) is vendored there and passes.
    """
    has_configs = False
    for fname, doc in ctx.raw.items():
        configs = doc.get("configs")
        if not isinstance(configs, dict):
            continue
        for key, cfg in configs.items():
            if not isinstance(cfg, dict) or cfg.get("external"):
                continue
            has_configs = True
            name = cfg.get("name")
            if not isinstance(name, str):
                continue
            for ref in config_version_vars(name):
                if ref.default is None and ref.name not in ctx.abra_versions:
                    yield Issue(
                        f"config {key} ({fname}): {ref.name} is not exported by abra.sh",
                        fix=f"add 'export {ref.name}=v1' to abra.sh",
                        file=fname,
                        key=f"configs.{key}.name",
                    )
    if has_configs and not ctx.exists("abra.sh"):
        yield Issue("the recipe has configs but no abra.sh to vendor their versions", file="abra.sh")


@rule(
    "R013",
    WARNING,
    "the recipe's git repository is published",
    fix="push the recipe and set its origin: git remote add origin <url>",
)
def repo_exists(ctx: LintContext) -> Iterator[Issue]:
    """The recipe is published: its git repository has an ``origin`` remote.

    abra asks git.coopcloud.tech over the network; coop stays offline and asks
    the clone (skipped when the recipe is not a git repository).
    """
    repo = ctx.require_repo()
    if not repo.remote_url("origin"):
        yield Issue(f"recipe {ctx.name}: the git repository has no origin remote")


@rule(
    "R014",
    ERROR,
    "release tags are annotated",
    fix="replace it with an annotated tag: git tag -d T && git tag -a T -m 'chore: publish T release' COMMIT",
)
def annotated_tags(ctx: LintContext) -> Iterator[Issue]:
    """Every tag that names a version is annotated (``git tag -a``).

    A version is an annotated tag: coop and abra ignore lightweight ones, so a
    lightweight version tag is a release nobody can deploy. Lightweight tags
    that are not versions (``backup-before-rebase``) are not releases and pass.
    """
    from coopcloud.domain.version import parse_version
    from coopcloud.errors import RecipeError

    for tag in ctx.tags:
        if tag.annotated:
            continue
        try:
            parse_version(tag.name)
        except RecipeError:
            continue
        yield Issue(
            f"tag {tag.name} is lightweight, so it is not a release",
            fix=f"git tag -d {tag.name} && git tag -a {tag.name} -m 'chore: publish {tag.name} release' {tag.commit[:12]}",
        )


@rule(
    "R015", WARNING, "secret names are short", fix=f"shorten the secret's name to {SECRET_NAME_MAX} characters or fewer"
)
def secret_lengths(ctx: LintContext) -> Iterator[Issue]:
    """Secret names (the keys under ``secrets:``) are at most 12 characters.

    Docker names a secret ``<stack>_<name>_<version>`` within 64 characters,
    and the stack comes from the app's domain: every character of the name is
    one less for the operator's domain.
    """
    for key in sorted(get_map(ctx.model, "secrets")):
        if len(key) > SECRET_NAME_MAX:
            room = DOCKER_NAME_MAX - len(f"_{key}_v1")
            yield Issue(
                f"secret {key} is {len(key)} characters (at most {SECRET_NAME_MAX}): "
                f"with it, app names can be at most {room} characters",
                key=f"secrets.{key}",
            )


@rule(
    "R016",
    ERROR,
    "the app service has deploy labels",
    fix='add deploy: labels: to the app service (traefik and "coop-cloud.${STACK_NAME}.version")',
)
def deploy_labels_present(ctx: LintContext) -> Iterator[Issue]:
    """The ``app`` service has a ``deploy: labels:`` stanza: where its traefik
    routing, the recipe version and the ``coop-cloud.*`` settings live.
    Skipped when there is no ``app`` service (R009).
    """
    if "app" not in ctx.services:
        raise Skip("there is no app service (see R009)")
    if not ctx.deploy_labels("app"):
        yield Issue("service app has no deploy labels", service="app", key="deploy.labels")
