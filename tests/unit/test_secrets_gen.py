"""Secret value generation: lengths, charsets, passphrases, the word list, errors.

The statistical checks use long values (4096 characters) so that a missing
character is astronomically unlikely: for the largest alphabet (88 characters)
P(some character absent) <= 88 * (87/88)**4096 ~ 1e-18.
"""

import math
import re
import string
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from coopcloud.errors import ExitStatus, InvalidError
from coopcloud.ops.app import secrets_gen as sg

LONG = sg.MAX_LENGTH  # 4096


# -- lengths -------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 2, 7, 32, 64, 128, 1000, sg.MAX_LENGTH])
@pytest.mark.parametrize("charset", [None, "special", "safe", "hex", "special,safe"])
def test_length_is_exact(length, charset):
    assert len(sg.generate(length, charset)) == length


@pytest.mark.parametrize("bad", [0, -1, sg.MAX_LENGTH + 1, 10**9])
def test_length_out_of_range(bad):
    with pytest.raises(InvalidError) as exc:
        sg.generate(bad, None)
    msg = str(exc.value)
    assert "\n" not in msg
    assert str(bad) in msg and "1..4096" in msg
    assert exc.value.exit_status == ExitStatus.INVALID


@pytest.mark.parametrize("bad", [True, False, "32", 3.5, 32.0])
def test_length_must_be_an_int(bad):
    with pytest.raises(InvalidError) as exc:
        sg.generate(bad, None)
    assert "\n" not in str(exc.value)


# -- charsets ------------------------------------------------------------------------------------


def test_declared_alphabets():
    assert sg.alphabet(None) == string.ascii_uppercase + string.ascii_lowercase + string.digits
    assert sg.alphabet("") == sg.alphabet("default") == sg.alphabet("alnum")
    assert sg.alphabet("alphanumeric") == sg.ALPHANUMERIC
    assert sg.alphabet("hex") == "0123456789abcdef"
    assert sg.alphabet("special") == sg.ALPHANUMERIC + "!%&()*+,-./:;<=>?@[]^_{|}~"
    assert sg.alphabet("safe") == sg.ALPHANUMERIC
    assert sg.alphabet("special,safe") == sg.ALPHANUMERIC + "-._"
    assert sg.alphabet("hex,safe") == sg.HEX
    assert len(sg.alphabet("special")) == 88


def test_charset_names_are_case_space_order_and_repeat_insensitive():
    assert sg.alphabet(" Special , SAFE ") == sg.alphabet("safe,special") == sg.alphabet("special,safe,special")
    assert sg.alphabet("alnum,hex") == sg.ALPHANUMERIC
    assert sg.alphabet("hex,default") == sg.ALPHANUMERIC  # union; each character once
    assert sg.alphabet(",") == sg.ALPHANUMERIC


@pytest.mark.parametrize(
    "charset", [None, "default", "alnum", "hex", "special", "safe", "special,safe", "hex,special", "hex,safe"]
)
def test_alphabet_has_no_duplicates_and_no_dangerous_characters(charset):
    pool = sg.alphabet(charset)
    assert len(set(pool)) == len(pool)
    assert not set(pool) & set(sg.NEVER)
    assert pool.isascii() and pool.isprintable()


@pytest.mark.parametrize("charset", [None, "hex", "special", "safe", "special,safe"])
def test_every_character_comes_from_the_declared_set_and_all_appear(charset):
    pool = sg.alphabet(charset)
    value = sg.generate(LONG, charset)
    assert set(value) <= set(pool)
    # Every single character of the alphabet shows up in 4096 draws (see module docstring).
    assert set(value) == set(pool)


def test_special_values_contain_every_class():
    value = sg.generate(LONG, "special")
    for cls in (string.ascii_uppercase, string.ascii_lowercase, string.digits, sg.SPECIAL_PUNCTUATION):
        assert set(value) & set(cls), cls


def test_special_is_safe_in_single_quotes_env_and_yaml():
    for ch in "\"'\\$`# \t\n":
        assert ch not in sg.alphabet("special")


def test_safe_values_are_url_and_filename_safe():
    value = sg.generate(LONG, "special,safe")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", value)
    assert {"-", ".", "_"} <= set(value)


def test_distribution_is_roughly_uniform():
    # 4096 hex draws: each digit expected 256 times, sd ~15.5; +-120 is ~7.7 sd.
    value = sg.generate(LONG, "hex")
    for ch in sg.HEX:
        assert abs(value.count(ch) - LONG / 16) < 120, ch


def test_values_differ():
    assert len({sg.generate(32, None) for _ in range(50)}) == 50
    assert len({sg.generate(None, None) for _ in range(50)}) == 50


def test_randomness_comes_from_the_secrets_module(monkeypatch):
    monkeypatch.setattr(sg.secrets, "choice", lambda seq: seq[-1])
    assert sg.generate(5, None) == "99999"
    assert sg.generate(3, "special") == "~~~"
    last = sg.wordlist()[-1]
    assert sg.generate(None, None) == "-".join([last] * sg.passphrase_word_count())


@pytest.mark.parametrize("charset", ["specail", "special,bogus", "ascii", "base64", "sp ecial"])
def test_unknown_charset_names_it_and_the_accepted_names(charset):
    with pytest.raises(InvalidError) as exc:
        sg.generate(16, charset)
    msg = str(exc.value)
    assert "\n" not in msg
    bad = next(n.strip().lower() for n in charset.split(",") if n.strip().lower() not in sg.CHARSET_NAMES)
    assert repr(bad) in msg
    for name in ("default", "alnum", "hex", "special", "safe"):
        assert name in msg
    assert exc.value.exit_status == ExitStatus.INVALID


def test_unknown_charset_is_refused_for_passphrases_too():
    with pytest.raises(InvalidError, match="specail"):
        sg.generate(None, "specail")


def test_password_entropy():
    assert sg.password_entropy_bits(32, None) == pytest.approx(32 * math.log2(62))
    assert sg.password_entropy_bits(64, "hex") == 256
    assert sg.password_entropy_bits(20, "special,safe") == pytest.approx(20 * math.log2(65))


# -- passphrases ---------------------------------------------------------------------------------


def test_passphrase_word_count_is_the_fewest_for_64_bits():
    n, size = sg.passphrase_word_count(), len(sg.wordlist())
    assert n * math.log2(size) >= 64
    assert (n - 1) * math.log2(size) < 64
    assert n == math.ceil(64 / math.log2(size))
    assert n == 6  # with 2048..7131 words; documented


def test_passphrase_entropy():
    size = len(sg.wordlist())
    assert sg.passphrase_entropy_bits() == pytest.approx(6 * math.log2(size))
    assert sg.passphrase_entropy_bits() >= 64
    assert sg.passphrase_entropy_bits(4) == pytest.approx(4 * math.log2(size))


@pytest.mark.parametrize("charset", [None, "special", "hex,safe"])
def test_no_length_gives_a_passphrase_of_list_words(charset):
    words = set(sg.wordlist())
    for _ in range(20):
        value = sg.generate(None, charset)
        parts = value.split("-")
        assert len(parts) == sg.passphrase_word_count()
        assert all(p in words for p in parts)
        assert re.fullmatch(r"[a-z]+(-[a-z]+)+", value)


def test_passphrase_with_explicit_count():
    assert len(sg.passphrase(3).split("-")) == 3
    for bad in (0, -2, True, "4"):
        with pytest.raises(InvalidError):
            sg.passphrase(bad)


# -- the word list -------------------------------------------------------------------------------


def _raw_words() -> list[str]:
    return (resources.files("coopcloud") / "data" / "words.txt").read_text(encoding="utf-8").splitlines()


def test_word_list_properties():
    raw = _raw_words()
    assert len(raw) >= 2048
    assert len(set(raw)) == len(raw), "duplicates"
    for w in raw:
        assert re.fullmatch(r"[a-z]{3,8}", w), repr(w)
    assert sg.wordlist() == tuple(raw)


def test_word_list_is_loaded_once():
    assert sg.wordlist() is sg.wordlist()
    assert sg.wordlist.cache_info().currsize == 1


def test_word_list_has_no_offensive_words():
    blocked = {
        "ass",
        "damn",
        "hell",
        "sex",
        "kill",
        "dead",
        "die",
        "drug",
        "slave",
        "nazi",
        "gun",
        "suck",
        "screw",
        "bitch",
        "crap",
        "piss",
        "idiot",
        "stupid",
        "ugly",
        "fat",
        "dumb",
        "lame",
        "hoe",
        "rape",
        "porn",
        "nude",
    }
    assert not blocked & set(sg.wordlist())


def test_word_list_ships_in_the_wheel():
    root = Path(__file__).resolve().parents[2]
    conf = tomllib.loads((root / "pyproject.toml").read_text())
    assert "data/*" in conf["tool"]["setuptools"]["package-data"]["coopcloud"]
    assert (root / "src" / "coopcloud" / "data" / "words.txt").is_file()


# -- corpus hints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "length,charset,pattern",
    [
        (64, "hex", r"[0-9a-f]{64}"),
        (32, "alnum", r"[A-Za-z0-9]{32}"),
        (128, None, r"[A-Za-z0-9]{128}"),
    ],
)
def test_hints_seen_in_real_recipes(length, charset, pattern):
    assert re.fullmatch(pattern, sg.generate(length, charset))
