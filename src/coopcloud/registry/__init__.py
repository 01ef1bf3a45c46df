"""Docker registry v2 client: image references, manifest digests, tag lists, token auth.

    from coopcloud.registry import RegistryClient
    RegistryClient().digest("127.0.0.1:5000/coop-test/web:1.0.0")   # 'sha256:…'

Requests go through `coopcloud.httpclient` (urllib is imported when one is sent),
so importing this package costs nothing at `coop --help`.
"""

from coopcloud.registry.client import MANIFEST_MEDIA_TYPES, RegistryClient
from coopcloud.registry.errors import (
    ImageRefError,
    RegistryError,
    RegistryNotFound,
    RegistryOffline,
    RegistryUnreachable,
)
from coopcloud.registry.reference import ImageRef, is_loopback, parse_image_ref

__all__ = [
    "MANIFEST_MEDIA_TYPES",
    "ImageRef",
    "ImageRefError",
    "RegistryClient",
    "RegistryError",
    "RegistryNotFound",
    "RegistryOffline",
    "RegistryUnreachable",
    "is_loopback",
    "parse_image_ref",
]
