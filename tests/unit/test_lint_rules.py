"""Every lint rule on a recipe that passes it and on one that fails it.

The passing recipe is `recipe_factory.recipe_files` (a small valid recipe);
each failing one changes as little as possible of it. Git rules get real repos.
"""

from __future__ import annotations

import pytest

from coopcloud.lint import ERROR, WARNING, all_rules, get_rule, lint, run_rule
from coopcloud.lint.context import LintContext
from recipe_factory import commit, git, make_recipe_repo, recipe_files, write_files

BASE = recipe_files("demo")
COMPOSE = BASE["compose.yml"]
GIT_RULES = {"R006", "R013", "R014", "R100", "R107", "R108"}


def edit(old: str, new: str, text: str = COMPOSE) -> str:
    assert old in text, f"test setup: {old!r} is not in the text"
    return text.replace(old, new, 1)


def lint_dir(tmp_path, changes=None, name="demo"):
    path = tmp_path / name
    write_files(path, {**BASE, **(changes or {})})
    return lint(path)


def lint_repo(tmp_path, tags=(), changes=None, **kw):
    path = make_recipe_repo(tmp_path / "demo", {**BASE, **(changes or {})}, tags=tags, **kw)
    return path, lint(path)


def findings(report, rule_id):
    return [f for f in report.findings if f.rule == rule_id]


def status(report, rule_id):
    return next(r for r in report.results if r.rule.id == rule_id)


def test_the_base_recipe_passes_every_rule_that_runs(tmp_path):
    report = lint_dir(tmp_path)
    assert report.findings == []
    assert report.ok
    # without a git repository the git rules are skipped, with a note, not failed
    assert {r.rule.id for r in report.skipped()} == GIT_RULES
    assert all(r.note == "the recipe is not a git repository" for r in report.skipped())


def test_the_base_recipe_as_a_released_published_repo_passes_everything(tmp_path):
    _, report = lint_repo(tmp_path, tags=[("1.0.0+1.27.2", {})], origin="https://git.example.org/demo.git")
    assert report.findings == []
    assert report.skipped() == []


# (rule, changes making the base recipe fail it, a fragment of the message, service/file named)
FAILING = [
    (
        "R000",
        {"compose.smtp.yml": 'version: "3.8"\nservices:\n  app:\n    secrets: [nope]\n'},
        "compose.smtp.yml does not render on top of compose.yml: service app: undefined secret 'nope'",
    ),
    ("R000", {"compose.yml": COMPOSE + "  bad: [\n"}, "compose.yml (the default compose file) does not render: "),
    (
        "R000",
        {"compose.yml": "services: {}\n", "compose.smtp.yml": "a: [\n"},
        "compose.smtp.yml does not render on top of compose.yml",
    ),
    ("R000", {"compose.yml": "services: []\n", "compose.smtp.yml": "a: [\n"}, "compose.smtp.yml is not valid YAML: "),
    (
        "R000",
        {".env.sample": BASE[".env.sample"] + 'COMPOSE_FILE="compose.yml:compose.gone.yml"\n'},
        "compose.yml:compose.gone.yml (COMPOSE_FILE in .env.sample) does not render: "
        "COMPOSE_FILE names compose.gone.yml, which the recipe does not have — fix COMPOSE_FILE in .env.sample, or add the file",
    ),
    (
        "R001",
        {"compose.smtp.yml": 'version: "3.2"\nservices:\n  app:\n    environment:\n      - SMTP_HOST\n'},
        "compose.smtp.yml has version '3.2', not \"3.8\"",
    ),
    (
        "R001",
        {"compose.smtp.yml": "services:\n  app:\n    environment:\n      - SMTP_HOST\n"},
        "compose.smtp.yml has no version",
    ),
    (
        "R002",
        {"compose.yml": edit('    healthcheck:\n      test: ["CMD", "true"]\n', "")},
        "service app has no healthcheck",
    ),
    (
        "R003",
        {"compose.yml": edit("image: nginx:1.27.2", "image: nginx")},
        "image nginx has no tag (it means nginx:latest)",
    ),
    ("R004", {"compose.yml": edit("image: nginx:1.27.2", "image: nginx:latest")}, "unstable tag 'latest'"),
    ("R004", {"compose.yml": edit("image: nginx:1.27.2", "image: nginx:1.28.0-rc1")}, "unstable tag '1.28.0-rc1'"),
    (
        "R005",
        {"compose.yml": edit("image: nginx:1.27.2", "image: nginx:mainline-bookworm")},
        "tag 'mainline-bookworm' is not semver-like",
    ),
    (
        "R007",
        {"README.md": BASE["README.md"].replace("* **Email**: N/A\n", "* **Email**:\n")},
        "README.md metadata: email is empty or missing",
    ),
    ("R007", {"README.md": "# demo\n"}, "README.md has no <!-- metadata -->"),
    ("R007", {"README.md": None}, "there is no README.md"),
    ("R008", {".env.sample": None}, "there is no .env.sample"),
    ("R008", {".env.sample": "TYPE=demo\nthis is not an assignment\n"}, ".env.sample does not parse"),
    (
        "R009",
        {
            "compose.yml": edit("  app:\n", "  web:\n"),
            "compose.smtp.yml": BASE["compose.smtp.yml"].replace("app:", "web:"),
        },
        "no service is named app (services: web)",
    ),
    (
        "R010",
        {"compose.yml": edit('        - "traefik.enable=true"\n', "")},
        "no service has the deploy label traefik.enable=true",
    ),
    (
        "R011",
        {"compose.smtp.yml": 'version: "3.8"\nservices:\n  worker:\n    environment: [A=1]\n'},
        "service worker has no image",
    ),
    (
        "R012",
        {"abra.sh": "foo() {\n  echo hi\n}\n"},
        "config nginx_conf (compose.yml): NGINX_CONF_VERSION is not exported by abra.sh",
    ),
    ("R012", {"abra.sh": None}, "the recipe has configs but no abra.sh"),
    (
        "R015",
        {"compose.yml": COMPOSE.replace("db_password", "database_password")},
        "secret database_password is 17 characters (at most 12): with it, app names can be at most 43 characters",
    ),
    (
        "R016",
        {
            "compose.yml": edit(
                '    deploy:\n      labels:\n        - "traefik.enable=true"\n'
                '        - "traefik.http.routers.${STACK_NAME}.rule=Host(`${DOMAIN}`)"\n'
                '        - "coop-cloud.${STACK_NAME}.version=0.1.0+1.27.2"\n',
                "    deploy:\n      replicas: 1\n",
            ).replace(
                "services:\n",
                "services:\n  proxy:\n    image: traefik:v2.11.0\n    deploy:\n      labels: [traefik.enable=true]\n",
            )
        },
        "service app has no deploy labels",
    ),
    ("R101", {"compose.yml": edit("image: nginx:1.27.2", "image: nginx:stable")}, "tag 'stable' floats"),
    ("R101", {"compose.yml": edit("image: nginx:1.27.2", "image: postgres:17-alpine")}, "tag '17-alpine' floats"),
    ("R101", {"compose.yml": edit("image: nginx:1.27.2", "image: postgres:16")}, "tag '16' floats"),
    (
        "R102",
        {"compose.smtp.yml": BASE["compose.smtp.yml"] + "      - SMTP_PASSWORD=hunter2\n"},
        "compose.smtp.yml: service app: SMTP_PASSWORD is set to a literal value",
    ),
    (
        "R102",
        {
            "compose.yml": edit(
                "    secrets: [db_password]\n",
                "    secrets: [db_password]\n    environment:\n      API_TOKEN: abc123\n",
            )
        },
        "compose.yml: service app: API_TOKEN is set to a literal value",
    ),
    (
        "R102",
        {".env.sample": BASE[".env.sample"] + "ADMIN_PASSWORD=changeme\n"},
        ".env.sample:10: ADMIN_PASSWORD has a value",
    ),
    (
        "R103",
        {
            "compose.yml": edit(
                "    secrets: [db_password]\n", "    secrets: [db_password]\n    volumes: [data:/srv]\n"
            )
            + "volumes:\n  data:\n"
        },
        "service app has volumes (data) but no backupbot.backup label",
    ),
    (
        "R104",
        {"compose.smtp.yml": BASE["compose.smtp.yml"] + "      - SMTP_PORT=${SMTP_PORT}\n"},
        "compose.smtp.yml uses ${SMTP_PORT}, which .env.sample does not mention",
    ),
    (
        "R104",
        {"compose.smtp.yml": BASE["compose.smtp.yml"] + "      - RELAY=${RELAY:?set RELAY}\n"},
        "compose.smtp.yml uses ${RELAY}",
    ),
    (
        "R105",
        {"compose.yml": edit("${STACK_NAME}_nginx_conf_${NGINX_CONF_VERSION}", "${STACK_NAME}_nginx_conf")},
        "config nginx_conf (compose.yml) has no *_VERSION in its name",
    ),
    ("R106", {".env.sample": None, "deploy/.env.sample": BASE[".env.sample"]}, "the sample env is deploy/.env.sample"),
    (
        "R109",
        {
            "compose.yml": edit(
                "    secrets: [db_password]\n", "    secrets: [db_password]\n    volumes: [./data:/data]\n"
            )
        },
        "service app: bind mount ./data is relative: it names a path on the machine that deploys, not on the server",
    ),
    (
        "R109",
        {
            "compose.yml": edit(
                "    secrets: [db_password]\n",
                "    secrets: [db_password]\n    volumes:\n      - {type: bind, source: data, target: /d}\n",
            )
        },
        "bind mount data is relative",
    ),
]


@pytest.mark.parametrize("rule_id,changes,message", FAILING, ids=[f"{r[0]}-{i}" for i, r in enumerate(FAILING)])
def test_rule_fails_on_a_recipe_that_breaks_it(tmp_path, rule_id, changes, message):
    report = lint_dir(tmp_path, changes)
    mine = findings(report, rule_id)
    assert mine, f"{rule_id} did not fire; findings: {[(f.rule, f.message) for f in report.findings]}"
    assert any(message in f.message for f in mine), [f.message for f in mine]
    rule = get_rule(rule_id)
    assert status(report, rule_id).status == "failed"
    assert all(f.level is rule.level and f.fix for f in mine)
    # a failing error-level rule makes the report fail; warnings never do
    if rule.level is ERROR:
        assert not report.ok
    elif not any(f.level is ERROR for f in report.findings):
        assert report.ok


def test_every_rule_has_a_failing_case():
    covered = {r[0] for r in FAILING} | GIT_RULES
    assert covered == {r.id for r in all_rules()}


# -- passing edge cases: what a rule must not flag -------------------------------


def test_overlays_that_only_clash_with_each_other_are_not_render_errors(tmp_path):
    # Two alternative overlays, each fine on compose.yml, incompatible together (global mode vs replicas):
    # not an error, but the second is left out of the model the other rules see, with a note.
    path = tmp_path / "demo"
    write_files(
        path,
        {
            **BASE,
            "compose.a.yml": 'version: "3.8"\nservices:\n  app:\n    deploy:\n      mode: global\n',
            "compose.b.yml": 'version: "3.8"\nservices:\n  app:\n    deploy:\n      replicas: 2\n',
        },
    )
    ctx = LintContext.from_path(path)
    report = lint(ctx)
    assert findings(report, "R000") == []
    assert status(report, "R000").status == "passed"
    assert ctx.rendering.files == ["compose.yml", "compose.a.yml", "compose.smtp.yml"]
    assert list(ctx.rendering.left_out) == ["compose.b.yml"]
    assert report.notes == [
        "compose.b.yml renders on compose.yml but not together with compose.a.yml "
        "(service app: replicas can only be used with replicated or replicated-job mode); "
        "it is left out of the model the other rules check"
    ]


def test_disabled_healthcheck_counts_as_a_decision(tmp_path):
    report = lint_dir(tmp_path, {"compose.yml": edit('      test: ["CMD", "true"]\n', "      disable: true\n")})
    assert findings(report, "R002") == []


def test_digest_pinned_and_versioned_tags_pass_the_image_rules(tmp_path):
    digest = "sha256:" + "a" * 64
    for image in (
        f"nginx@{digest}",
        "nginx:1.27.2-alpine",
        "ghcr.io:443/org/app:v2.4.8",
        "postgis/postgis:17-3.5-alpine",
        "mariadb:10.6",
    ):
        report = lint_dir(
            tmp_path, {"compose.yml": edit("image: nginx:1.27.2", f"image: {image}")}, name=f"r{abs(hash(image))}"
        )
        assert [f for f in report.findings if f.rule in ("R003", "R004", "R005", "R101")] == [], image


def test_traefik_rule_is_skipped_when_the_sample_has_no_domain(tmp_path):
    report = lint_dir(
        tmp_path,
        {
            "compose.yml": edit('        - "traefik.enable=true"\n', ""),
            ".env.sample": BASE[".env.sample"].replace("DOMAIN=demo.example.com\n", ""),
        },
    )
    result = status(report, "R010")
    assert result.status == "skipped" and "no DOMAIN" in result.note


def test_config_version_with_a_default_is_vendored(tmp_path):
    report = lint_dir(
        tmp_path,
        {
            "compose.yml": edit("${NGINX_CONF_VERSION}", "${NGINX_CONF_VERSION:-v1}"),
            "abra.sh": "foo() { echo hi; }\n",
        },
    )
    assert findings(report, "R012") == []
    assert findings(report, "R105") == []


def test_plain_env_rule_ignores_references_files_and_booleans(tmp_path):
    report = lint_dir(
        tmp_path,
        {
            "compose.smtp.yml": BASE["compose.smtp.yml"]
            + (
                "      - SMTP_PASSWORD=${SMTP_PASSWORD}\n"
                "      - DB_PASSWORD_FILE=/run/secrets/db_password\n"
                "      - USE_TOKEN=true\n"
                "      - ADMIN_PASSWORD=\n"
                "      - PWD=/srv\n"
            ),
            ".env.sample": BASE[".env.sample"] + "SMTP_PASSWORD=\n#MAIL_PASSWORD=example\n",
        },
    )
    assert findings(report, "R102") == []


def test_backup_labels_rule_passes_labelled_services_bind_mounts_and_opt_outs(tmp_path):
    compose = (
        edit(
            "    secrets: [db_password]\n",
            "    secrets: [db_password]\n    volumes: [data:/srv, /etc/hosts:/etc/hosts:ro]\n",
        )
        + "volumes:\n  data:\n"
    )
    labelled = edit(
        '        - "traefik.enable=true"\n',
        '        - "traefik.enable=true"\n        - "backupbot.backup=true"\n',
        compose,
    )
    opted_out = edit(
        '        - "traefik.enable=true"\n',
        '        - "backupbot.backup=false"\n        - "traefik.enable=true"\n',
        compose,
    )
    bind_only = edit(
        "    secrets: [db_password]\n", "    secrets: [db_password]\n    volumes: [/etc/hosts:/etc/hosts:ro]\n"
    )
    for i, text in enumerate((labelled, opted_out, bind_only)):
        assert findings(lint_dir(tmp_path, {"compose.yml": text}, name=f"d{i}"), "R103") == [], i


def test_env_rule_knows_provided_defaulted_escaped_and_commented_variables(tmp_path):
    report = lint_dir(
        tmp_path,
        {
            "compose.smtp.yml": BASE["compose.smtp.yml"]
            + (
                "      - A=${STACK_NAME}_${DOMAIN}_${NGINX_CONF_VERSION}\n"
                "      - B=${UNSET_WITH_DEFAULT:-x}${OTHER-y}\n"
                "      - C=$$NOT_A_VARIABLE\n"
                "      - D=${SMTP_HOST}\n"  # commented out in the sample: documented
                "# - E=${ONLY_IN_A_COMMENT}\n"
            ),
        },
    )
    assert findings(report, "R104") == []


def test_unstable_and_semver_rules_see_the_image_as_rendered(tmp_path):
    # the image tag comes from the sample: what an app made from it would run
    report = lint_dir(
        tmp_path,
        {
            "compose.yml": edit("image: nginx:1.27.2", "image: nginx:${NGINX_TAG:-1.27.2}"),
            ".env.sample": BASE[".env.sample"] + "NGINX_TAG=latest\n",
        },
    )
    assert [f.message for f in findings(report, "R004")] == [
        "service app: image nginx:latest uses the unstable tag 'latest'"
    ]


# -- git rules -------------------------------------------------------------------


def test_published_version_needs_an_annotated_release_tag(tmp_path):
    _, report = lint_repo(tmp_path)
    assert [f.message for f in findings(report, "R006")] == [
        "recipe demo has no release (no annotated tag like 0.1.0+1.27.2)"
    ]
    assert findings(report, "R006")[0].level is WARNING


def test_repo_exists_needs_an_origin_remote(tmp_path):
    _, report = lint_repo(tmp_path, tags=[("1.0.0+1.27.2", {})])
    assert [f.message for f in findings(report, "R013")] == ["recipe demo: the git repository has no origin remote"]


def test_lightweight_version_tags_fail_and_other_lightweight_tags_pass(tmp_path):
    _, report = lint_repo(
        tmp_path, tags=[("1.0.0+1.27.2", {}), ("junk", {}, False), ("1.1.0+1.27.2", {"x": "1"}, False)]
    )
    mine = findings(report, "R014")
    assert [f.message for f in mine] == ["tag 1.1.0+1.27.2 is lightweight, so it is not a release"]
    assert mine[0].fix.startswith("git tag -d 1.1.0+1.27.2 && git tag -a 1.1.0+1.27.2 -m")
    assert not report.ok
    _, clean = lint_repo(tmp_path / "2", tags=[("1.0.0+1.27.2", {}), ("junk", {}, False)])
    assert findings(clean, "R014") == []


def test_release_tag_format(tmp_path):
    _, report = lint_repo(tmp_path, tags=[("v1.0.0", {}), ("1.0", {}), ("1.1.0+1.27.2", {})])
    messages = [f.message for f in findings(report, "R107")]
    assert any("'v1.0.0' has a 'v' prefix" in m for m in messages)
    assert any("'v1.0.0' has no +<image-tag> part" in m for m in messages)
    assert any("'1.0' ignored" in m for m in messages)
    assert not any("1.1.0+1.27.2" in m for m in messages)
    assert report.ok  # R107 is a warning


def test_duplicate_versions_are_an_error(tmp_path):
    _, report = lint_repo(tmp_path, tags=[("1.0.0+1.27.1", {}), ("1.0.0+1.27.2", {"x": "1"})])
    assert len(findings(report, "R108")) == 1
    assert "'1.0.0+1.27.1' and '1.0.0+1.27.2' are the same version 1.0.0" in findings(report, "R108")[0].message
    assert not report.ok


def test_changed_config_without_a_version_bump_fails(tmp_path):
    path, report = lint_repo(tmp_path, tags=[("1.0.0+1.27.2", {})])
    assert findings(report, "R100") == []  # unchanged since the release
    (path / "nginx.conf").write_text("server { listen 8080; }\n")  # edited in the working tree
    report = lint(path)
    mine = findings(report, "R100")
    assert len(mine) == 1
    assert mine[0].message == (
        "config nginx_conf: nginx.conf changed since release 1.0.0+1.27.2 but its name demo_example_com_nginx_conf_v1 did not"
    )
    assert mine[0].fix == "bump NGINX_CONF_VERSION in abra.sh"
    assert not report.ok
    # committed without the bump: still wrong
    commit(path, {}, "change nginx.conf")
    assert findings(lint(path), "R100")
    # bumped: a new config object, fine
    commit(path, {"abra.sh": BASE["abra.sh"].replace("v1", "v2")}, "bump")
    assert findings(lint(path), "R100") == []
    assert git(path, "status", "--porcelain") == ""


def test_changed_config_rule_is_skipped_before_the_first_release(tmp_path):
    _, report = lint_repo(tmp_path)
    assert status(report, "R100").status == "skipped"
    assert status(report, "R100").note == "the recipe has no release yet"


def test_a_rule_that_cannot_read_the_repo_is_skipped_not_crashed(tmp_path):
    path, _ = lint_repo(tmp_path, tags=[("1.0.0+1.27.2", {})])
    ctx = LintContext.from_path(path)
    (path / ".git" / "HEAD").unlink()  # a broken repository: every git call now fails
    result = run_rule(get_rule("R006"), ctx)
    assert result.status == "skipped"
    assert "could not" in result.note


def test_lint_of_a_git_repo_lints_the_working_tree(tmp_path):
    path, _ = lint_repo(tmp_path, tags=[("1.0.0+1.27.2", {})], origin="https://git.example.org/demo.git")
    (path / "compose.yml").write_text(COMPOSE.replace("image: nginx:1.27.2", "image: nginx:latest"))
    assert [f.rule for f in lint(path).findings] == ["R004", "R005"]


@pytest.mark.parametrize(
    "files",
    [
        {},
        {"compose.yml": ""},
        {"compose.yml": "services:\n  - app\n"},
        {"compose.yml": "services:\n  app:\n"},
        {"compose.yml": "version: 3.8\nservices:\n  app:\n    image: [1, 2]\n    environment: 7\n    deploy: null\n"},
        {"compose.yml": b"\xff\xfe\x00binary", ".env.sample": b"\xff"},
        {"compose.yml": COMPOSE, ".env.sample": "KEY='unterminated\n", "abra.sh": b"\xff"},
        {
            "compose.yml": COMPOSE,
            "compose.x.yml": "configs: [1]\nsecrets: 3\nservices: {a: {environment: [1, {b: c}]}}\n",
        },
    ],
    ids=range(8),
)
def test_broken_recipes_lint_without_crashing(tmp_path, files):
    path = tmp_path / "broken"
    path.mkdir()
    write_files(path, files)
    report = lint(path)
    assert not report.ok  # something error-level always fails on these
    assert {f.rule for f in report.errors} & {"R000", "R008"}


def test_bind_mount_rule_passes_absolute_paths_named_volumes_and_variables(tmp_path):
    volumes = (
        "    volumes:\n      - /srv/data:/data\n      - data:/var/lib/data\n      - /cache\n"
        "      - {type: bind, source: /etc/localtime, target: /etc/localtime}\n"
        "      - {type: bind, source: '${DATA_DIR}', target: /x}\n      - {type: volume, source: other, target: /o}\n"
    )
    compose = edit("    secrets: [db_password]\n", "    secrets: [db_password]\n" + volumes)
    compose += "volumes:\n  data:\n  other:\n"
    report = lint_dir(tmp_path, {"compose.yml": compose, ".env.sample": BASE[".env.sample"] + "DATA_DIR=/srv/x\n"})
    assert findings(report, "R109") == []
