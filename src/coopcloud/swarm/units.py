"""Parsing of the scalar formats `docker stack config` prints: Go durations,
byte sizes, CPU counts, and image references (normalised as the Docker client
does before POST /services/create).
"""

from __future__ import annotations

import re
from fractions import Fraction

from coopcloud.domain.imagetag import DOCKER_DIGEST, DOCKER_TAG
from coopcloud.errors import ConvertError

# -- durations -----------------------------------------------------------

_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5, what Go prints
    "μs": 1_000,  # U+03BC
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def duration_ns(value: object, what: str) -> int:
    """Nanoseconds of a Go duration string (``"1m30s"`` → 90_000_000_000).

    Same grammar as Go's ``time.ParseDuration``: an optional sign, then one or
    more decimal numbers each with a unit (ns, us/µs, ms, s, m, h); ``"0"``
    alone is zero.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        raise ConvertError(f'{what}: expected a duration like "30s" or "1m30s", got {value!r}')
    text = value.strip()
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    pos, total = 0, Fraction(0)
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m:
            break
        total += Fraction(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ConvertError(f'{what}: invalid duration {value!r} (use e.g. "30s", "1m30s", "500ms")')
    return sign * int(total)  # Go truncates fractions of a nanosecond


# -- byte sizes ----------------------------------------------------------

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$", re.IGNORECASE)
_BINARY = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def size_bytes(value: object, what: str) -> int:
    """Bytes of a size: an int, a digit string (what `docker stack config`
    prints), or a unit string like ``"50M"`` (binary units, as docker's
    ``RAMInBytes``)."""
    if isinstance(value, bool):
        raise ConvertError(f"{what}: expected a size in bytes, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        m = _SIZE.match(value.strip())
        if m:
            return int(Fraction(m.group(1)) * _BINARY[m.group(2).lower()])
    raise ConvertError(f'{what}: invalid size {value!r} (use bytes, or e.g. "512M", "1G")')


def nano_cpus(value: object, what: str) -> int:
    """NanoCPUs of a CPU count (``"0.5"`` → 500_000_000), exact as docker's ``ParseCPUs``."""
    try:
        cpus = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise ConvertError(f"{what}: failed to parse {value!r} as a number of CPUs") from None
    nano = cpus * 1_000_000_000
    if nano.denominator != 1:
        raise ConvertError(f"{what}: {value!r} is too precise (at most 9 decimals)")
    return int(nano)


# -- image references ----------------------------------------------------

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE = re.compile(rf"^({_NAME})(?::({DOCKER_TAG}))?(?:@({DOCKER_DIGEST}))?$")
_IMAGE_ID = re.compile(r"^[a-f0-9]{64}$")


def tagged_image(image: str) -> str:
    """The image string the Docker client sends: familiar form, ``:latest``
    added when there is neither tag nor digest (``busybox`` → ``busybox:latest``,
    ``docker.io/library/busybox:1`` → ``busybox:1``). Unparseable references are
    sent unchanged, as the client does."""
    if _IMAGE_ID.match(image):
        return image
    slash = image.find("/")
    first = image[:slash] if slash >= 0 else ""
    if slash == -1 or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = "docker.io", image
    else:
        domain, remainder = first, image[slash + 1 :]
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in remainder:
        remainder = "library/" + remainder
    m = _REFERENCE.match(f"{domain}/{remainder}")
    if not m:
        return image
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > 255:
        return image
    path = name[len(domain) + 1 :]  # lowercase: the grammar refuses capitals here
    if tag is None and digest is None:
        tag = "latest"
    if domain == "docker.io":
        name = path[len("library/") :] if path.startswith("library/") and path.count("/") == 1 else path
    out = name
    if tag is not None:
        out += ":" + tag
    if digest is not None:
        out += "@" + digest
    return out
