"""Every label the code names is in swarm/labels.KNOWN_LABELS, which the docs' label reference is built from."""

from __future__ import annotations

import re
from pathlib import Path

from coopcloud.swarm.labels import KNOWN_LABELS

SRC = Path(__file__).resolve().parents[2] / "src" / "coopcloud"
# A string literal that starts like a label coop reads or writes.
LITERAL = re.compile(r"[\"'](coop\.[a-z][a-z._-]*|backupbot\.[a-z][a-z._-]*|com\.docker\.[a-z][a-z._-]*)")


def _pattern(label: str) -> re.Pattern[str]:
    parts = re.split(r"(<[a-z]+>|\*)", label)
    return re.compile("".join(".+" if p in ("<volume>", "<stack>", "*") else re.escape(p) for p in parts))


def test_every_label_named_in_the_code_is_documented():
    patterns = [_pattern(label) for label, *_ in KNOWN_LABELS]
    named = {m.group(1).rstrip(".") for path in SRC.rglob("*.py") for m in LITERAL.finditer(path.read_text())}
    named = {n for n in named if not n.endswith((".css", ".js", ".html", ".png"))}  # file names, not labels
    missing = sorted(n for n in named if not any(p.fullmatch(n) or p.match(n + ".x") for p in patterns))
    assert missing == [], "add these to swarm/labels.KNOWN_LABELS (they appear in the docs): " + ", ".join(missing)


def test_the_known_labels_are_well_formed():
    assert len({label for label, *_ in KNOWN_LABELS}) == len(KNOWN_LABELS)
    assert all(all(field.strip() for field in row) for row in KNOWN_LABELS)
