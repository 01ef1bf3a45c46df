"""Properties of docker-style interpolation (compose.interpolate.substitute)."""

from __future__ import annotations

import operator
import string

from hypothesis import given
from hypothesis import strategies as st

from coopcloud.compose.interpolate import substitute

_FIRST = string.ascii_letters + "_"
names = st.builds(operator.add, st.sampled_from(_FIRST), st.text(_FIRST + string.digits, max_size=12))
values = st.text(alphabet=string.ascii_letters + string.digits + " -_./:@", max_size=20)
# Defaults made of ':', '-' or '?' hit docker's own parsing quirks (matched by the oracle tests).
defaults = st.text(alphabet=string.ascii_letters + string.digits + " _./@", max_size=20)
plain = st.text(alphabet=string.printable.replace("$", ""), max_size=40)


def env(mapping):
    return mapping.get


@given(plain)
def test_text_without_dollar_is_unchanged(text):
    assert substitute(text, env({})) == text


@given(st.text(max_size=40))
def test_doubled_dollars_come_back_single(text):
    assert substitute(text.replace("$", "$$"), env({})) == text


@given(names, values.filter(bool), plain, plain)
def test_a_set_variable_is_replaced_in_every_form(name, value, before, after):
    e = env({name: value})
    for form in (f"${{{name}}}", f"${{{name}:-x}}", f"${{{name}-x}}", f"${{{name}:?e}}", f"${{{name}?e}}"):
        assert substitute(before + form + after, e) == before + value + after


@given(names, defaults)
def test_defaults_for_unset_and_empty(name, default):
    unset, empty = env({}), env({name: ""})
    assert substitute(f"${{{name}:-{default}}}", unset) == default
    assert substitute(f"${{{name}:-{default}}}", empty) == default
    assert substitute(f"${{{name}-{default}}}", unset) == default
    assert substitute(f"${{{name}-{default}}}", empty) == ""


@given(names)
def test_unset_without_default_is_empty_and_reported(name):
    seen = []
    assert substitute(f"a${{{name}}}b", env({}), unset=seen.append) == "ab"
    assert seen == [name]
