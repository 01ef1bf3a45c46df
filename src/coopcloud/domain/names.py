"""The names an operator or a recipe gives coop, checked before they reach a path, a label or Docker.

- an **app name** becomes a file name (``servers/<server>/<app>.env``) and, with ``.`` → ``_``, the
  stack name that prefixes every Docker object: letters, digits, ``.``, ``-``, ``_``, starting and
  ending with a letter or digit;
- a **recipe name** is a folder under ``$ABRA_DIR/recipes``: a plain name, never a path (no ``/``,
  no ``..``, no leading ``.`` or ``-``);
- a **domain** reaches Traefik rules such as ``Host(`<domain>`)`` through labels: it must be a
  hostname (labels of letters, digits, ``-`` and ``_``; internationalised names are checked by their IDNA
  form), so no backtick, parenthesis or space can change the rule.

    >>> check_domain("café.example.org")
    'café.example.org'
    >>> check_recipe_name("../etc")
    Traceback (most recent call last):
    ...
    coopcloud.errors.UsageError: recipe name '../etc' is not valid — a recipe is a plain name: letters, digits, '.', '-', '_', starting with a letter or digit (e.g. nextcloud)
"""

from __future__ import annotations

import re

from coopcloud.errors import CoopError, UsageError

_APP_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_RECIPE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# RFC 1123 labels, plus '_': real DNS names carry it (and coop's own stack-named test domains do);
# it cannot change a Traefik rule.
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
APP_NAME_MAX = 200  # a file name, with room for ".lock.json" under the 255-byte limit
RECIPE_NAME_MAX = 100
DOMAIN_MAX = 253


def app_name_problem(name: str) -> str | None:
    """Why `name` cannot be an app name, or None when it can."""
    if not name:
        return "it is empty"
    if len(name) > APP_NAME_MAX:
        return f"it is longer than {APP_NAME_MAX} characters"
    if not _APP_NAME.fullmatch(name):
        return "use letters, digits, '.', '-', '_', starting and ending with a letter or digit"
    return None


def check_app_name(name: str, error: type[CoopError] = UsageError) -> str:
    """`name` when it is a valid app name; else `error` (UsageError for what was typed)."""
    problem = app_name_problem(name)
    if problem:
        raise error(f"app name {name!r} is not valid", hint=f"{problem} (an app name is normally its domain)")
    return name


def recipe_name_problem(name: str) -> str | None:
    if not name or len(name) > RECIPE_NAME_MAX or not _RECIPE_NAME.fullmatch(name) or ".." in name:
        return (
            "a recipe is a plain name: letters, digits, '.', '-', '_', starting with a letter or digit (e.g. nextcloud)"
        )
    return None


def check_recipe_name(name: str, error: type[CoopError] = UsageError) -> str:
    """`name` when it is a plain recipe name (a folder under $ABRA_DIR/recipes, never a path)."""
    problem = recipe_name_problem(name)
    if problem:
        raise error(f"recipe name {name!r} is not valid", hint=problem)
    return name


def domain_problem(domain: str) -> str | None:
    """Why `domain` is not a hostname coop will put into labels, or None."""
    if not domain:
        return "it is empty"
    ascii_form = domain
    if not domain.isascii():
        try:
            ascii_form = domain.encode("idna").decode("ascii")  # IDNA 2003 ToASCII, label by label
        except UnicodeError:
            return "it is not a valid internationalised domain name"
    if len(ascii_form) > DOMAIN_MAX:
        return f"it is longer than {DOMAIN_MAX} characters"
    for label in ascii_form.lower().split("."):
        if not _HOST_LABEL.fullmatch(label):
            return "a hostname is labels of letters, digits, '-' and '_' separated by dots (e.g. cloud.example.org)"
    return None


def check_domain(domain: str, error: type[CoopError] = UsageError, where: str = "") -> str:
    problem = domain_problem(domain)
    if problem:
        raise error(f"{where}domain {domain!r} is not valid", hint=problem)
    return domain
