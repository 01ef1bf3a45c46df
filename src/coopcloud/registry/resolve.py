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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResolvedImage:
    image: str  # pinned by digest
    platforms: tuple[dict[str, str], ...]  # swarm.Platform objects, as the engine takes them


def resolved_image(image: str, distribution: Mapping[str, Any]) -> ResolvedImage:
    """`image` pinned by the descriptor's digest, and the platforms docker would place it on.

    KeyError when the answer carries no digest.
    """
    digest = distribution["Descriptor"]["digest"]
    pinned = image if "@" in image else f"{image}@{digest}"
    platforms = []
    for p in distribution.get("Platforms") or []:
        arch = p.get("architecture") or ""
        platform = {"Architecture": "" if arch.lower() == "arm" else arch, "OS": p.get("os") or ""}
        platforms.append({k: v for k, v in platform.items() if v})  # both fields are omitempty in Go
    return ResolvedImage(pinned, tuple(platforms))
