"""Lazy package faces: a package's `__init__` imports what it exports under
`if TYPE_CHECKING:`, which only type checkers and editors run; at run time each module loads
the first time one of its names is used (PEP 562).

So `from lib import chat; chat.count_conversations(...)` loads the conversations module and
not the whole turn machinery behind it: the Home page pays only for what it shows.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def lazy_face(package: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """(__getattr__, __dir__, __all__) for `package`, from its `if TYPE_CHECKING:` imports."""
    where = _typing_imports(Path(sys.modules[package].__file__ or ""))

    def __getattr__(name: str) -> Any:
        found = where.get(name)
        if found is None:  # the import system then looks for a submodule of that name
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, original = found
        value = getattr(importlib.import_module(module), original)
        setattr(sys.modules[package], name, value)  # next time, a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__, sorted(where)


def _typing_imports(init: Path) -> dict[str, tuple[str, str]]:
    """{name: (module, name there)} for the `from m import n` lines under a module-level
    `if TYPE_CHECKING:` in a source file."""
    where: dict[str, tuple[str, str]] = {}
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
                and node.test.id == "TYPE_CHECKING":
            for line in node.body:
                if isinstance(line, ast.ImportFrom) and line.module:
                    where |= {a.asname or a.name: (line.module, a.name) for a in line.names}
    return where
