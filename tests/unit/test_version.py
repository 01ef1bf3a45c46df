import pytest
from hypothesis import given
from hypothesis import strategies as st

from coopcloud.domain.version import (
    Version,
    latest,
    parse_version,
    resolve_version,
    versions_from_tags,
)
from coopcloud.errors import NotFound, RecipeError
from shared_data import CORPUS


@pytest.mark.parametrize(
    "tag, semver, upstream",
    [
        ("1.7.1+1.27.2", "1.7.1", "1.27.2"),
        ("0.1.0+latest", "0.1.0", "latest"),
        ("2.0.1+1.0.6-social-amd64", "2.0.1", "1.0.6-social-amd64"),
        ("1.0.0+v2.4.8", "1.0.0", "v2.4.8"),
        ("1.0.0-rc.1+27.0.0-fpm", "1.0.0-rc.1", "27.0.0-fpm"),
        ("v1.0.3", "1.0.3", None),
        ("3.0.0+2023_08_01", "3.0.0", "2023_08_01"),
    ],
)
def test_parse(tag, semver, upstream):
    v = parse_version(tag)
    assert (v.tag, v.semver, v.upstream, str(v)) == (tag, semver, upstream, tag)


@pytest.mark.parametrize("tag", ["latest", "1.0", "01.2.3+x", "1.2.3+", "1.2.3+a+b", "1.2.3 +x", ""])
def test_malformed(tag):
    with pytest.raises(RecipeError, match="not a recipe version"):
        parse_version(tag)


def test_ordering_ignores_plus_part_and_follows_semver():
    tags = ["1.10.0+a", "1.2.0+z", "1.2.0-rc.1+z", "1.2.0-rc.2+z", "1.2.0-beta+z", "1.2.0-rc.10+z", "0.9.9+b"]
    ordered = [v.tag for v in sorted(parse_version(t) for t in tags)]
    assert ordered == [
        "0.9.9+b",
        "1.2.0-beta+z",
        "1.2.0-rc.1+z",
        "1.2.0-rc.2+z",
        "1.2.0-rc.10+z",
        "1.2.0+z",
        "1.10.0+a",
    ]
    a, b = parse_version("1.0.0+a"), parse_version("1.0.0+b")
    assert not a < b and not b < a and a <= b and a != b


def test_versions_from_tags_reports_ignored_and_duplicates():
    tags = [
        ("1.1.0+1.27.2", True),
        ("1.0.0+1.27.1", True),
        ("1.2.0+1.27.3", False),  # lightweight
        ("latest", True),  # malformed
        ("v1.3.0", True),
        ("1.4.0+a", True),
        ("1.4.0+b", True),
    ]
    versions, issues = versions_from_tags(tags)
    assert [v.tag for v in versions] == ["1.0.0+1.27.1", "1.1.0+1.27.2", "v1.3.0", "1.4.0+a", "1.4.0+b"]
    kinds = {(i.tag, i.kind) for i in issues}
    assert kinds == {
        ("1.2.0+1.27.3", "lightweight"),
        ("latest", "malformed"),
        ("v1.3.0", "v-prefix"),
        ("v1.3.0", "no-image-tag"),
        ("1.4.0+a", "duplicate"),
    }
    dup = next(i for i in issues if i.kind == "duplicate")
    assert dup.error and "'1.4.0+a' and '1.4.0+b'" in str(dup)
    assert "lightweight" in str(next(i for i in issues if i.tag == "1.2.0+1.27.3"))


def test_versions_from_gitops_tags():
    from coopcloud.gitops import Tag

    versions, issues = versions_from_tags([Tag("1.0.0+1", True, "c" * 40)])
    assert [v.tag for v in versions] == ["1.0.0+1"] and issues == []


@pytest.mark.corpus
@pytest.mark.parametrize("recipe", ["bonfire", "foodsharing-cms", "traefik-2021"])
def test_corpus_tags(recipe):
    names = (CORPUS / recipe / "TAGS").read_text().split()
    versions, issues = versions_from_tags([(n, True) for n in names])
    assert len(versions) == len(names)  # v-prefixed tags are kept, with warnings
    assert not any(i.error for i in issues)
    if recipe == "foodsharing-cms":
        assert [v.semver for v in versions] == ["1.0.0", "1.0.1", "1.0.2", "1.0.3"]
        assert {i.kind for i in issues} == {"v-prefix", "no-image-tag"}


def test_resolve_and_latest():
    versions, _ = versions_from_tags(
        [("1.0.0+a", True), ("1.1.0+b", True), ("2.0.0-rc.1+c", True), ("1.5.0+x", True), ("1.5.0+y", True)]
    )
    assert resolve_version(versions, "1.1.0+b").tag == "1.1.0+b"
    assert resolve_version(versions, "1.1.0").tag == "1.1.0+b"
    assert resolve_version(versions, "v1.0.0").tag == "1.0.0+a"
    assert resolve_version(versions, "1.5.0+y").tag == "1.5.0+y"
    with pytest.raises(RecipeError, match="ambiguous: 1.5.0\\+x, 1.5.0\\+y"):
        resolve_version(versions, "1.5.0")
    with pytest.raises(NotFound, match="no version '9.0.0'"):
        resolve_version(versions, "9.0.0")
    assert latest(versions).tag == "1.5.0+y"
    assert latest(versions, prereleases=True).tag == "2.0.0-rc.1+c"
    assert latest([]) is None


nums = st.integers(min_value=0, max_value=50)


@given(st.lists(st.tuples(nums, nums, nums), min_size=1, max_size=10))
def test_sorting_matches_numeric_tuples(triples):
    versions = [parse_version(f"{a}.{b}.{c}+img") for a, b, c in triples]
    assert [(v.major, v.minor, v.patch) for v in sorted(versions)] == sorted(triples)
    assert isinstance(versions[0], Version)
