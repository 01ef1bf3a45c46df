import operator
import os
import stat
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coopcloud.domain.envfile import (
    EnvFile,
    SecretSpec,
    load,
    parse_value,
    quote_value,
    secret_specs,
)
from coopcloud.errors import EnvFileError, NotFound
from coopcloud.fsutil import write_atomic
from shared_data import CORPUS, PLACEHOLDER

SAMPLES = sorted(CORPUS.glob("*/.env.sample")) + sorted(CORPUS.glob("*/*/.env.sample"))


@pytest.mark.corpus
@pytest.mark.parametrize("path", SAMPLES or [CORPUS / PLACEHOLDER], ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_samples_round_trip_byte_identically(path):
    text = path.read_bytes().decode("utf-8")
    env = EnvFile.parse(text, name=path.name)
    assert env.render() == text
    env.values()  # expands without error
    secret_specs(env)


@pytest.mark.corpus
def test_corpus_has_samples():
    assert len(SAMPLES) >= 8  # nodex's deploy/.env.sample included


@pytest.mark.corpus
def test_bonfire_compose_file_self_reference_and_hints():
    env = load(CORPUS / "bonfire" / ".env.sample")
    assert env.values()["COMPOSE_FILE"] == "compose.yml:compose.postgres.yml"
    assert env.hints("SECRET_SECRET_KEY_BASE_VERSION") == {"length": "128"}
    keys = {c.key for c in env.commented()}
    assert {"APP_FLAVOUR", "SECRET_USERSFILE_VERSION", "COMPOSE_FILE", "MAIL_DOMAIN"} <= keys
    assert "DO" not in keys  # "# DO NOT CHANGE DOMAIN ..." is prose


def test_basic_syntax():
    env = EnvFile.parse(
        "# comment\n"
        "\n"
        "export A=1\n"
        "  B = two words  \n"
        "C=a=b#c\n"
        "D=x # inline\n"
        "E='lit $A \\n'\n"
        'F="esc\\n\\t\\"q\\" \\$A $A ${A} ${NOPE:-dflt} ${A:+set} ${NOPE-} \\\\"\n'
        "G=\n"
        "H= # only a comment\n"
        "I=#notacomment\n"
    )
    assert env.values() == {
        "A": "1",
        "B": "two words",
        "C": "a=b#c",
        "D": "x",
        "E": "lit $A \\n",
        "F": 'esc\n\t"q" $A 1 1 dflt set  \\',
        "G": "",
        "H": "",
        "I": "#notacomment",
    }
    assert env.keys() == list("ABCDEFGHI")


def test_repeated_keys_last_wins():
    env = EnvFile.parse("A=1\nB=$A\nA=2\n")
    assert env.values() == {"B": "1", "A": "2"}
    env.set("A", "3")
    assert env.render() == "A=1\nB=$A\nA=3\n"


def test_expansion_from_base_and_earlier_lines():
    env = EnvFile.parse('COMPOSE_FILE="$COMPOSE_FILE:compose.postgres.yml"\nX=${V}\n')
    vals = env.values(base={"COMPOSE_FILE": "compose.yml", "V": "base"})
    assert vals == {"COMPOSE_FILE": "compose.yml:compose.postgres.yml", "X": "base"}
    assert EnvFile.parse("V=file\nX=$V\n").values(base={"V": "base"})["X"] == "file"
    assert EnvFile.parse("X=$UNSET-${UNSET}.\n").values() == {"X": "-."}
    assert EnvFile.parse("X=cost$ 5 $$\n").values() == {"X": "cost$ 5 $$"}


def test_nested_default():
    env = EnvFile.parse('D=dom\nX="${NOPE:-${D}/x}"\n')
    assert env.values()["X"] == "dom/x"


def test_required_variable_error_names_line():
    env = EnvFile.parse("A=1\nX=${NOPE:?set NOPE first}\n", name="app.env")
    with pytest.raises(EnvFileError, match=r"app\.env:2: X: NOPE: set NOPE first"):
        env.values()


@pytest.mark.parametrize(
    "text, message",
    [
        ('A=1\n\nB=2\nX="abc\n', r"app\.env:4: unterminated double quote"),
        ("X='abc\n", r"app\.env:1: unterminated single quote"),
        ('X="a"b\n', r"app\.env:1: unexpected text after the closing quote"),
        ("X=${A\n", r"app\.env:1: X: unterminated \$\{"),
        ("X=${1}\n", r"app\.env:1: X: bad substitution"),
        ("just words\n", r"app\.env:1: expected KEY=value"),
    ],
)
def test_errors_name_file_and_line(text, message):
    with pytest.raises(EnvFileError, match=message):
        EnvFile.parse(text, name="app.env")


def test_multiline_quoted_value():
    text = 'A="line1\nline2" # c\nB=2\n'
    env = EnvFile.parse(text)
    assert env.values() == {"A": "line1\nline2", "B": "2"}
    assert env.line_of("B").lineno == 3
    assert env.render() == text


def test_crlf_preserved_and_used_for_appends():
    text = "A=1\r\nB='x' # c\r\n"
    env = EnvFile.parse(text)
    assert env.values() == {"A": "1", "B": "x"}
    assert env.render() == text
    env.set("C", "3")
    assert env.render() == text + "C=3\r\n"


def test_set_keeps_comment_position_export_and_quotes():
    env = EnvFile.parse(
        "# head\nexport TYPE=nextcloud   # the recipe\nCOMPOSE_FILE=\"compose.yml\"\nS='x' # length=32\nT=last"
    )
    env.set("TYPE", "nextcloud:1.0.0+27.1")
    env.set("COMPOSE_FILE", "compose.yml:compose.smtp.yml")
    env.set("S", "it's")
    env.set("NEW", "a b")
    env.set("T", "$x")
    assert env.render() == (
        "# head\n"
        "export TYPE=nextcloud:1.0.0+27.1   # the recipe\n"
        'COMPOSE_FILE="compose.yml:compose.smtp.yml"\n'
        'S="it\'s" # length=32\n'
        "T='$x'\n"
        "NEW='a b'\n"
    )
    assert env.hints("S") == {"length": "32"}
    assert EnvFile.parse(env.render()).values()["T"] == "$x"


def test_set_after_comment_without_space():
    env = EnvFile.parse('A="v"# c\n')
    env.set("A", "w")
    assert env.render() == 'A="w" # c\n'
    assert env.values() == {"A": "w"}


def test_set_empty_value_with_comment():
    env = EnvFile.parse("A= # keep\n")
    env.set("A", "x")
    assert env.render() == "A=x # keep\n"


def test_set_rejects_bad_key():
    with pytest.raises(EnvFileError, match="not a valid variable name"):
        EnvFile.parse("").set("BAD KEY", "x")


def test_unset_removes_every_assignment():
    env = EnvFile.parse("A=1\n# c\nA=2\nB=3\n")
    assert env.unset("A") is True
    assert env.unset("A") is False
    assert env.render() == "# c\nB=3\n"


def test_hints_and_secret_specs():
    env = EnvFile.parse(
        "SECRET_DB_PASSWORD_VERSION=v1 # length=32 charset=special,safe\n"
        "SECRET_SMTP_VERSION=v2 # generate=false\n"
        "SECRET_PLAIN_VERSION=v1\n"
        "#SECRET_OFF_VERSION=v1\n"
        "OTHER=1 # length=3\n"
    )
    assert env.hints("SECRET_DB_PASSWORD_VERSION") == {"length": "32", "charset": "special,safe"}
    assert env.hints("MISSING") == {}
    specs = secret_specs(env)
    assert [(s.name, s.version, s.length, s.charset, s.generate) for s in specs] == [
        ("db_password", "v1", 32, "special,safe", True),
        ("smtp", "v2", None, None, False),
        ("plain", "v1", None, None, True),
    ]
    assert isinstance(specs[0], SecretSpec) and specs[0].lineno == 1


def test_secret_spec_bad_length():
    env = EnvFile.parse("A=1\nSECRET_X_VERSION=v1 # length=lots\n", name="app.env")
    with pytest.raises(EnvFileError, match=r"app\.env:2: SECRET_X_VERSION: length='lots'"):
        secret_specs(env)


def test_commented_vars_are_discoverable():
    env = EnvFile.parse('#SMTP_HOST="mail.example.com"\n# PORT=587 # why\n## prose here\n#\n')
    found = [(c.key, c.value, c.lineno, c.comment) for c in env.commented()]
    assert found == [("SMTP_HOST", "mail.example.com", 1, None), ("PORT", "587", 2, "why")]
    assert env.values() == {}


def test_parse_value():
    assert parse_value('"v1" # note') == "v1"
    assert parse_value("'a b'") == "a b"
    assert parse_value("v2") == "v2"
    assert parse_value('"$X\\n"') == "$X\n"


def test_write_atomic_is_0600_and_follows_symlinks(tmp_path):
    target = tmp_path / "real.env"
    target.write_text("old\n")
    os.chmod(target, 0o644)
    link = tmp_path / "app.env"
    link.symlink_to(target)
    write_atomic(link, "A=1\n")
    assert link.is_symlink()
    assert target.read_text() == "A=1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.env", "real.env"]  # no temp left


def test_write_atomic_never_world_readable(tmp_path, monkeypatch):
    # Observe the temp file's mode at the moment it is renamed into place.
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(stat.S_IMODE(os.stat(src).st_mode))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    old_umask = os.umask(0)  # even a permissive umask must not widen it
    try:
        write_atomic(tmp_path / "new.env", "S=1\n")
    finally:
        os.umask(old_umask)
    assert seen == [0o600]
    assert stat.S_IMODE((tmp_path / "new.env").stat().st_mode) == 0o600


def test_load_errors(tmp_path):
    with pytest.raises(NotFound, match="no such env file"):
        load(tmp_path / "missing.env")
    (tmp_path / "bad.env").write_bytes(b"A=\xff\n")
    with pytest.raises(EnvFileError, match="not UTF-8"):
        load(tmp_path / "bad.env")


# --- properties --------------------------------------------------------------

# Built from st.text over small alphabets: cheaper to generate and shrink than st.from_regex.
_UPPER = string.ascii_uppercase + "_"
keys = st.builds(operator.add, st.sampled_from(_UPPER), st.text(_UPPER + string.digits, max_size=8))
any_value = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
plain = st.text(string.ascii_letters + string.digits + "_./:@,+=%-", max_size=10)
line_text = st.characters(blacklist_categories=("Cs",), blacklist_characters="\n")
comment = st.builds(
    lambda ws, body: ws + "#" + body, st.text(" \t", min_size=1, max_size=3), st.text(line_text, max_size=15)
) | st.just("")
eol = st.sampled_from(["\n", "\r\n"])


@st.composite
def lines(draw):
    kind = draw(st.sampled_from(["assign", "single", "double", "comment", "blank", "export"]))
    k, c, e = draw(keys), draw(comment), draw(eol)
    if kind == "assign":
        return f"{k}={draw(plain)}{c}{e}"
    if kind == "export":
        return f"export {k} = {draw(plain)}{c}{e}"
    if kind == "single":
        v = draw(st.text(st.characters(blacklist_characters="'\x00", blacklist_categories=("Cs",)), max_size=10))
        return f"{k}='{v}'{c}{e}"
    if kind == "double":
        return k + "=" + quote_value(draw(any_value), prefer='"') + c + e
    if kind == "comment":
        return "#" + draw(st.text(line_text, max_size=20)) + e
    return draw(st.sampled_from(["", " ", "\t"])) + e


@given(st.lists(lines(), max_size=12), st.booleans())
def test_round_trip_generated_files(chunks, drop_last_eol):
    text = "".join(chunks)
    if drop_last_eol:
        text = text.rstrip("\r\n")
    env = EnvFile.parse(text)
    assert env.render() == text
    env.values()


@given(st.text(max_size=80))
def test_round_trip_or_clear_error_on_any_text(text):
    try:
        env = EnvFile.parse(text, name="x.env")
    except EnvFileError as exc:
        assert str(exc).startswith("x.env:")
        return
    assert env.render() == text


@given(st.lists(lines(), max_size=6), keys, any_value)
def test_set_then_read_back_is_literal(chunks, key, value):
    env = EnvFile.parse("".join(chunks))
    before = [line.raw for line in env.lines if line.key != key]
    env.set(key, value)
    again = EnvFile.parse(env.render())
    assert again.values()[key] == value
    # only the changed line differs (an appended line may add a newline to the last one)
    after = [line.raw for line in again.lines if line.key != key]
    assert [r.rstrip("\r\n") for r in after] == [r.rstrip("\r\n") for r in before]


def test_byte_order_mark_is_kept():
    for text in ("\ufeffA=1\n", "\ufeff# c\nA=1\n"):
        env = EnvFile.parse(text)
        assert env.values() == {"A": "1"} and env.render() == text
