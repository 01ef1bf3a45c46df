"""What a command's `--json` is made of: result objects that know their own JSON form.

Every command renders `--json` from a typed result (`Output.emit_json(result)`, or a list of them), never
from a dict built in the CLI: ops functions return dataclasses with `to_json()`, and the field names
live next to the fields (docs/grammar.md, JSON).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from coopcloud.domain.app import AppRef
from coopcloud.rawdata import JSONDict


class JSONResult(Protocol):
    """A command's result, or an item of one, with its JSON form."""

    def to_json(self) -> JSONDict: ...


@dataclass(frozen=True)
class AppItem:
    """A list item that names the app and server it is about (docs/grammar.md: each item describes
    itself): the item's own fields, then `app`, `server` and, unless `stack=False`, `stack`."""

    ref: AppRef
    item: JSONResult
    stack: bool = True
    extra: JSONDict = field(default_factory=dict)  # fields the item's result holds outside `item`

    def to_json(self) -> JSONDict:
        doc: JSONDict = {**self.item.to_json(), **self.extra, "app": self.ref.name, "server": self.ref.server}
        if self.stack:
            doc["stack"] = self.ref.stack_name
        return doc


def app_items(ref: AppRef, items: Sequence[JSONResult], *, stack: bool = True) -> list[AppItem]:
    """Each of `items`, naming `ref`'s app and server."""
    return [AppItem(ref, item, stack=stack) for item in items]


@dataclass(frozen=True)
class RemovedFrom:
    """What a command removed from an app (`volume rm`, `secret rm`): names, as the app calls them."""

    app: AppRef
    removed: list[str]

    def to_json(self) -> JSONDict:
        return {"app": self.app.name, "server": self.app.server, "removed": self.removed}


@dataclass(frozen=True)
class Values:
    """A result that is a map of names to values (`app env`, `app labels`): its JSON is the map itself."""

    values: Mapping[str, str]

    def to_json(self) -> JSONDict:
        return dict(self.values)
