"""What ``docker stack deploy`` refuses before its first request, beyond what ``docker stack config`` checks.

`coopcloud.compose.load` answers exactly as ``docker stack config`` (which prints a service without an
image, a secret without a file, ``replicas: 1e+23``). Deploying such a model fails — in docker's
client, or in the engine after networks and configs were already created. `check_deployable` refuses
it up front, naming the service or object, so nothing is changed on the server:

- every service has an image ("no image specified");
- integer fields fit the Go type docker decodes them into, or the range the engine accepts;
- a secret or config has a ``file:`` or is ``external: true`` (a secret may instead have a ``driver:``).

    >>> check_deployable({"services": {"app": {"image": "nginx:1", "deploy": {"replicas": -1}}}}, "/w", ["compose.yml"])
    Traceback (most recent call last):
    ...
    coopcloud.errors.ComposeError: compose.yml: service app: deploy.replicas -1 is out of range (0 to 18446744073709551615)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from coopcloud.compose import KeyPath, format_path
from coopcloud.errors import ComposeError
from coopcloud.rawdata import RawMap, as_map, get_map

_U64 = (0, 2**64 - 1)
_U32 = (0, 2**32 - 1)
_I64 = (-(2**63), 2**63 - 1)
_PORT = (0, 65535)
# Paths inside a service ("*" any key, "[]" any item) and the range their integers must fit.
SERVICE_RANGES: list[tuple[tuple[str, ...], tuple[int, int]]] = [
    (("deploy", "replicas"), _U64),
    (("deploy", "update_config", "parallelism"), _U64),
    (("deploy", "rollback_config", "parallelism"), _U64),
    (("deploy", "restart_policy", "max_attempts"), _U64),
    (("deploy", "placement", "max_replicas_per_node"), _U64),
    (("deploy", "resources", "limits", "pids"), _I64),
    (("healthcheck", "retries"), _U64),
    (("oom_score_adj",), (-1000, 1000)),  # the kernel's range, which the engine checks
    (("ports", "[]", "target"), _PORT),
    (("ports", "[]", "published"), _PORT),
    (("configs", "[]", "mode"), _U32),
    (("secrets", "[]", "mode"), _U32),
    (("ulimits", "*"), _I64),
    (("ulimits", "*", "soft"), _I64),
    (("ulimits", "*", "hard"), _I64),
]


def _at(value: object, pattern: tuple[str, ...], path: KeyPath) -> Iterator[tuple[KeyPath, object]]:
    """(path, value) of everything in `value` that `pattern` reaches."""
    if not pattern:
        yield path, value
        return
    head, rest = pattern[0], pattern[1:]
    if head == "[]":
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from _at(item, rest, path + (i,))
    elif isinstance(value, dict):
        for key in list(value) if head == "*" else [head] if head in value else []:
            yield from _at(value[key], rest, path + (key,))


def _number(value: object) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and value.lstrip("+-").isdigit() and value.isascii():
        return int(value)
    return None


def check_deployable(model: RawMap, working_dir: str, file_names: Sequence[str]) -> None:
    """Raise ComposeError for the first thing in a loaded `model` that ``docker stack deploy`` would refuse."""
    where = ", ".join(file_names)
    for sname, svc_value in get_map(model, "services").items():
        svc = as_map(svc_value)
        if not svc.get("image"):
            raise ComposeError(f"{where}: service {sname}: no image specified", hint="give the service an `image:`")
        for pattern, (low, high) in SERVICE_RANGES:
            for path, raw in _at(svc, pattern, ()):
                n = _number(raw)
                if n is not None and not low <= n <= high:
                    shown = f"{n:g}" if isinstance(n, float) else str(n)
                    raise ComposeError(
                        f"{where}: service {sname}: {format_path(path)} {shown} is out of range ({low} to {high})"
                    )
    for section, kind in (("secrets", "secret"), ("configs", "config")):
        for name, obj_value in get_map(model, section).items():
            obj = as_map(obj_value)
            if obj.get("external") or (kind == "secret" and obj.get("driver")):
                continue
            # The loader, as docker's, turns a missing `file:` into the working folder itself.
            file = obj.get("file")
            if not file or (isinstance(file, str) and file.rstrip("/") == working_dir.rstrip("/")):
                also = " or `driver:`" if kind == "secret" else ""
                raise ComposeError(
                    f"{where}: {kind} {name} has neither `file:` nor `external: true`{also}",
                    hint=f"give {section}.{name} a file, or mark it external",
                )
