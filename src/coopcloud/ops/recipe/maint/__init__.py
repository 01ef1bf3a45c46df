"""The recipe maintainer's version tools: upgrade image tags, release, sync the label, diff, reset.

Topic modules: `compose_text` (byte-preserving edits), `upgrade`, `release`, `tree` (diff, reset);
this package re-exports what the CLI calls.

Everything here edits a recipe's *working tree* (a maintainer's clone); deploys
never read it (they read git objects), so nothing here can disturb a deploy.

Edits are byte-preserving: the compose files are rewritten by replacing the
exact characters of an image tag or of the version label value, found through
the YAML parser's marks (offsets into the text), never by re-serialising YAML.
Every comment, quote, blank line and line ending stays as it was.

Decisions (documented in the CLI help too):

* ``upgrade`` offers only newer tags of the same format (`domain.imagetag`);
  images whose tag is interpolated (``${VERSION:-1.2}``), pinned by digest, or
  floating (``latest``) are skipped with a note.
* ``release`` sizes the bump by the **biggest** change among *all* images since
  the last release (a postgres major in the ``db`` service needs as much
  operator care as one in ``app``); a new service counts as minor, a removed
  one as major, a change that cannot be sized (``latest`` → ``1.2``) as major,
  with a warning. No image change → patch. ``--major/--minor/--patch`` or an
  explicit VERSION override it. The first release is 0.1.0 (1.0.0 with
  --major, 0.0.1 with --patch).
* ``release`` needs a tree that is clean except for the compose files (the
  ones ``upgrade`` edits) and the release notes (``release/<version>``,
  ``release/next``); other uncommitted changes are refused, untracked files are
  left alone (and named in a warning). It commits exactly those files.
* Release notes: ``--notes`` > an existing ``release/<version>`` > ``release/next``
  (renamed) > ``$VISUAL``/``$EDITOR`` when interactive > none. Notes are
  optional in Co-op Cloud, so a scripted release without them writes no file.
"""

from __future__ import annotations

from .compose_text import (
    MAIN_SERVICE,
    ImageSite,
    find_images,
    find_version_labels,
    main_image_tag,
    replace_tags,
    set_version_label,
)
from .release import (
    ImageChange,
    NextVersion,
    ReleasePlan,
    ReleaseResult,
    apply_release,
    bump,
    edit_notes,
    image_changes,
    next_version,
    notes_template,
    plan_release,
    release_message,
    set_notes,
    write_label,
)
from .results import Diff, Discarded, LabelSynced, Released, Upgraded
from .tree import Changes, diff, reset, uncommitted
from .upgrade import ImageUpgrade, apply_upgrade, choose, plan_upgrade

__all__ = [
    "MAIN_SERVICE",
    "Changes",
    "Diff",
    "Discarded",
    "ImageChange",
    "ImageSite",
    "ImageUpgrade",
    "LabelSynced",
    "NextVersion",
    "ReleasePlan",
    "ReleaseResult",
    "Released",
    "Upgraded",
    "apply_release",
    "apply_upgrade",
    "bump",
    "choose",
    "diff",
    "edit_notes",
    "find_images",
    "find_version_labels",
    "image_changes",
    "main_image_tag",
    "next_version",
    "notes_template",
    "plan_release",
    "plan_upgrade",
    "release_message",
    "replace_tags",
    "reset",
    "set_notes",
    "set_version_label",
    "uncommitted",
    "write_label",
]
