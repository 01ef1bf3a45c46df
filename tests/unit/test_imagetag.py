"""Image tags as versions: parsing, formats, ordering, change classes, candidates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coopcloud.domain.imagetag import (
    MAJOR,
    MINOR,
    PATCH,
    ImageParts,
    allowed,
    biggest,
    change_class,
    is_floating,
    newer_tags,
    parse_tag,
    split_image,
    with_defaults,
)


@pytest.mark.parametrize(
    "tag, prefix, numbers, fmt, pre",
    [
        ("1.27.2", "", (1, 27, 2), "N.N.N", None),
        ("v2.4.8", "v", (2, 4, 8), "vN.N.N", None),
        ("17-3.5-alpine", "", (17, 3, 5), "N-N.N-alpine", None),
        ("1.14.1-rootless", "", (1, 14, 1), "N.N.N-rootless", None),
        ("8.2-fpm", "", (8, 2), "N.N-fpm", None),
        ("2024.01.05", "", (2024, 1, 5), "N.N.N", None),
        ("v1.2.3-rc1", "v", (1, 2, 3), "vN.N.N", ("rc", 1)),
        ("1.2.3-beta.2-alpine", "", (1, 2, 3), "N.N.N-alpine", ("beta", 2)),
        ("3.13.0b1", "", (3, 13, 0), "N.N.N", ("beta", 1)),
        ("8.0-fpm-alpine3.13", "", (8, 0), "N.N-fpm-alpine3.13", None),
        ("20", "", (20,), "N", None),
        ("10.6", "", (10, 6), "N.N", None),
        ("1.0.5-social-amd64", "", (1, 0, 5), "N.N.N-social-amd64", None),
        ("1.2-bookworm", "", (1, 2), "N.N-bookworm", None),
    ],
)
def test_parse(tag, prefix, numbers, fmt, pre):
    t = parse_tag(tag)
    assert t is not None
    assert (t.prefix, t.numbers, str(t.format), t.prerelease) == (prefix, numbers, fmt, pre)
    assert str(t) == tag


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "stable",
        "edge",
        "nightly",
        "dev",
        "main",
        "master",
        "mainline",
        "LATEST",
        "testing",
        "alpine",
        "RELEASE.2025-01-20T14-49-07Z",
        "sha-abc123",
        "1a2b3c4",
        "20240101abc",
        "",
        "-1.0",
        "1.0/x",
        "1.0:2",
    ],
)
def test_floating_or_unversioned_tags_are_not_versions(tag):
    assert parse_tag(tag) is None
    assert is_floating(tag)


def test_same_format_only():
    tags = [
        "1.15.0",
        "1.15.0-rootless",
        "1.14.2-rootless",
        "latest",
        "1.14.0-rootless",
        "1.15-rootless",
        "v1.16.0-rootless",
    ]
    assert [t.raw for t in newer_tags("1.14.1-rootless", tags)] == ["1.15.0-rootless", "1.14.2-rootless"]


def test_postgis_major_minor_suffix():
    tags = [
        "17-3.5-alpine",
        "17-3.6-alpine",
        "18-3.5-alpine",
        "17-3.6",
        "17-4.0-alpine",
        "17.3.6-alpine",
        "16-3.5-alpine",
    ]
    assert [t.raw for t in newer_tags("17-3.5-alpine", tags)] == ["18-3.5-alpine", "17-4.0-alpine", "17-3.6-alpine"]
    assert [t.raw for t in newer_tags("17-3.5-alpine", tags, level=MINOR)] == ["17-4.0-alpine", "17-3.6-alpine"]
    assert [t.raw for t in newer_tags("17-3.5-alpine", tags, level=PATCH)] == ["17-3.6-alpine"]


def test_v_prefix_is_part_of_the_format():
    assert [t.raw for t in newer_tags("v2.4.8", ["2.5.0", "v2.5.0", "v2.4.9", "v2.4"])] == ["v2.5.0", "v2.4.9"]


def test_width_is_part_of_the_format():
    assert [t.raw for t in newer_tags("1.27", ["1.28", "1.28.0", "2", "1.27.1"])] == ["1.28"]


def test_levels():
    tags = ["1.0.0", "1.0.1", "1.1.0", "2.0.0", "latest", "1.0.0-rootless", "0.9.0", "1.0.2"]
    assert [t.raw for t in newer_tags("1.0.0", tags)] == ["2.0.0", "1.1.0", "1.0.2", "1.0.1"]
    assert [t.raw for t in newer_tags("1.0.0", tags, level=MAJOR)] == ["2.0.0", "1.1.0", "1.0.2", "1.0.1"]
    assert [t.raw for t in newer_tags("1.0.0", tags, level=MINOR)] == ["1.1.0", "1.0.2", "1.0.1"]
    assert [t.raw for t in newer_tags("1.0.0", tags, level=PATCH)] == ["1.0.2", "1.0.1"]


def test_floating_current_gets_no_candidates():
    assert newer_tags("latest", ["1.0.0", "2.0.0"]) == []
    assert newer_tags("mainline", ["1.0.0"]) == []


def test_prereleases_only_from_a_prerelease():
    tags = ["v1.2.3", "v1.2.4-rc1", "v1.3.0-beta.1", "v1.2.3-rc2", "v1.2.3-rc1", "v1.2.2"]
    assert [t.raw for t in newer_tags("v1.2.2", tags)] == ["v1.2.3"]
    assert [t.raw for t in newer_tags("v1.2.3-rc1", tags)] == ["v1.3.0-beta.1", "v1.2.4-rc1", "v1.2.3", "v1.2.3-rc2"]


def test_prerelease_order():
    order = [
        "1.0.0-dev1",
        "1.0.0-alpha",
        "1.0.0-alpha2",
        "1.0.0-beta1",
        "1.0.0-rc1",
        "1.0.0-rc2",
        "1.0.0",
        "1.0.1-alpha1",
    ]
    parsed = [parse_tag(t) for t in order]
    assert sorted(parsed) == parsed


def test_numbers_compare_numerically_not_as_text():
    assert [t.raw for t in newer_tags("1.9.0", ["1.10.0", "1.9.10", "1.9.9"])] == ["1.10.0", "1.9.10", "1.9.9"]
    assert [t.raw for t in newer_tags("2024.01.05", ["2024.01.10", "2024.02.01", "2023.12.31", "2025.01.01"])] == [
        "2025.01.01",
        "2024.02.01",
        "2024.01.10",
    ]


def test_duplicates_dropped_and_order_stable():
    assert [t.raw for t in newer_tags("1.0", ["1.1", "1.1", "1.2"])] == ["1.2", "1.1"]


@pytest.mark.parametrize(
    "old, new, cls",
    [
        ("1.0.0", "2.0.0", MAJOR),
        ("1.0.0", "1.1.0", MINOR),
        ("1.0.0", "1.0.1", PATCH),
        ("1.0.0", "1.0.0-rootless", PATCH),  # same numbers, other suffix
        ("v1.2.3-rc1", "v1.2.3", PATCH),
        ("17-3.5-alpine", "17-3.6-alpine", PATCH),
        ("17-3.5-alpine", "17-4.0-alpine", MINOR),
        ("17-3.5-alpine", "18-3.5-alpine", MAJOR),
        ("1.27", "1.28.0", MINOR),
        ("1.27", "1.27.1", PATCH),
        ("2.0.0", "1.0.0", MAJOR),  # a downgrade is still a change of that size
        ("1.0.0", "1.0.0", None),
        ("latest", "1.0.0", None),
        ("1.0.0", "stable", None),
    ],
)
def test_change_class(old, new, cls):
    assert change_class(old, new) == cls


def test_biggest_and_allowed():
    assert biggest([PATCH, None, MINOR]) == MINOR
    assert biggest([PATCH, MAJOR, MINOR]) == MAJOR
    assert biggest([None]) is None
    assert allowed(PATCH, MINOR) and allowed(MINOR, MINOR) and not allowed(MAJOR, MINOR)
    assert allowed(MAJOR, MAJOR) and not allowed(MINOR, PATCH)


@pytest.mark.parametrize(
    "image, name, tag, digest",
    [
        ("nginx", "nginx", None, None),
        ("nginx:1.27", "nginx", "1.27", None),
        ("127.0.0.1:5000/coop-test/web:1.0.0", "127.0.0.1:5000/coop-test/web", "1.0.0", None),
        ("127.0.0.1:5000/coop-test/web", "127.0.0.1:5000/coop-test/web", None, None),
        ("ghcr.io/a/b:v1@sha256:abc", "ghcr.io/a/b", "v1", "sha256:abc"),
        ("ghcr.io/a/b@sha256:abc", "ghcr.io/a/b", None, "sha256:abc"),
    ],
)
def test_split_image(image, name, tag, digest):
    ref = split_image(image)
    assert (ref.name, ref.tag, ref.digest) == (name, tag, digest)
    assert str(ref) == image


def test_with_defaults():
    assert with_defaults("${DB_IMAGE:-postgis/postgis}:${DB_VERSION:-17-3.5}") == "postgis/postgis:17-3.5"
    assert with_defaults("${X-a}:1") == "a:1"
    assert with_defaults("nginx:${TAG}") is None
    assert with_defaults("nginx:$TAG") is None
    assert with_defaults("nginx:1.2") == "nginx:1.2"


# -- properties -----------------------------------------------------------------------------------

numbers = st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=4)
seps = st.sampled_from([".", "-", "_"])
suffixes = st.sampled_from(["", "-alpine", "-rootless", "-fpm", "-fpm-alpine3.13", "-slim"])
prefixes = st.sampled_from(["", "v"])


@st.composite
def tags_of_format(draw, width=None, sep=None, prefix=None, suffix=None):
    width = width or draw(st.integers(min_value=1, max_value=4))
    nums = draw(st.lists(st.integers(min_value=0, max_value=300), min_size=width, max_size=width))
    sep = sep if sep is not None else draw(seps)
    prefix = prefix if prefix is not None else draw(prefixes)
    suffix = suffix if suffix is not None else draw(suffixes)
    return prefix + sep.join(str(n) for n in nums) + suffix


@given(tags_of_format())
def test_property_parse_round_trips(tag):
    t = parse_tag(tag)
    assert t is not None and t.raw == tag
    assert str(t.format).count("N") == len(t.numbers)


@given(st.data())
def test_property_candidates_are_newer_same_format_and_sorted(data):
    width = data.draw(st.integers(min_value=1, max_value=4))
    sep = data.draw(seps)
    prefix = data.draw(prefixes)
    suffix = data.draw(suffixes)
    same = tags_of_format(width=width, sep=sep, prefix=prefix, suffix=suffix)
    current = data.draw(same)
    pool = data.draw(
        st.lists(st.one_of(same, tags_of_format(), st.sampled_from(["latest", "stable", "edge"])), max_size=25)
    )
    level = data.draw(st.sampled_from([PATCH, MINOR, MAJOR]))
    cur = parse_tag(current)
    got = newer_tags(current, pool, level=level)
    for t in got:
        assert t.format == cur.format
        assert t > cur
        assert allowed(change_class(cur, t), level)
        assert t.raw in pool
    assert got == sorted(got, reverse=True)
    assert len({t.raw for t in got}) == len(got)
    # nothing newer of the same format within the level was left out
    expected = {
        p
        for p in pool
        if parse_tag(p) is not None
        and parse_tag(p).format == cur.format
        and parse_tag(p) > cur
        and allowed(change_class(current, p), level)
    }
    assert {t.raw for t in got} == expected


@given(st.data())
def test_property_levels_nest(data):
    current = data.draw(tags_of_format(width=3, sep=".", prefix="", suffix=""))
    pool = data.draw(st.lists(tags_of_format(width=3, sep=".", prefix="", suffix=""), max_size=20))
    p = {t.raw for t in newer_tags(current, pool, level=PATCH)}
    mi = {t.raw for t in newer_tags(current, pool, level=MINOR)}
    ma = {t.raw for t in newer_tags(current, pool, level=MAJOR)}
    assert p <= mi <= ma


@given(numbers, numbers)
def test_property_change_class_matches_first_difference(a, b):
    old, new = ".".join(map(str, a)), ".".join(map(str, b))
    cls = change_class(old, new)
    width = max(len(a), len(b))
    pa, pb = a + [0] * (width - len(a)), b + [0] * (width - len(b))
    diff = [i for i in range(width) if pa[i] != pb[i]]
    if old == new:
        assert cls is None
    elif not diff:
        assert cls == PATCH
    else:
        assert cls == (MAJOR if diff[0] == 0 else MINOR if diff[0] == 1 else PATCH)


def test_split_image_keeps_an_empty_tag_as_written():
    assert split_image("nginx:") == ImageParts("nginx", "", None)
    assert split_image("nginx@") == ImageParts("nginx", None, None)
