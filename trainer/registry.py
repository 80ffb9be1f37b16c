"""The table behind the model catalog (catalog.py) and the decoders (decode.py): names to entries,
in registration order, with the one-line error for an unknown name. An entry names its class as
"package.module:Class", imported only when it is used, so building `--help` imports no torch."""

from __future__ import annotations

import importlib

from pipeline.errors import SegError


def load_target(target: str) -> type:
    """The class a "package.module:Class" target names."""
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


class Registry(dict):
    """name -> entry (an object with a .name); `option` names the flag in error messages."""

    def __init__(self, option: str, entries=()):
        super().__init__(entries)
        self.option = option

    def add(self, entry):
        self[entry.name] = entry
        return entry

    def entry(self, name: str):
        if name not in self:
            raise SegError(f"{self.option} {name!r}: use one of {', '.join(self)}")
        return self[name]

    def copy(self) -> "Registry":
        return Registry(self.option, self)
