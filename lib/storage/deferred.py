"""Writes that need not hold up the caller: done on one background thread, in order, and
joined by the caller before it depends on them (a chat turn joins before it saves the reply).

The user's message is written this way while the model call goes out, so neither the write
nor a WAL checkpoint it may trigger sits between Send and the first token.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# One thread: SQLite takes one writer at a time anyway, and order is kept.
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deferred-write")


def defer(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
    """Run fn on the background writer; `.result()` waits for it and re-raises its error."""
    return _writer.submit(fn, *args, **kwargs)
