"""recipes.json model: tolerant reading, deterministic writing, round trips; README -> features."""

from __future__ import annotations

import json

import pytest

from coopcloud.domain.catalogue import (
    Catalogue,
    CatalogueError,
    CatalogueImage,
    Features,
    ImageFeature,
    RecipeMeta,
    RecipeVersion,
    dumps,
    features_from_metadata,
    load,
    parse_catalogue,
    parse_status,
    readme_description,
    save,
)
from coopcloud.errors import ExitStatus, NotFound
from coopcloud.ops.recipe.catalogue import repository_urls
from coopcloud.sources import recipe_from_dir
from shared_data import CORPUS

# An entry shaped exactly as abra's catalogue publishes it (field order included).
ABRA_ENTRY = {
    "category": "Development",
    "default_branch": "main",
    "description": "Git with a cup of tea",
    "features": {
        "backups": "Yes",
        "email": "Yes",
        "healthcheck": "Yes",
        "image": {
            "image": "gitea/gitea",
            "rating": "1",
            "source": "upstream",
            "url": "https://hub.docker.com/r/gitea/gitea",
        },
        "status": 2,
        "tests": "No",
        "sso": "Yes",
    },
    "icon": "https://example.org/gitea.png",
    "name": "gitea",
    "repository": "https://git.coopcloud.tech/coop-cloud/gitea.git",
    "ssh_url": "ssh://git@git.coopcloud.tech:2222/coop-cloud/gitea.git",
    "versions": [
        {
            "1.0.0+1.21.0-rootless": {
                "app": {"digest": "sha256:" + "1" * 64, "image": "gitea/gitea", "tag": "1.21.0-rootless"},
                "db": {"digest": "sha256:" + "2" * 64, "image": "mariadb", "tag": "10.6"},
            }
        },
        {
            "1.1.0+1.21.5-rootless": {
                "app": {"digest": "sha256:" + "3" * 64, "image": "gitea/gitea", "tag": "1.21.5-rootless"},
            }
        },
    ],
    "website": "https://gitea.io",
}


def test_reads_abra_shape():
    cat = parse_catalogue(json.dumps({"gitea": ABRA_ENTRY}))
    g = cat["gitea"]
    assert (g.name, g.category, g.default_branch, g.repository) == (
        "gitea",
        "Development",
        "main",
        "https://git.coopcloud.tech/coop-cloud/gitea.git",
    )
    assert g.features.status == 2 and g.features.sso == "Yes"
    assert g.features.image == ImageFeature("gitea/gitea", "1", "upstream", "https://hub.docker.com/r/gitea/gitea")
    assert [v.version for v in g.versions] == ["1.0.0+1.21.0-rootless", "1.1.0+1.21.5-rootless"]
    assert g.versions[0].services["db"] == CatalogueImage("mariadb", "10.6", "sha256:" + "2" * 64)
    assert g.latest_version == "1.1.0+1.21.5-rootless"


def test_writes_abra_shape_byte_for_byte():
    text = json.dumps({"gitea": ABRA_ENTRY}, indent=4, ensure_ascii=False) + "\n"
    assert dumps(parse_catalogue(text)) == text


def test_round_trip_is_deterministic_and_keeps_unknown_keys():
    doc = {"b": dict(ABRA_ENTRY, name="b", future_field={"x": 1}), "a": {"name": "a"}}
    doc["b"]["features"] = dict(ABRA_ENTRY["features"], new_feature="maybe")
    once = dumps(parse_catalogue(json.dumps(doc)))
    twice = dumps(parse_catalogue(once))
    assert once == twice
    out = json.loads(once)
    assert list(out) == ["a", "b"]  # sorted by name
    assert out["b"]["future_field"] == {"x": 1}
    assert out["b"]["features"]["new_feature"] == "maybe"
    assert list(out["b"]) == [
        "category",
        "default_branch",
        "description",
        "features",
        "icon",
        "name",
        "repository",
        "ssh_url",
        "versions",
        "website",
        "future_field",
    ]
    assert list(out["b"]["features"])[:7] == ["backups", "email", "healthcheck", "image", "status", "tests", "sso"]


def test_tolerant_reading():
    cat = parse_catalogue(
        json.dumps(
            {
                "sparse": {},
                "nulls": {"name": None, "category": None, "features": None, "versions": None},
                "odd": {
                    "features": {"status": "1, alpha", "image": "nginx", "backups": True},
                    "versions": {"1.0.0+1": {"app": {"image": "x", "tag": "1"}}},
                },
            }
        )
    )
    assert cat["sparse"] == RecipeMeta("sparse")
    assert cat["nulls"].name == "nulls" and cat["nulls"].versions == [] and cat["nulls"].features == Features()
    odd = cat["odd"]
    assert odd.features.status == 1 and odd.features.image.image == "nginx" and odd.features.backups == "true"
    assert odd.versions == [RecipeVersion("1.0.0+1", {"app": CatalogueImage("x", "1", "")})]
    # a list of recipe objects is accepted too
    as_list = parse_catalogue(json.dumps([{"name": "x", "category": "Apps"}]))
    assert as_list["x"].category == "Apps"


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"string"', '{"x": 3}', "[{}]"])
def test_not_a_catalogue(text):
    with pytest.raises(CatalogueError) as info:
        parse_catalogue(text, source="https://example.org/recipes.json")
    assert info.value.exit_status == ExitStatus.INVALID
    assert "https://example.org/recipes.json" in str(info.value)


def test_save_and_load(tmp_path):
    cat = Catalogue()
    cat.add(
        RecipeMeta(
            "demo",
            category="Apps",
            versions=[RecipeVersion("1.0.0+1", {"app": CatalogueImage("nginx", "1", "sha256:" + "a" * 64)})],
        )
    )
    path = tmp_path / "catalogue" / "recipes.json"
    save(path, cat)
    assert load(path)["demo"].versions == cat["demo"].versions
    assert path.read_text() == dumps(cat)
    assert [p.name for p in path.parent.iterdir()] == ["recipes.json"]  # no temp file left
    with pytest.raises(NotFound) as info:
        load(tmp_path / "missing.json")
    assert "coop catalogue sync" in str(info.value)


def test_search():
    cat = parse_catalogue(
        json.dumps(
            {
                "nextcloud": {"description": "A safe home for all your data", "category": "Apps"},
                "gitea": {"description": "Git with a cup of tea", "category": "Development"},
                "traefik": {"description": "Reverse proxy", "category": "Utilities"},
            }
        )
    )
    names = lambda p: [m.name for m in cat.search(p)]  # noqa: E731
    assert names(None) == ["gitea", "nextcloud", "traefik"]
    assert names("GIT") == ["gitea"]
    assert names("data") == ["nextcloud"]
    assert names("utilities") == ["traefik"]
    assert names("*cloud") == ["nextcloud"]
    assert names("nothing-like-this") == []


@pytest.mark.parametrize(
    "value, status",
    [(2, 2), ("3", 3), ("1, alpha", 1), ("❶💚", 1), ("❸🍎", 3), ("?", 0), ("", 0), (None, 0), ("beta", 0), (True, 0)],
)
def test_status(value, status):
    assert parse_status(value) == status


@pytest.mark.corpus
def test_features_from_corpus_readmes():
    bonfire = features_from_metadata(recipe_from_dir(CORPUS / "bonfire").readme_metadata())
    assert bonfire.status == 1
    assert bonfire.image == ImageFeature(
        "bonfirenetworks/bonfire", "4", "upstream", "https://hub.docker.com/r/bonfirenetworks/bonfire/tags"
    )
    assert bonfire.healthcheck == ""
    lemp = features_from_metadata(recipe_from_dir(CORPUS / "lemp").readme_metadata())
    assert (lemp.status, lemp.healthcheck, lemp.backups, lemp.tests) == (1, "Yes", "Yes", "❷💛")
    assert lemp.image.image == "php" and lemp.image.source == "upstream"
    llamenos = features_from_metadata(recipe_from_dir(CORPUS / "llamenos").readme_metadata())
    assert llamenos.image.image == "ghcr.io/rhonda-rodododo/llamenos" and llamenos.image.rating == ""
    traefik = features_from_metadata(recipe_from_dir(CORPUS / "traefik-2021").readme_metadata())
    assert traefik.status == 0 and traefik.sso == "? (Keycloak)" and traefik.email == "N/A"
    # no README at all: empty features, no crash
    assert features_from_metadata(recipe_from_dir(CORPUS / "nodex").readme_metadata()) == Features()


def test_readme_description():
    assert readme_description("# Gitea\n\n> Git with a cup of tea\n\n<!-- metadata -->\n") == "Git with a cup of tea"
    assert readme_description("# X\n<!-- metadata -->\n> not this\n") == ""
    assert readme_description(None) == ""


@pytest.mark.parametrize(
    "remote, repository, ssh",
    [
        (None, "", ""),
        ("https://git.coopcloud.tech/coop-cloud/gitea.git", "https://git.coopcloud.tech/coop-cloud/gitea.git", ""),
        ("https://user:token@git.example.org/r/x.git", "https://git.example.org/r/x.git", ""),
        ("git@git.example.org:r/x.git", "https://git.example.org/r/x.git", "ssh://git@git.example.org/r/x.git"),
        (
            "ssh://git@git.coopcloud.tech:2222/coop-cloud/gitea.git",
            "https://git.coopcloud.tech/coop-cloud/gitea.git",
            "ssh://git@git.coopcloud.tech:2222/coop-cloud/gitea.git",
        ),
        ("/srv/git/recipes/x", "/srv/git/recipes/x", ""),
    ],
)
def test_repository_urls(remote, repository, ssh):
    assert repository_urls(remote) == (repository, ssh)
