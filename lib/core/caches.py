"""Process-wide, thread-safe load-once caches for heavy resources.

`functools.cache` lets two threads that miss at the same moment both build the value (two
embedding models in memory, two llama.cpp contexts). `once` holds a lock per key, so the
second caller waits for the first caller's value instead.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Hashable
from typing import Any, Generic, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Once(Generic[P, T]):
    """A cached function: each distinct argument tuple is computed once per process."""

    def __init__(self, fn: Callable[P, T]) -> None:
        self._fn = fn
        self._signature = inspect.signature(fn)
        self._fast: dict[Hashable, T] = {}     # by the arguments as passed
        self._values: dict[Hashable, T] = {}   # by the arguments with defaults filled in
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        fast = (args, tuple(sorted(kwargs.items())))
        try:
            return self._fast[fast]
        except KeyError:
            pass
        # f(x) and f(x, 0) with a default of 0 are the same call: one value for both.
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        key = tuple(bound.arguments.items())
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:  # a failure is not cached: the next caller retries
                self._values[key] = self._fn(*args, **kwargs)
            value = self._fast[fast] = self._values[key]
            return value

    def ready(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Whether this call's value is already built (so using it will not wait)."""
        return (args, tuple(sorted(kwargs.items()))) in self._fast

    def cached(self) -> list[Any]:
        """The values built so far (for clean-up at exit)."""
        return list(self._values.values())

    def cache_clear(self) -> None:
        with self._guard:
            self._fast.clear()
            self._values.clear()
            self._locks.clear()


def once(fn: Callable[P, T]) -> Once[P, T]:
    return Once(fn)
