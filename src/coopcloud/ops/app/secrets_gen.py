"""Secret values for ``coop app secret generate``: random strings and passphrases.

Pure: no I/O beyond reading the shipped word list once; randomness comes only
from the :mod:`secrets` module. The hints come from the recipe's env lines, as
Co-op Cloud (abra) writes them::

    SECRET_DB_PASSWORD_VERSION=v1 # length=32 charset=special
    SECRET_ADMIN_PASS_VERSION=v1              (no length: a passphrase)
    SECRET_API_KEY_VERSION=v1 # generate=false   (the caller skips it)

``generate(length, charset)``:

* With a ``length`` (1..4096): that many characters, each drawn uniformly and
  independently from the charset's alphabet.
* Without one: a passphrase of lowercase words from ``coopcloud/data/words.txt``
  joined by ``-`` (abra's separator). The word count is the smallest that gives
  at least 64 bits of entropy from the list: ``ceil(64 / log2(len(words)))`` —
  6 words from the ~2,800-word list (about 68.7 bits). ``charset`` does not
  shape a passphrase, but a name it does not know is still refused, so a typo
  in a recipe is caught.

Charsets — a comma-separated list of names, case-insensitive, order and
repeats irrelevant, empty or absent meaning ``default``:

``default`` (aliases ``alnum``, ``alphanumeric``)
    ``A-Z a-z 0-9`` — 62 characters.
``hex``
    ``0-9 a-f`` — 16 characters (lowercase, like ``openssl rand -hex``).
``special``
    alphanumerics plus ``SPECIAL_PUNCTUATION`` = ``!%&()*+,-./:;<=>?@[]^_{|}~``
    — 88 characters. That is ASCII punctuation minus the six characters that
    break somewhere a secret is pasted: ``"`` ``'`` (quoting in env files, YAML
    and shell single quotes), backslash (escapes), ``$`` (interpolation by
    compose and shells), backtick (command substitution) and ``#`` (starts an
    env-file comment); no whitespace either. The value is therefore safe
    between single quotes in a shell, in a single-quoted YAML scalar and in a
    quoted env value — not necessarily unquoted, and not inside a URL.
``safe``
    a *restriction*, applied after the others are combined: keep only
    characters that need no escaping in URLs and file names, i.e. the POSIX
    portable filename set ``A-Z a-z 0-9 . _ -`` (all of which are RFC 3986
    "unreserved"). Alone it means the alphanumerics; ``special,safe`` gives
    alphanumerics plus ``-._`` (65 characters) — punctuation for apps that
    demand some, still fine in a database URL; ``hex,safe`` stays hex.

Several base names union their alphabets (``alnum,hex`` = alphanumerics).
An unknown name raises :class:`~coopcloud.errors.InvalidError` naming it and
the accepted names.
"""

from __future__ import annotations

import math
import secrets
import string
from functools import lru_cache
from importlib import resources

from coopcloud.errors import InvalidError

MIN_LENGTH = 1
MAX_LENGTH = 4096
PASSPHRASE_SEPARATOR = "-"
PASSPHRASE_MIN_BITS = 64

ALPHANUMERIC = string.ascii_uppercase + string.ascii_lowercase + string.digits
HEX = string.digits + "abcdef"
SPECIAL_PUNCTUATION = "!%&()*+,-./:;<=>?@[]^_{|}~"
#: What ``safe`` keeps: the POSIX portable filename characters (RFC 3986 unreserved).
SAFE = ALPHANUMERIC + "-._"
#: Characters no charset ever produces.
NEVER = "\"'\\$`#" + string.whitespace

_BASES: dict[str, str] = {
    "default": ALPHANUMERIC,
    "alnum": ALPHANUMERIC,
    "alphanumeric": ALPHANUMERIC,
    "hex": HEX,
    "special": ALPHANUMERIC + SPECIAL_PUNCTUATION,
}
_MODIFIERS = ("safe",)
CHARSET_NAMES: tuple[str, ...] = (*_BASES, *_MODIFIERS)

_WORDS_RESOURCE = ("data", "words.txt")


def alphabet(charset: str | None) -> str:
    """The characters a charset hint draws from, each once; InvalidError if a name is unknown."""
    names = [n.strip().lower() for n in (charset or "").split(",")]
    names = [n for n in names if n]
    for name in names:
        if name not in _BASES and name not in _MODIFIERS:
            raise InvalidError(
                f"unknown secret charset {name!r} in charset={charset}",
                hint=f"use one or more of {', '.join(CHARSET_NAMES)}, comma-separated",
            )
    bases = [n for n in _BASES if n in names] or ["default"]  # canonical order
    pool = "".join(dict.fromkeys("".join(_BASES[n] for n in bases)))
    if "safe" in names:
        pool = "".join(c for c in pool if c in SAFE)
    return pool


def _check_length(length: object) -> int:
    if isinstance(length, bool) or not isinstance(length, int):
        raise InvalidError(f"secret length {length!r} is not a whole number")
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise InvalidError(f"secret length {length} is out of range {MIN_LENGTH}..{MAX_LENGTH}")
    return length


def password(length: int, charset: str | None = None) -> str:
    """`length` characters drawn uniformly from `alphabet(charset)`."""
    n = _check_length(length)
    pool = alphabet(charset)
    return "".join(secrets.choice(pool) for _ in range(n))


@lru_cache(maxsize=1)
def wordlist() -> tuple[str, ...]:
    """The passphrase words shipped in coopcloud/data/words.txt, read once."""
    ref = resources.files("coopcloud")
    for part in _WORDS_RESOURCE:
        ref = ref / part
    text = ref.read_text(encoding="utf-8")
    words = tuple(dict.fromkeys(w.strip() for w in text.splitlines() if w.strip()))
    if len(words) < 2:
        raise InvalidError("coopcloud/data/words.txt: the passphrase word list is empty")
    return words


def passphrase_word_count(min_bits: float = PASSPHRASE_MIN_BITS) -> int:
    """Fewest words from `wordlist()` that give at least `min_bits` of entropy."""
    return math.ceil(min_bits / math.log2(len(wordlist())))


def passphrase_entropy_bits(words: int | None = None) -> float:
    """Entropy of a passphrase of `words` words (default: the count `passphrase()` uses)."""
    n = passphrase_word_count() if words is None else words
    return n * math.log2(len(wordlist()))


def password_entropy_bits(length: int, charset: str | None = None) -> float:
    """Entropy of `password(length, charset)`."""
    return _check_length(length) * math.log2(len(alphabet(charset)))


def passphrase(words: int | None = None) -> str:
    """Words drawn uniformly from `wordlist()`, joined by ``-``; ≥ 64 bits by default."""
    n = passphrase_word_count() if words is None else words
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidError(f"passphrase word count {n!r} must be a positive whole number")
    pool = wordlist()
    return PASSPHRASE_SEPARATOR.join(secrets.choice(pool) for _ in range(n))


def generate(length: int | None, charset: str | None = None) -> str:
    """A secret value per the env hints: a random string with a length, else a passphrase."""
    if length is None:
        alphabet(charset)  # refuse unknown names even though a passphrase ignores them
        return passphrase()
    return password(length, charset)
