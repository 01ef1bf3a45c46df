"""The typed reads of decoded JSON/YAML: each narrows or names the key whose value has the wrong type."""

import pytest

from coopcloud.rawdata import (
    RawDataError,
    as_list,
    as_map,
    get_bool,
    get_float,
    get_int,
    get_list,
    get_map,
    get_opt_int,
    get_opt_str,
    get_str,
    setdefault_map,
    str_list,
    str_map,
)


def test_absent_and_null_read_as_the_default():
    doc = {"a": None}
    assert get_map(doc, "a") == {} and get_map(doc, "b") == {}
    assert get_list(doc, "a") == [] and get_str(doc, "b", "x") == "x"
    assert get_int(doc, "a", 3) == 3 and get_bool(doc, "a", True) is True
    assert as_map(None) == {} and as_list(None) == []


def test_present_values_are_returned_as_they_are():
    doc = {"m": {"k": 1}, "l": [1, 2], "s": "x", "i": 5, "b": False, "labels": {"a": "b"}}
    assert get_map(doc, "m") == {"k": 1} and get_list(doc, "l") == [1, 2]
    assert get_str(doc, "s") == "x" and get_int(doc, "i") == 5 and get_bool(doc, "b") is False
    assert str_map(doc["labels"]) == {"a": "b"}
    assert str_list(["a", "b"]) == ["a", "b"] and str_list(None) == []
    assert as_list((1, 2)) == [1, 2]


@pytest.mark.parametrize(
    ("read", "message"),
    [
        (lambda d: get_map(d, "s"), "s: expected an object, found str"),
        (lambda d: get_list(d, "m"), "m: expected a list, found dict"),
        (lambda d: get_str(d, "i"), "i: expected a string, found int"),
        (lambda d: get_int(d, "b"), "b: expected an integer, found bool"),
        (lambda d: get_bool(d, "s"), "s: expected true or false, found str"),
        (lambda d: str_map(d["m"], "labels"), "labels.k: expected a string, found int"),
        (lambda d: str_list(["x", None], "tags"), r"tags\[1\]: expected a string, found null"),
        (lambda d: get_opt_str(d, "i"), "i: expected a string, found int"),
        (lambda d: get_opt_int(d, "s"), "s: expected an integer, found str"),
        (lambda d: get_float(d, "b"), "b: expected a number, found bool"),
    ],
)
def test_a_wrong_type_names_the_key_and_what_was_found(read, message):
    doc = {"m": {"k": 1}, "s": "x", "i": 5, "b": True}
    with pytest.raises(RawDataError, match=message):
        read(doc)


def test_optional_values_read_as_none_and_numbers_as_floats():
    doc = {"n": None, "s": "x", "i": 5, "f": 1.5}
    assert get_opt_str(doc, "n") is None and get_opt_str(doc, "absent") is None and get_opt_str(doc, "s") == "x"
    assert get_opt_int(doc, "n") is None and get_opt_int(doc, "i") == 5
    assert get_float(doc, "i") == 5.0 and get_float(doc, "f") == 1.5 and get_float(doc, "n", 2.0) == 2.0


def test_setdefault_map_edits_the_object_in_place_and_creates_a_missing_one():
    doc: dict[str, object] = {"a": {"x": 1}, "n": None, "s": "x"}
    setdefault_map(doc, "a")["y"] = 2
    setdefault_map(doc, "b")["z"] = 3
    setdefault_map(doc, "n")["w"] = 4
    assert doc == {"a": {"x": 1, "y": 2}, "b": {"z": 3}, "n": {"w": 4}, "s": "x"}
    with pytest.raises(RawDataError, match="s: expected an object, found str"):
        setdefault_map(doc, "s")
