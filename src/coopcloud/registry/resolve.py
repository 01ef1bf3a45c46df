"""What `docker stack deploy` (its default `--resolve-image always`) makes of an image tag.

The docker client asks the engine for the image's distribution descriptor
(``GET /distribution/{image}/json``) and then, in the service spec it sends:

- pins the image by digest, keeping its tag: ``web:1.0@sha256:…``;
- sets ``TaskTemplate.Placement.Platforms`` to the platforms of the manifest (each
  entry of a manifest list, or the one image's), architecture and OS only, with
  the architecture left empty for ``arm`` (swarm nodes report ``armv7l``…, which
  would never match: docker/swarmkit#2294).

    >>> r = resolved_image("web:1.0", {"Descriptor": {"digest": "sha256:ab"},
    ...                                "Platforms": [{"architecture": "amd64", "os": "linux"}]})
    >>> r.image, r.platforms
    ('web:1.0@sha256:ab', ({'Architecture': 'amd64', 'OS': 'linux'},))

Filling both as docker does means a service deployed by either tool reads as
unchanged to the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from coopcloud.rawdata import as_map, get_list, get_map, get_str


@dataclass(frozen=True)
class ResolvedImage:
    image: str  # pinned by digest
    platforms: tuple[dict[str, str], ...]  # swarm.Platform objects, as the engine takes them


def resolved_image(image: str, distribution: object) -> ResolvedImage:
    """`image` pinned by the descriptor's digest, and the platforms docker would place it on.

    `distribution` is the engine's decoded answer. KeyError when it carries no digest.
    """
    answer = as_map(distribution, "distribution")
    digest = get_str(get_map(answer, "Descriptor"), "digest")
    if not digest:
        raise KeyError("Descriptor.digest")
    pinned = image if "@" in image else f"{image}@{digest}"
    platforms = []
    for p in (as_map(found, "Platforms") for found in get_list(answer, "Platforms")):
        arch = get_str(p, "architecture")
        platform = {"Architecture": "" if arch.lower() == "arm" else arch, "OS": get_str(p, "os")}
        platforms.append({k: v for k, v in platform.items() if v})  # both fields are omitempty in Go
    return ResolvedImage(pinned, tuple(platforms))
