"""The layers of src/coopcloud, enforced on the import graph (read with ast: nothing is imported).

Every import counts, at module level or inside a function (lazy imports are still dependencies).

- domain/, compose/, swarm/ are pure: no network, no processes, no engine, git or registry, no
  ops/lint/cli/output. (They may read and write the operator's local files: env files, the
  catalogue; `coopcloud.sources` does the recipe-directory and git-tree reading for them.)
- lint/ may use domain, compose, swarm, gitops (tags of the recipe repo), never ops, engine, cli.
- only engine/ talks to Docker; every other HTTP request (registries, the catalogue download, the
  autoupdate webhook) goes through the one HTTP client, coopcloud.httpclient: nothing else opens a
  socket or an HTTP client (coopcloud.web listens: the dashboard).
- only coopcloud.fanout builds a thread pool (concurrent.futures): one function over many items in
  parallel goes through it.
- only gitops/ runs git: no other module builds a git command line (find_git), and a module
  outside gitops that starts processes is listed below with what it runs.
- the library never imports the CLI.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "coopcloud"

PURE = ("coopcloud.domain", "coopcloud.compose", "coopcloud.swarm")
NOT_FOR_PURE = (
    "coopcloud.ops",
    "coopcloud.engine",
    "coopcloud.gitops",
    "coopcloud.registry",
    "coopcloud.lint",
    "coopcloud.cli",
    "coopcloud.output",
    "coopcloud.sources",
)
NETWORK = ("socket", "ssl", "http", "urllib.request", "urllib.error")
# What a module may take from `socket` without talking to anyone.
SOCKET_LOCAL = frozenset({"gethostname", "getfqdn"})
PROCESSES = ("subprocess", "multiprocessing", "pty")
THREADS = ("threading", "concurrent", "asyncio", "queue")
# coopcloud.web is `coop dashboard`: it listens (on the address the operator gave) and talks to no one.
NETWORK_ALLOWED = ("coopcloud.engine", "coopcloud.httpclient", "coopcloud.web")
# Modules outside gitops/ that start processes, and what they run (never git).
PROCESSES_ALLOWED = {
    "coopcloud.engine.transport": "ssh … docker system dial-stdio",
    "coopcloud.cli.app": "the operator's $EDITOR (app config)",
    "coopcloud.ops.recipe.maint.release": "the maintainer's $EDITOR (release notes)",
    "coopcloud.engine.endpoint": "ssh -G: the host an ssh alias names",
}
# The engine client's insides: only engine/ may touch them.
ENGINE_PRIVATE_ATTRS = ("_conn", "_transport", "_send", "_call", "_negotiate", "_ping_headers")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    imports: frozenset[str]  # every module named, e.g. "os", "coopcloud.swarm.render", "coopcloud.swarm.render.render"
    attributes: frozenset[str]  # attribute names read on anything but self/cls, e.g. "_conn"
    socket_uses: frozenset[str]  # names used from the socket module: socket.gethostname -> "gethostname"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _read(path: Path) -> Module:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    attrs: set[str] = set()
    socket_uses: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            if owner not in ("self", "cls"):
                attrs.add(node.attr)
            if owner == "socket":
                socket_uses.add(node.attr)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "socket":
            socket_uses.update(a.name for a in node.names)
    return Module(name, path, frozenset(found), frozenset(attrs), frozenset(socket_uses))


MODULES = [_read(p) for p in sorted(SRC.rglob("*.py"))]


def _under(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _offending(module: Module, forbidden: tuple[str, ...]) -> list[str]:
    bad = sorted(i for i in module.imports if _under(i, forbidden))
    if "socket" in bad and module.socket_uses <= SOCKET_LOCAL:
        bad.remove("socket")  # the host's own name (an operator's identity) is not network talk
    return bad


def test_the_graph_was_read():
    names = {m.name for m in MODULES}
    assert {"coopcloud.engine.client", "coopcloud.ops.deploy", "coopcloud.domain.recipe"} <= names
    deploy = next(m for m in MODULES if m.name == "coopcloud.ops.deploy.checks")
    assert any(_under(i, "coopcloud.swarm") for i in deploy.imports)


@pytest.mark.parametrize("module", [m for m in MODULES if _under(m.name, PURE)], ids=lambda m: m.name)
def test_pure_layers_stay_pure(module):
    bad = _offending(module, NOT_FOR_PURE + NETWORK + PROCESSES + THREADS)
    assert not bad, f"{module.name} is in a pure layer but imports {bad}"


@pytest.mark.parametrize("module", [m for m in MODULES if _under(m.name, "coopcloud.lint")], ids=lambda m: m.name)
def test_lint_uses_compose_and_swarm_not_ops(module):
    bad = _offending(
        module, ("coopcloud.ops", "coopcloud.engine", "coopcloud.registry", "coopcloud.cli") + NETWORK + PROCESSES
    )
    assert not bad, f"{module.name} imports {bad}"


@pytest.mark.parametrize("module", [m for m in MODULES if not _under(m.name, NETWORK_ALLOWED)], ids=lambda m: m.name)
def test_only_engine_and_the_http_client_use_the_network(module):
    bad = _offending(module, NETWORK)
    assert not bad, (
        f"{module.name} imports {bad}: Docker goes through engine/, any other HTTP through coopcloud.httpclient"
    )


@pytest.mark.parametrize("module", [m for m in MODULES if m.name != "coopcloud.fanout"], ids=lambda m: m.name)
def test_only_fanout_builds_a_thread_pool(module):
    bad = _offending(module, ("concurrent",))
    assert not bad, f"{module.name} imports {bad}: run one function over many items with coopcloud.fanout"


@pytest.mark.parametrize("module", [m for m in MODULES if not _under(m.name, "coopcloud.engine")], ids=lambda m: m.name)
def test_only_engine_touches_the_engine_client_insides(module):
    bad = sorted(module.attributes & set(ENGINE_PRIVATE_ATTRS))
    assert not bad, f"{module.name} reaches into the engine client ({bad}): add a method to engine/ instead"


@pytest.mark.parametrize("module", [m for m in MODULES if not _under(m.name, "coopcloud.gitops")], ids=lambda m: m.name)
def test_only_gitops_runs_git(module):
    assert not any(i.endswith(".find_git") for i in module.imports), f"{module.name} builds a git command line"
    if _offending(module, PROCESSES):
        assert module.name in PROCESSES_ALLOWED, f"{module.name} starts processes; git belongs in gitops/"


def test_processes_allowlist_is_current():
    starters = {m.name for m in MODULES if _offending(m, PROCESSES) and not _under(m.name, "coopcloud.gitops")}
    assert starters == set(PROCESSES_ALLOWED)


@pytest.mark.parametrize("module", [m for m in MODULES if not _under(m.name, "coopcloud.cli")], ids=lambda m: m.name)
def test_the_library_never_imports_the_cli(module):
    if module.name == "coopcloud.__main__":
        return  # `python -m coopcloud` is the CLI's entry point
    assert not _offending(module, ("coopcloud.cli",)), f"{module.name} imports the CLI"


# ops/ is grouped by noun. Within it, the packages at the bottom use no other ops package, and the
# arrows that would make a deploy depend on what depends on it are forbidden.
OPS_PACKAGE_RULES = {
    "coopcloud.ops.trail": (
        "coopcloud.ops.app",
        "coopcloud.ops.backup",
        "coopcloud.ops.deploy",
        "coopcloud.ops.recipe",
        "coopcloud.ops.server",
    ),
    "coopcloud.ops.recipe": (
        "coopcloud.ops.app",
        "coopcloud.ops.backup",
        "coopcloud.ops.deploy",
        "coopcloud.ops.server",
        "coopcloud.ops.trail",
    ),
    "coopcloud.ops.server": ("coopcloud.ops.backup", "coopcloud.ops.deploy"),
    "coopcloud.ops.backup": ("coopcloud.ops.deploy",),  # a deploy snapshots through backups, never the reverse
}
MAX_FLAT_OPS_MODULES = 12


@pytest.mark.parametrize("package", sorted(OPS_PACKAGE_RULES))
def test_ops_packages_keep_their_direction(package):
    bad = {m.name: _offending(m, OPS_PACKAGE_RULES[package]) for m in MODULES if _under(m.name, package)}
    assert {k: v for k, v in bad.items() if v} == {}


def test_ops_is_grouped_by_noun():
    flat = sorted(p.name for p in (SRC / "ops").glob("*.py") if p.name != "__init__.py")
    assert len(flat) <= MAX_FLAT_OPS_MODULES, f"ops/ holds {len(flat)} flat modules: group them by noun: {flat}"


def _cycle(package: str) -> list[str] | None:
    """An import circle among PACKAGE's modules (lazy and type-only imports count), or None."""
    names = {m.name for m in MODULES if _under(m.name, package)}
    arrows = {
        m.name: {n for n in names if n != m.name and any(_under(i, n) for i in m.imports)}
        for m in MODULES
        if m.name in names
    }

    def walk(path: list[str]) -> list[str] | None:
        for nxt in sorted(arrows[path[-1]]):
            if nxt in path:
                return path[path.index(nxt) :] + [nxt]
            found = walk(path + [nxt])
            if found:
                return found
        return None

    return next((c for start in sorted(names) if (c := walk([start]))), None)


def test_ops_trail_has_no_import_circle():
    # the lock's break_lock is a @mutation and the audit trail holds the lock: the guard sits below both
    assert _cycle("coopcloud.ops.trail") is None


def test_no_two_classes_share_a_name():
    # one name, one concept: a second class of a name says what it holds instead (CopiedVolume, AppVolume)
    homes: dict[str, list[str]] = {}
    for m in MODULES:
        for node in ast.parse(m.path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                homes.setdefault(node.name, []).append(m.name)
    assert {name: where for name, where in homes.items() if len(where) > 1} == {}
