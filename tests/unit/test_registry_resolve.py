"""Image resolution as the docker client does it for `docker stack deploy --resolve-image always`."""

import doctest

import pytest

from coopcloud.registry import resolve
from coopcloud.registry.resolve import resolved_image


def test_doctest():
    assert doctest.testmod(resolve).failed == 0


def test_manifest_list_platforms_keep_their_order_and_lose_variants_and_arm():
    answer = {
        "Descriptor": {"digest": "sha256:cd"},
        "Platforms": [
            {"architecture": "amd64", "os": "linux"},
            {"architecture": "arm", "os": "linux", "variant": "v7"},
            {"architecture": "arm64", "os": "linux", "variant": "v8"},
            {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1"},
        ],
    }
    r = resolved_image("127.0.0.1:5000/web:1", answer)
    assert r.image == "127.0.0.1:5000/web:1@sha256:cd"
    assert r.platforms == (
        {"Architecture": "amd64", "OS": "linux"},
        {"OS": "linux"},
        {"Architecture": "arm64", "OS": "linux"},
        {"Architecture": "amd64", "OS": "windows"},
    )


def test_no_platforms_and_already_pinned_images():
    r = resolved_image("web@sha256:aa", {"Descriptor": {"digest": "sha256:aa"}})
    assert (r.image, r.platforms) == ("web@sha256:aa", ())
    with pytest.raises(KeyError):
        resolved_image("web:1", {"message": "no such manifest"})
