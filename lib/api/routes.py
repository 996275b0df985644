"""Routes that call a model (or run a workflow, lib.api.workflows), as plain ASGI: the request
read on the event loop, the call run in a worker thread (a model call blocks: its retry loop,
the local model's lock, the ledger's write), its output relayed to the loop and written as one
JSON answer or server-sent events.

A stream's chunks cross to the loop in batches (one wake-up and one write for whatever
arrived meanwhile); when the client goes away the call is cancelled at its next event and its
ledger row says so. No framework sits between the server and these routes: FastAPI's routing,
middleware and response classes cost ~0.3 ms before a first token (bench_api).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    MutableMapping,
)
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lib.api import door
from lib.api.calls import Started
from lib.api.failures import answer
from lib.api.keys import ApiKey, verify_key
from lib.api.replies import Answer, Head, chunks, whole
from lib.core import ApiError, Settings

_END = object()
log = logging.getLogger(__name__)


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Pipe:
    """Items from a worker thread to the event loop. The loop is woken once per batch, not
    per item: under load a waiting stream takes every chunk that arrived in one send."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: list[Any] = []
        self.lock = threading.Lock()
        self.waiter: asyncio.Future[None] | None = None

    def put(self, item: Any) -> None:  # in the worker
        with self.lock:
            self.items.append(item)
            waiter, self.waiter = self.waiter, None
        if waiter is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the server is stopping
                self.loop.call_soon_threadsafe(_wake, waiter)

    async def take(self) -> list[Any]:  # on the loop
        while True:
            with self.lock:
                if self.items:
                    batch, self.items = self.items, []
                    return batch
                self.waiter = waiter = self.loop.create_future()
            await waiter


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _relay(items: Iterator[Any], cancel: threading.Event,
           pool: ThreadPoolExecutor) -> AsyncGenerator[list[Any], None]:
    """Iterate `items` in a worker thread; the loop gets them in order, in batches."""
    pipe = _Pipe(asyncio.get_running_loop())

    def pump() -> None:
        try:
            for item in items:
                pipe.put(item)
        except BaseException as exc:  # handed to the loop, which re-raises it there
            pipe.put(_Raised(exc))
        finally:
            pipe.put(_END)

    pool.submit(pump)

    async def relayed() -> AsyncGenerator[list[Any], None]:
        try:
            while True:
                batch = await pipe.take()
                for i, item in enumerate(batch):
                    if isinstance(item, _Raised):
                        raise item.exc
                    if item is _END:
                        if i:
                            yield batch[:i]
                        return
                yield batch
        finally:
            cancel.set()  # a client gone mid-stream: the call ends at its next event
    return relayed()


# As ASGI (and starlette.types) has them.
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
# The body, the key, the cancel event, the path's parameters and the request's headers.
Build = Callable[[Any, ApiKey, threading.Event, dict[str, str], dict[str, str]], Started]


class Route:
    """A route as plain ASGI: read the body (413 past the door's limit, announced or not,
    without reading on); in a worker, check the key, pass the body through the door, and send
    what `reply` gives — an Answer (JSON, with its status), or a Head and then the bytes of
    server-sent events. Anything refused before output is a JSON error with its status."""

    # A whole answer that may take long (a workflow run) is watched from the start, so a
    # client gone before it ends stops it; a stream is watched once its first bytes are out.
    watch_whole = False

    def __init__(self, settings: Settings, pool: ThreadPoolExecutor) -> None:
        self.settings, self.pool = settings, pool

    def reply(self, body: Any, key: ApiKey, cancel: threading.Event, path: dict[str, str],
              asked: dict[str, str]) -> Iterable[bytes | Head | Answer]:
        """What to send for this body, in a worker thread; `cancel` set: the client left."""
        raise NotImplementedError

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        authorization = _header(scope, b"authorization")
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > door.MAX_BODY:
            await _send_json(send, Answer(*answer(door.too_large())))  # nothing read
            return
        try:
            raw = await _body(receive)
        except _Gone:
            return  # the client left before its request was whole: nothing to answer
        if raw is None:
            await _send_json(send, Answer(*answer(door.too_large())))
            return
        cancel = threading.Event()
        path = scope.get("path_params") or {}
        asked = {"cache-control": _header(scope, b"cache-control") or ""}

        def work() -> Iterator[bytes | Head | Answer]:
            try:
                key = verify_key(self.settings.db, authorization)
                replies = self.reply(door.read_json(raw), key, cancel, path, asked)
            except Exception as exc:
                yield Answer(*answer(exc))
                return
            yield from replies

        relayed = _relay(work(), cancel, self.pool)
        watcher = asyncio.ensure_future(_disconnected(receive, cancel)) \
            if self.watch_whole else None
        try:
            try:
                first = await anext(relayed, None)
            except Exception as exc:  # a fault in writing the reply: logged, with a reference
                first = [Answer(*answer(exc))]
            if first is None or isinstance(first[0], Answer):
                await _send_json(send, first[0] if first else Answer(*answer(ApiError(
                    "No reply.", status=500))))
                return
            head = first[0].headers if isinstance(first[0], Head) else {}
            await send({"type": "http.response.start", "status": 200,
                        "headers": _SSE + _encoded(head)})
            await send({"type": "http.response.body", "more_body": True,
                        "body": b"".join(b for b in first if isinstance(b, bytes))})
            # Watched from here (unless from the start), off the first token's path: a client
            # gone mid-stream cancels the call at its next event (the server drops what is
            # sent after).
            watcher = watcher or asyncio.ensure_future(_disconnected(receive, cancel))
            try:
                async for batch in relayed:
                    await send({"type": "http.response.body", "body": b"".join(batch),
                                "more_body": True})
            except Exception:  # the status is sent: the stream ends without [DONE]
                log.exception("api: a stream failed after its first token")
            await send({"type": "http.response.body", "body": b""})
        finally:
            if watcher is not None:
                watcher.cancel()
            await relayed.aclose()


class ModelRoute(Route):
    """A route that calls a model: build and reserve the call, then stream it or answer
    whole."""

    def __init__(self, settings: Settings, pool: ThreadPoolExecutor, build: Build) -> None:
        super().__init__(settings, pool)
        self.build = build

    def reply(self, body: Any, key: ApiKey, cancel: threading.Event, path: dict[str, str],
              asked: dict[str, str]) -> Iterable[bytes | Head | Answer]:
        started = self.build(body, key, cancel, path, asked)
        if started.params.stream:
            return chunks(started, started.params.include_usage)
        return [whole(started)]


_SSE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class _Gone(Exception):
    """The client disconnected."""


async def _body(receive: Receive) -> bytes | None:
    """The request body, or None past the door's MAX_BODY (read no further than that)."""
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        part = message.get("body", b"")
        size += len(part)
        if size > door.MAX_BODY:
            return None
        parts.append(part)
        if not message.get("more_body"):
            return b"".join(parts)


async def _disconnected(receive: Receive, cancel: threading.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    cancel.set()


async def _send_json(send: Send, a: Answer) -> None:
    body = json.dumps(a.body).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    headers += _encoded(a.headers)
    await send({"type": "http.response.start", "status": a.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers for the server; a value outside latin-1 (a model key from a user's catalog)
    is escaped rather than breaking the answer."""
    return [(k.lower().encode("latin-1"), v.encode("latin-1", "backslashreplace"))
            for k, v in headers.items()]
