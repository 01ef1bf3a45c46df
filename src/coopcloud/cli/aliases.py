"""abra's command aliases and short global flags, as plain data: `cli.fast` reads them without click.

Each group (by its path of canonical names, "" for `coop` itself) maps an alias to the command it
names, as abra's `--help` lists them (`coop a d APP` is `coop app deploy APP`). abra calls its lists
`list` (alias `ls`) and coop calls them `ls`, so `list` is an alias here; the same for `remove`/`rm`.
"""

from __future__ import annotations

from collections.abc import Sequence

ALIASES: dict[str, dict[str, str]] = {
    "": {"a": "app", "s": "server", "r": "recipe", "c": "catalogue", "ac": "autocomplete"},
    "app": {
        "b": "backup",
        "chk": "check",
        "cm": "cmd",
        "cfg": "config",
        "d": "deploy",
        "e": "env",
        "lb": "labels",
        "list": "ls",
        "lg": "logs",
        "mv": "move",
        "n": "new",
        "rm": "remove",
        "re": "restart",
        "rs": "restore",
        "rl": "rollback",
        "sc": "secret",
        "sr": "services",
        "un": "undeploy",
        "up": "upgrade",
        "vl": "volume",
    },
    "app backup": {"c": "create", "d": "download", "list": "ls", "snapshots": "ls"},
    "app secret": {"g": "generate", "i": "insert", "list": "ls", "remove": "rm"},
    "app volume": {"list": "ls", "remove": "rm"},
    "server": {"a": "add", "list": "ls", "p": "prune", "remove": "rm"},
    "recipe": {
        "f": "fetch",
        "l": "lint",
        "list": "ls",
        "n": "new",
        "rl": "release",
        "s": "sync",
        "u": "upgrade",
        "v": "versions",
    },
    "catalogue": {"g": "generate"},
}

# Long global flags, and abra's short ones. `--machine`/`-m` is abra's name for --json.
GLOBAL_FLAGS = {
    "--no-input": "no_input",
    "--json": "json",
    "--machine": "json",
    "--debug": "debug",
    "--offline": "offline",
    "--wide": "wide",
}
SHORT_GLOBAL_FLAGS = {"-n": "no_input", "-m": "json", "-d": "debug", "-o": "offline"}


def canonical(group: str, name: str) -> str:
    """The command `name` means in `group` (a path of canonical names): its alias resolved."""
    return ALIASES.get(group, {}).get(name, name)


def aliases_of(group: str, name: str) -> list[str]:
    """The aliases of command `name` in `group`, for help pages and completion."""
    return sorted(a for a, target in ALIASES.get(group, {}).items() if target == name)


def command_words(argv: Sequence[str], depth: int = 2) -> list[str]:
    """The first `depth` command words of argv (options skipped), aliases resolved: ["app", "deploy"]."""
    words: list[str] = []
    for arg in argv:
        if len(words) == depth:
            break
        if arg.startswith("-"):
            continue
        words.append(canonical(" ".join(words), arg))
    return words
