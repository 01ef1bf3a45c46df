"""Every corpus recipe (real recipes nobody here wrote) lints without crashing, with findings a
maintainer would agree with. Each expectation below was reviewed by hand against the recipe.

The corpus folders are not git repositories, so the git rules are skipped there; a second test
turns each into one (its TAGS file as annotated tags) to run them on real tag names.
"""

from __future__ import annotations

import shutil

import pytest

from coopcloud.lint import lint
from recipe_factory import make_recipe_repo
from shared_data import CORPUS, corpus_recipes

pytestmark = pytest.mark.corpus  # the whole module reads ../shared

GIT_RULES = {"R006", "R013", "R014", "R100", "R107", "R108"}

# recipe -> (error-level rules that fail, warning-level rules that fail)
EXPECTED: dict[str, tuple[set[str], set[str]]] = {
    "agora": (
        set(),
        {
            "R002",  # app and bridge: the healthcheck is commented out
            "R004",  # moonlion/agora-server:testing, agora-bridge:testing are development builds
            "R005",  # ... and 'testing' is not a version
            "R103",  # the data volume (app, bridge) has no backupbot label: `app backup` would skip it
            "R104",  # $SOURCES_YML_URL is interpolated but .env.sample never mentions it
        },
    ),
    "bonfire": (
        {
            # A real bug: compose.auth.github.yml mounts secret github_client_secret but declares
            # oauth_client_secret, so deploying with that overlay fails ("undefined secret").
            "R000",
        },
        {
            "R002",  # the sonic `search` service (compose.sonic.yml) has no healthcheck
            "R007",  # README metadata: Healthcheck, Backups, Email, Tests, SSO are left empty
            "R015",  # many secret names over abra's 12 characters (secret_key_base, ...)
            "R103",  # sonic-data (search) has no backupbot label; app and db have theirs
        },
    ),
    "example-template": (
        set(),
        {
            "R002",  # neither app nor db has a healthcheck
            "R003",  # db: `mariadb` without a tag
            "R004",  # gaseousgames/gaseousserver:latest
            "R005",  # ... 'latest' is not a version
            "R102",  # dbpass, igdbclientsecret, MARIADB_(ROOT_)PASSWORD written in compose.yml
            "R103",  # gs and gsdb volumes, no backupbot labels
        },
    ),
    "foodsharing-cms": (
        set(),
        {
            "R007",  # the corpus keeps no README for it, so there is no metadata block
        },
    ),
    "lemp": (
        set(),
        {
            "R002",  # app, db and frontend: no healthcheck (frontend's is commented out)
            "R015",  # db_root_password, smtp_password are over 12 characters
            "R103",  # site_content and mariadb volumes, no backupbot labels
        },
    ),
    "llamenos": (
        set(),
        {
            "R002",  # web (nginx) and asterisk-bridge have no healthcheck
            "R004",  # llamenos and the bridge default to :latest, dockurr/strfry:latest
            "R005",  # ... and minio's RELEASE.2025-01-20T14-49-07Z is not semver-like
            "R015",  # bridge_secret is 13 characters
            "R101",  # andrius/asterisk:20 and postgres:17-alpine float within a major version
            "R103",  # asterisk-config, nostr-data, signal-data: no backupbot labels (db/minio have them)
        },
    ),
    "nodex": (
        set(),
        {
            "R004",  # the sample's IMAGE is ghcr.io/polygongmbh/nodex-next:latest
            "R005",  # ... 'latest'
            "R007",  # no README in the corpus
            "R106",  # the sample is deploy/.env.sample: coop finds it, abra does not
        },
    ),
    "traefik-2021": (
        set(),
        {
            "R015",  # ovh_app_secret, ovh_consumer_key are over 12 characters
            "R103",  # letsencrypt (the certificates) has no backupbot label
        },
    ),
}


def test_every_corpus_recipe_has_an_expectation():
    assert sorted(EXPECTED) == corpus_recipes()


@pytest.mark.parametrize("name", corpus_recipes())
def test_corpus_recipe_lints_as_a_maintainer_would_expect(name):
    report = lint(CORPUS / name)  # no exception
    errors, warnings = EXPECTED[name]
    assert set(report.failed(level=None)) == errors | warnings, [(f.rule, f.message) for f in report.findings]
    assert {f.rule for f in report.errors} == errors
    assert report.ok is (not errors)
    skipped = {r.rule.id for r in report.skipped()}
    # nodex's sample has no DOMAIN (it uses DOMAINS): the traefik rule is skipped, as abra does
    assert skipped == GIT_RULES | ({"R010"} if name == "nodex" else set())
    for f in report.findings:
        assert f.message and f.fix, f


def test_bonfire_render_error_names_the_overlay_and_the_secret():
    report = lint(CORPUS / "bonfire")
    assert [(f.file, f.message) for f in report.errors] == [
        (
            "compose.auth.github.yml",
            "compose.auth.github.yml does not render on top of compose.yml:compose.postgres.yml: "
            "service app: undefined secret 'github_client_secret' — declare it under the top-level `secrets:`",
        )
    ]


def test_every_other_bonfire_overlay_is_in_the_model():
    from coopcloud.lint import LintContext

    ctx = LintContext.from_path(CORPUS / "bonfire")
    assert ctx.rendering.base == ["compose.yml", "compose.postgres.yml"]
    assert set(ctx.rendering.files) == set(ctx.compose_files) - {"compose.auth.github.yml"}
    assert {"app", "db", "search"} <= set(ctx.model["services"])


@pytest.mark.parametrize("name", corpus_recipes())
def test_corpus_recipe_as_a_git_repo_with_its_tags(tmp_path, name):
    """The corpus recipe as its maintainers have it: a git repo, its TAGS as annotated tags."""
    src = CORPUS / name
    tags_file = src / "TAGS"
    tags = tags_file.read_text().split() if tags_file.exists() else []
    files = {p.relative_to(src).as_posix(): p.read_bytes() for p in src.rglob("*") if p.is_file() and p.name != "TAGS"}
    path = make_recipe_repo(tmp_path / name, files, tags=[(t, {}) for t in tags])
    report = lint(path)
    by_rule = {}
    for f in report.findings:
        by_rule.setdefault(f.rule, []).append(f.message)
    # R006: a recipe without tags has no release yet (agora, example-template, lemp, llamenos, nodex)
    assert ("R006" in by_rule) is (not tags)
    # R013: these throwaway repos have no origin remote
    assert "R013" in by_rule
    # R014/R108: every corpus tag is annotated here and no version is tagged twice
    assert "R014" not in by_rule and "R108" not in by_rule
    # R100: the working tree is the tagged commit: no config changed since the release
    assert "R100" not in by_rule
    # R107: foodsharing-cms (v1.0.0...) and traefik-2021 (v2.4.8) tag with a 'v' and no +<image-tag>;
    # bonfire's 2.0.1+1.0.6-social-amd64 is the canonical form
    if name in ("foodsharing-cms", "traefik-2021"):
        assert any("has a 'v' prefix" in m for m in by_rule["R107"])
        assert any("has no +<image-tag> part" in m for m in by_rule["R107"])
    else:
        assert "R107" not in by_rule
    # the git rules change nothing about the error-level verdict
    assert {f.rule for f in report.errors} == EXPECTED[name][0]


def test_corpus_is_not_modified(tmp_path):
    # lint reads only: a copy linted twice gives the same report and the same files
    copy = tmp_path / "lemp"
    shutil.copytree(CORPUS / "lemp", copy)
    before = sorted(p.name for p in copy.rglob("*"))
    first, second = lint(copy), lint(copy)
    assert [f.to_json() for f in first.findings] == [f.to_json() for f in second.findings]
    assert sorted(p.name for p in copy.rglob("*")) == before
