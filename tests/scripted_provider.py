"""A scripted provider registered like a built-in (listed in lib.llm.registry.BUILTIN by the
`scripted_model` fixture of the page tests), so the real app offers its model — one that
reasons, with every mode and effort — and answers with what a test scripts."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator

from fakes import FakeProvider, ok

from lib.core import ProviderError
from lib.llm import (
    ChatRequest,
    Event,
    ModelInfo,
    ProviderSpec,
    Stop,
    TextDelta,
    Usage,
    estimate_counter,
)

THINKER = ModelInfo("thinker-1", "scripted", "Thinker (scripted)", 200_000, 16_000,
                    input=3.0, output=15.0, thinking=("off", "on", "adaptive"),
                    efforts=("low", "medium", "high"))
PROVIDER = FakeProvider([ok("Hello.")], name="scripted")


def register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ProviderSpec(
        "scripted", "Scripted", False, lambda _settings, _run: (True, ""),
        lambda _settings: PROVIDER, estimate_counter, models=lambda _settings: [THINKER]))


class TimedProvider:
    """A provider with controlled delays, for runs whose steps overlap: the last message's
    first `[[key]]` marker (none: "") picks a delay and a reply; each call's (key, start,
    end) and the most calls in flight at once are recorded. A key in `held` answers in
    small chunks until `release` is set, so a Stop between chunks ends it; one in `fails`
    raises that error before any output."""

    name = "timed"

    def __init__(self, delays: dict[str, float] | None = None,
                 replies: dict[str, str] | None = None, *, held: tuple[str, ...] = (),
                 fails: dict[str, ProviderError] | None = None,
                 seen: Callable[[str], None] | None = None) -> None:
        self.delays, self.replies, self.held = delays or {}, replies or {}, held
        self.fails = fails or {}
        self.seen = seen or (lambda key: None)       # called as each call starts
        self.release = threading.Event()
        self.intervals: list[tuple[str, float, float]] = []
        self.active = self.peak = 0
        self._lock = threading.Lock()

    def stream(self, request: ChatRequest) -> Iterator[Event]:
        text = request.messages[-1].content if request.messages else ""
        key = m[1] if (m := re.search(r"\[\[(\w+)\]\]", text)) else ""
        start = time.perf_counter()
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            self.seen(key)
            if key in self.fails:
                raise self.fails[key]
            if key in self.held:
                while not self.release.wait(0.005):
                    yield TextDelta(".")
            else:
                time.sleep(self.delays.get(key, 0.0))  # the delay being measured
            yield TextDelta(self.replies.get(key, f"reply {key or 'plain'}"))
            yield Usage(10, 5)
            yield Stop("end_turn")
        finally:
            with self._lock:
                self.active -= 1
                self.intervals.append((key, start, time.perf_counter()))

    def interval(self, key: str) -> tuple[float, float]:
        [(start, end)] = [(s, e) for k, s, e in self.intervals if k == key]
        return start, end
