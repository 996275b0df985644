"""Lazy package faces: a package's `__init__` names what it exports and from which module,
and each module loads the first time one of its names is used (PEP 562).

So `from lib import chat; chat.count_conversations(...)` loads the conversations module and
not the whole turn machinery behind it: the Home page pays only for what it shows.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_face(package: str, exports: dict[str, tuple[str, ...]]
              ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """(__getattr__, __dir__, __all__) for `package`, from {module: names it exports}."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:  # the import system then looks for a submodule of that name
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # next time, a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__, sorted(where)
