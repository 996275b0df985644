"""Plugins: what a package installed beside the lab adds through an entry point.

A plugin names a function in an entry-point group; the lab calls it with `register`, and it
calls `register(thing)` once per thing it adds (simonw/llm's `register_models` hook, without
pluggy). The lab's own built-ins are loaded through the same hook, from modules named here in
code, so a built-in and a plugin are told apart only by where they came from.

A plugin that fails to load is left out and logged with its traceback; `failures()` says which,
so Home can show it. It never stops the lab from starting.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registered:
    """A thing a hook registered, and where it came from ("built-in" or the plugin's name)."""

    thing: Any
    source: str


@dataclass(frozen=True)
class Failure:
    group: str
    plugin: str
    error: str


_failures: dict[tuple[str, str], Failure] = {}
_lock = threading.Lock()


def registered(group: str, builtins: Sequence[str], hook: str) -> list[Registered]:
    """Everything registered in `group`: first each built-in module's `hook(register)`, then
    each installed entry point of the group (a function taking `register`)."""
    found: list[Registered] = []
    hooks: list[tuple[str, Callable[[], Callable[..., Any]]]] = [
        ("built-in", partial(_builtin_hook, module, hook)) for module in builtins]
    hooks += [(ep.name, ep.load) for ep in entry_points(group=group)]
    for source, load in hooks:
        added: list[Registered] = []
        try:
            load()(lambda thing, into=added, source=source: into.append(
                Registered(thing, source)))
        except Exception as exc:  # a broken plugin is left out, never the whole lab
            if source == "built-in":
                raise
            log.exception("plugin %r of %s failed to load", source, group)
            with _lock:
                _failures[(group, source)] = Failure(group, source, f"{type(exc).__name__}: {exc}")
            continue
        found += added
    return found


def _builtin_hook(module: str, hook: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(module), hook)


def failures() -> list[Failure]:
    """Plugins that failed to load since the process started."""
    with _lock:
        return list(_failures.values())
