"""Scripted stand-ins: a fake provider for services, a fake HTTP transport for the real SDKs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from lib.chat import Ask, ChatSession, ChatTurn, TurnOptions
from lib.core import ProviderError, Settings
from lib.llm import (
    AnthropicProvider,
    Calls,
    ChatRequest,
    Event,
    ModelInfo,
    OpenAIProvider,
    Provider,
    Stop,
    TextDelta,
    Usage,
)

SSE = Path(__file__).parent / "fixtures" / "sse"

# One attempt of a scripted provider: events to yield, then optionally an error to raise.
Attempt = tuple[list[Event], ProviderError | None]


DEFAULT_USAGE = Usage(10, 5)


def ok(*chunks: str, usage: Usage | None = DEFAULT_USAGE, reason: str = "end_turn") -> Attempt:
    events: list[Event] = [TextDelta(c) for c in chunks]
    if usage is not None:
        events.append(usage)
    return [*events, Stop(reason)], None


def fail(error: ProviderError, *chunks: str) -> Attempt:
    return [TextDelta(c) for c in chunks], error


@dataclass
class FakeProvider:
    """Plays one scripted attempt per call to `stream`; records the requests it saw."""

    attempts: list[Attempt]
    name: str = "fake"
    requests: list[ChatRequest] = field(default_factory=list)

    def stream(self, request: ChatRequest) -> Iterator[Event]:
        self.requests.append(request)
        events, error = self.attempts[min(len(self.requests), len(self.attempts)) - 1]
        yield from events
        if error is not None:
            raise error


def scripted(settings: Settings, provider: Provider | dict[str, Provider], **kw) -> Calls:
    """The call seam with a scripted provider (or one per model key) and no real waits: retry
    back-offs and rate-limit waits are recorded by a Sleeps unless `sleep` is given."""
    def provider_for(model: ModelInfo) -> Provider:
        if isinstance(provider, dict):
            if model.key not in provider:
                raise ProviderError("unavailable", f"{model.key} is not scripted here.")
            return provider[model.key]
        return provider

    kw.setdefault("sleep", Sleeps())
    return Calls(settings, provider_for=provider_for, **kw)


class Sleeps(list):
    """A stand-in for time.sleep that records how long the retry loop asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- fake HTTP ---------------------------------------------------------------------------

class CutStream(httpx2.SyncByteStream):
    """Sends `body`, then the connection drops."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        if self.body:
            yield self.body
        raise httpx2.RemoteProtocolError("peer closed connection without sending complete body")


def sse(name: str) -> bytes:
    return (SSE / name).read_bytes()


def sse_events(name: str) -> list[bytes]:
    """The fixture split into its events (each ends with a blank line)."""
    return [e + b"\n\n" for e in sse(name).split(b"\n\n") if e.strip()]


Respond = Callable[[httpx2.Request], httpx2.Response]
EVENT_STREAM = {"content-type": "text/event-stream"}


def stream_response(body: bytes) -> Respond:
    return lambda request: httpx2.Response(200, headers=EVENT_STREAM, content=body)


def cut_response(body: bytes) -> Respond:
    return lambda request: httpx2.Response(200, headers=EVENT_STREAM, stream=CutStream(body))


def error_response(status: int, error_type: str, message: str,
                   headers: dict[str, str] | None = None) -> Respond:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return lambda request: httpx2.Response(status, headers=headers or {}, json=body)


class Replay:
    """A fake transport answering each HTTP attempt with the next scripted response.

    A script entry makes a fresh response from the request, or is an exception to raise
    (e.g. a connect timeout). The last entry repeats.
    """

    def __init__(self, *script: Respond | Exception) -> None:
        self.script = list(script)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        step = self.script[min(len(self.requests), len(self.script)) - 1]
        if isinstance(step, Exception):
            raise step
        return step(request)

    @property
    def attempts(self) -> int:
        return len(self.requests)

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self))

    def anthropic(self, **kw) -> AnthropicProvider:
        """The real Anthropic adapter (its SDK) over this transport."""
        return AnthropicProvider("sk-ant-test", base_url="http://anthropic.test",
                                 http_client=self.client(), **kw)

    def openai(self, **kw) -> OpenAIProvider:
        """The real OpenAI adapter (its SDK) over this transport."""
        return OpenAIProvider("sk-test", base_url="http://openai.test/v1",
                              http_client=self.client(), **kw)


def chat_turn(settings: Settings, conversation_id: int | None, model: ModelInfo, text: str,
              options: TurnOptions | None = None, *, calls: Calls | None = None,
              **ask) -> ChatTurn:
    """A turn as a page sends it: the conversation opened for the options' user, drafted
    for `model`, then the draft's turn (iterate it to run it)."""
    options = options or TurnOptions()
    session = ChatSession.open(settings, conversation_id, user=options.user, calls=calls)
    return ChatTurn(session.draft(options, Ask(text, **ask), model), calls)
