"""The pipeline behind `coopcloud.compose.load`: per file parse → checks → interpolate → validate →
normalize; then merge. Kept apart so that importing `coopcloud.compose` stays cheap."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from coopcloud.compose import ComposeFile, KeyPath, format_path
from coopcloud.compose import interpolate as interp
from coopcloud.compose import merge as merging
from coopcloud.compose import normalize as norm
from coopcloud.compose import validate as val
from coopcloud.compose.yaml_loader import Lines, parse
from coopcloud.errors import ComposeError
from coopcloud.rawdata import JSONDict, as_map


def _where(name: str, lines: Lines, path: KeyPath) -> str:
    line = lines.line(path)
    loc = f"{name}:{line}" if line else name
    return f"{loc} {format_path(path)}" if path else loc


def _version_of(doc: Mapping[str, object]) -> str:
    v = doc.get("version")
    if "version" not in doc:
        return val.DEFAULT_VERSION
    if v is None:
        s = "<nil>"
    elif isinstance(v, bool):
        s = "true" if v else "false"
    elif isinstance(v, float):
        from coopcloud.compose.gotypes import go_float_str

        s = go_float_str(v)
    else:
        s = str(v)
    return val.DEFAULT_VERSION if s in ("", "3") else s


def _has_inf_nan(v: object) -> bool:
    if isinstance(v, float):
        return v != v or v in (float("inf"), float("-inf"))
    if isinstance(v, dict):
        return any(_has_inf_nan(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_inf_nan(x) for x in v)
    return False


def load(
    files: Sequence[ComposeFile],
    env: Mapping[str, str],
    *,
    working_dir: str,
    warn: Callable[[str], None] | None = None,
    read_file: Callable[[str], str] | None = None,
) -> dict[str, object]:
    if not files:
        raise ComposeError("no compose files given", hint="set COMPOSE_FILE or add a compose.yml")
    lookup = env.get
    version: str | None = None
    models: list[JSONDict] = []
    for f in files:
        doc, lines = parse(f.text, f.name)
        if not isinstance(doc, dict):
            raise ComposeError(f"{f.name}: top-level object must be a mapping")
        v = _version_of(doc)
        if version is None:
            version = v
        elif v != version:
            raise ComposeError(
                f"{_where(f.name, lines, ('version',))}: version {v} differs from {version} in {files[0].name}",
                hint="give every compose file of an app the same version",
            )
        services = doc.get("services")
        if isinstance(services, dict):
            for sname, svc in services.items():
                if isinstance(svc, dict):
                    for key in svc:
                        if key in val.FORBIDDEN:
                            path = ("services", sname, key)
                            raise ComposeError(
                                f"{_where(f.name, lines, path)}: {key} is not supported by docker stack deploy "
                                f"(service {sname})",
                                hint=val.FORBIDDEN[key],
                            )
                        if warn is not None and key in val.UNSUPPORTED:
                            warn(f"{f.name}: service {sname}: {key} is ignored by docker stack deploy")
        unset = (lambda name, _f=f.name: warn(f'{_f}: variable {name} is not set, using ""')) if warn else None
        try:
            doc = interp.interpolate(doc, env, (), unset)
        except interp.InterpolationError as e:
            raise ComposeError(f"{_where(f.name, lines, e.path)}: {e.message}") from None
        if version not in val.VERSIONS:
            raise ComposeError(
                f"{_where(f.name, lines, ('version',))}: unsupported compose file version {version!r}",
                hint='use version "3.8" (any of 3.0 to 3.13)',
            )
        if _has_inf_nan(doc):
            raise ComposeError(f"{f.name}: infinite and NaN numbers are not supported")
        try:
            val.validate(doc, version)
        except val.Invalid as e:
            svc = f" (service {e.path[1]})" if len(e.path) > 2 and e.path[0] == "services" else ""
            raise ComposeError(f"{_where(f.name, lines, e.path)}: {e.message}{svc}") from None
        try:
            model = norm.document(doc, version, working_dir, lookup, read_file)
        except norm.NormalizeError as e:
            raise ComposeError(f"{_where(f.name, lines, e.path)}: {e.message}") from None
        models.append(model)
    merged = merging.merge(models)
    out: dict[str, object] = {"version": merged["version"], "services": merged["services"]}
    for key in ("networks", "volumes", "secrets", "configs"):
        if merged[key]:
            out[key] = merged[key]
    for key, value in as_map(merged["extras"]).items():
        out.setdefault(key, value)
    return out
