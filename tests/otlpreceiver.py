"""A real OTLP/HTTP receiver on 127.0.0.1 for the trace tests: oteltap's (a PyPI package with
a native receiver, not written here; `make test-deps` installs it with the dev extras). It
runs in a thread with its own event loop; `spans` holds every span it decoded, as
opentelemetry-proto's `Span`, and `wait_for` waits until they satisfy a condition.

If the receiver cannot start, this raises: a test that needs it fails (it is never skipped).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from support import free_port


class OtlpReceiver:
    def __init__(self) -> None:
        self.port = 0
        self.spans: list[Any] = []
        self._changed = threading.Condition()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """What OTEL_EXPORTER_OTLP_ENDPOINT names (the exporter adds /v1/traces)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OtlpReceiver:
        for _ in range(5):  # another process may take a free port first: try another
            self.port, self._error = free_port(), None
            self._ready.clear()
            self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()),
                                            name="otlp-receiver", daemon=True)
            self._thread.start()
            if not self._ready.wait(timeout=30):
                raise RuntimeError("the OTLP receiver did not start")
            if self._error is None:
                return self
            self._thread.join(timeout=30)
        raise RuntimeError(f"the OTLP receiver did not start: {self._error!r}")

    async def _serve(self) -> None:
        try:
            from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings
        except ImportError as exc:
            self._error = RuntimeError("oteltap is not installed; `make test-deps` installs the "
                                       f"dev extras ({exc})")
            self._ready.set()
            return
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            async with OtelTapHttpProtobufReceiver(
                    OtelTapHttpProtobufReceiverSettings(http_port=self.port)) as tap:
                collect = asyncio.create_task(self._collect(tap.stream_traces()))
                # One turn of the loop: the stream subscribes before anyone may send (spans
                # that arrive with no subscriber are dropped). A yield, not a wait for time.
                await asyncio.sleep(0)
                self._ready.set()
                await self._stop.wait()
                collect.cancel()
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _collect(self, stream: Any) -> None:
        async for span in stream:
            with self._changed:
                self.spans.append(span)
                self._changed.notify_all()

    def wait_for(self, done: Callable[[list[Any]], bool], timeout: float = 30.0) -> list[Any]:
        """The spans received, once `done(spans)` holds (fails after `timeout` seconds)."""
        with self._changed:
            if not self._changed.wait_for(lambda: done(self.spans), timeout=timeout):
                raise AssertionError(f"the receiver got {len(self.spans)} spans: "
                                     f"{[s.name for s in self.spans]}")
            return list(self.spans)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=30)


def attributes(span: Any) -> dict[str, Any]:
    """A received span's attributes as Python values (arrays as tuples)."""
    def value(v: Any) -> Any:
        kind = v.WhichOneof("value")
        if kind == "array_value":
            return tuple(value(x) for x in v.array_value.values)
        return getattr(v, kind) if kind else None

    return {kv.key: value(kv.value) for kv in span.attributes}
