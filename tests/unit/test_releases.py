"""The release look-up behind `coop autoupdate` and `app ls --status`: the newest release above a deployed one."""

import doctest
import json
import threading

from coopcloud.domain import version
from coopcloud.domain.version import newest_above, parse_version
from coopcloud.ops import releases
from coopcloud.ops.releases import CATALOGUE, CLONE, NONE, ReleaseLookup, available, recipe_releases
from coopcloud.settings import Settings
from recipe_factory import make_recipe_repo


def v(tag):
    return parse_version(tag)


def test_doctests():
    assert doctest.testmod(releases).failed == 0
    assert doctest.testmod(version).failed == 0


def test_newest_above_stays_in_the_major_and_skips_prereleases():
    vs = [v("1.0.0+a"), v("1.0.1+a"), v("1.3.0-rc1+a"), v("1.2.0+a"), v("2.0.0+b"), v("3.0.0-beta+c")]
    assert newest_above(vs, v("1.0.0+a")).tag == "1.2.0+a"
    assert newest_above(vs, v("1.0.0+a"), major=True).tag == "2.0.0+b"
    assert newest_above(vs, v("1.2.0+a")) is None
    # an app running a pre-release is offered pre-releases
    assert newest_above(vs, v("1.3.0-rc0+a")).tag == "1.3.0-rc1+a"


def test_available_names_a_major_beyond_the_upgrade():
    vs = [v("1.0.0+a"), v("1.1.0+a"), v("2.0.0+b")]
    a = available(vs, "1.1.0+a")
    assert (a.deployed.tag, a.upgrade, a.major.tag) == ("1.1.0+a", None, "2.0.0+b")
    a = available(vs, "1.1.0+a", major=True)
    assert (a.upgrade.tag, a.major) == ("2.0.0+b", None)
    assert available(vs, "2.0.0+b") == available(vs, "2.0.0+b", major=True)
    assert available(vs, "0a1b2c3d").deployed is None  # a chaos commit is no release
    assert available(vs, None).upgrade is None


def _settings(tmp_path, **flags) -> Settings:
    return Settings(root=tmp_path / "abra", docker_config=tmp_path / "docker", **flags)


def test_clone_tags_else_catalogue_else_none(tmp_path):
    s = _settings(tmp_path, offline=True)
    files = {"compose.yml": "services: {}\n"}
    make_recipe_repo(s.recipes_dir / "web", files, [("1.0.0+1", {}), ("1.1.0+1", {"a": "b"}), ("junk", {})])
    found = recipe_releases(s, "web")
    assert found.source == CLONE and [x.tag for x in found.versions] == ["1.0.0+1", "1.1.0+1"]
    assert any("'junk' ignored" in w for w in found.warnings)

    s.catalogue_dir.mkdir(parents=True)
    s.catalogue_file.write_text(json.dumps({"cat": {"name": "cat", "versions": [{"2.0.0+2": {}}, {"1.0.0+1": {}}]}}))
    found = recipe_releases(s, "cat")
    assert found.source == CATALOGUE and [x.tag for x in found.versions] == ["1.0.0+1", "2.0.0+2"]

    found = recipe_releases(s, "nowhere")
    assert found.source == NONE and found.versions == () and "neither cloned nor in the catalogue" in found.warnings[0]


def test_lookup_asks_once_per_recipe_from_many_threads(tmp_path):
    s = _settings(tmp_path, offline=True)
    for name in ("a", "b"):
        make_recipe_repo(s.recipes_dir / name, {"compose.yml": "services: {}\n"}, [("1.0.0+1", {})])
    lookup = ReleaseLookup(s)
    got: list = []
    threads = [threading.Thread(target=lambda n=n: got.append(lookup.get(n))) for n in ["a", "b", "a", "a", "b"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # one Releases per recipe, the same object for every caller: looked up once
    assert len({id(r) for r in got}) == 2 and sorted(r.recipe for r in got) == ["a", "a", "a", "b", "b"]
