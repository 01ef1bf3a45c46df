"""`--json` is rendered from typed results (docs/grammar.md, CONTRIBUTING.md "Conventions").

Every `emit_json(...)` in cli/ passes a result object's JSON form: `result.to_json()`, or
`[r.to_json() for r in results]`, where `to_json()` belongs to a result type of ops/ or domain/ (the
field names live next to the fields, and one schema has one home; no `to_json` is defined in cli/).
A dict or list built in the CLI fails this test. `AD_HOC` lists the commands not converted yet: it
may only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).parents[2] / "src" / "coopcloud" / "cli"

# function (in cli/<module>.py) -> how many ad-hoc emit_json calls it still has.
AD_HOC: dict[str, int] = {}


def _is_to_json(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "to_json"


def _typed(arg: ast.expr) -> bool:
    """`x.to_json()`, or `[x.to_json() for x in xs]`."""
    if _is_to_json(arg):
        return True
    return isinstance(arg, ast.ListComp) and _is_to_json(arg.elt)


def ad_hoc_calls() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sorted(CLI.glob("*.py")):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "emit_json"
                    and not (node.args and _typed(node.args[0]))
                ):
                    key = f"{path.stem}.{func.name}"
                    found[key] = found.get(key, 0) + 1
    return found


def test_json_comes_from_typed_results():
    found = ad_hoc_calls()
    new = {k: n for k, n in found.items() if n > AD_HOC.get(k, 0)}
    assert new == {}, "render --json from an ops result's to_json() (CONTRIBUTING.md, Conventions)"
    gone = {k for k in AD_HOC if found.get(k, 0) < AD_HOC[k]}
    assert gone == set(), "converted: take these out of AD_HOC"


def test_no_result_type_lives_in_the_cli():
    """The JSON forms live with the results, in ops/ or domain/: a `to_json` defined in cli/ would be a
    dict built in the CLI under another name."""
    defined = [
        f"{path.stem}.{node.name}"
        for path in sorted(CLI.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name == "to_json"
    ]
    assert defined == []


def test_the_check_finds_a_dict_built_in_the_cli():
    tree = ast.parse('rt.out.emit_json({"app": name, "removed": removed})')
    call = tree.body[0].value  # type: ignore[attr-defined]
    assert not _typed(call.args[0])
    assert _typed(ast.parse("done.to_json()").body[0].value)  # type: ignore[attr-defined]
    assert _typed(ast.parse("[r.to_json() for r in rows]").body[0].value)  # type: ignore[attr-defined]
    assert not _typed(ast.parse("[dict(r.to_json(), app=a) for r in rows]").body[0].value)  # type: ignore[attr-defined]
