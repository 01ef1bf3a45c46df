"""The rule registry: IDs, levels and documentation."""

from __future__ import annotations

import pytest

from coopcloud.errors import NotFound
from coopcloud.lint import ERROR, WARNING, Issue, all_rules, get_rule, rule

# Co-op Cloud's (abra's) rules keep their ID, meaning and level (DESIGN.md §3.10).
ABRA_LEVELS = {
    "R001": WARNING,  # compose config has expected version
    "R002": WARNING,  # healthcheck enabled for all services
    "R003": WARNING,  # all images use a tag
    "R004": WARNING,  # no unstable tags
    "R005": WARNING,  # tags use semver-like format
    "R006": WARNING,  # has published catalogue version
    "R007": WARNING,  # README.md metadata filled in
    "R008": ERROR,  # .env.sample provided
    "R009": ERROR,  # one service named 'app'
    "R010": ERROR,  # traefik routing enabled
    "R011": ERROR,  # all services have images
    "R012": ERROR,  # config version are vendored
    "R013": WARNING,  # git.coopcloud.tech repo exists
    "R014": ERROR,  # only annotated tags used for recipe version
    "R015": WARNING,  # long secret names
    "R016": ERROR,  # deploy labels stanza present
}


def test_abra_rules_keep_their_ids_and_levels():
    rules = {r.id: r for r in all_rules()}
    assert {k: rules[k].level for k in ABRA_LEVELS} == ABRA_LEVELS


def test_coop_rules_start_at_r100_apart_from_r000():
    ids = [r.id for r in all_rules()]
    assert ids == sorted(ids)
    assert ids[0] == "R000"
    assert [i for i in ids if i not in ABRA_LEVELS and i != "R000"] == [f"R{n}" for n in range(100, 110)]


def test_every_rule_documents_itself():
    for r in all_rules():
        assert r.level in (ERROR, WARNING)
        assert r.summary and r.fix, r.id
        assert r.check.__doc__ and len(r.doc) > 40, r.id  # the docstring is the documentation
        j = r.to_json()
        assert j["id"] == r.id and j["level"] in ("error", "warning") and j["doc"] == r.doc


def test_get_rule():
    assert get_rule("r009").id == "R009"
    with pytest.raises(NotFound, match="no lint rule 'R999'"):
        get_rule("R999")


def test_registration_is_checked():
    with pytest.raises(ValueError, match="not R followed by three digits"):
        rule("X1", ERROR, "x", fix="y")
    with pytest.raises(TypeError, match="must be a generator"):
        rule("R998", ERROR, "x", fix="y")(lambda ctx: [Issue("x")])
    assert "R998" not in [r.id for r in all_rules()]
    with pytest.raises(ValueError, match="registered twice"):

        def again(ctx):
            """Again."""
            yield from ()

        rule("R001", WARNING, "x", fix="y")(again)
