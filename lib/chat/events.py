"""What a chat turn yields: the chat package's own closed set of events, drawn by the page.

The model's events, a fallback chain's, schema repairs' and an agent run's are translated here
once (`turn_events`), so a page draws one vocabulary whatever answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lib.agents import Outcome, RunFinished
from lib.agents import ToolFinished as RunToolFinished
from lib.agents import ToolStarted as RunToolStarted
from lib.core import PromptLabError
from lib.llm import Error, Fallback, Repair, TextDelta, Thinking, ThinkingDelta, ToolCall
from lib.llm import Waiting as CallWaiting


@dataclass(frozen=True)
class Summarising:
    """Earlier turns are being folded into the summary before the call (repeats while it
    runs, so a page can redraw its progress and hear a Stop)."""

    messages: int
    model: str                     # the summary model's label
    seconds: float


@dataclass(frozen=True)
class Began:
    """The turn was allowed and the user's message stored: the conversation exists now."""

    conversation_id: int


@dataclass(frozen=True)
class Grounded:
    """The knowledge base's chunks this turn reads (none: it answers without documents)."""

    knowledge_base: str
    chunks: int


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Thought:
    """A piece of the model's reasoning as it streams (drawn apart from the answer)."""

    text: str


@dataclass(frozen=True)
class ThoughtDone:
    """A block of reasoning is complete; a redacted one streamed no text to show."""

    redacted: bool = False


@dataclass(frozen=True)
class ToolStarted:
    call: ToolCall


@dataclass(frozen=True)
class ToolFinished:
    call: ToolCall
    outcome: Outcome


@dataclass(frozen=True)
class Waiting:
    """A rate limit holds the call: `seconds` left."""

    seconds: float
    reason: str


@dataclass(frozen=True)
class FellBack:
    """A model of the chain could not answer before any output; the next one is asked."""

    failed: str                    # model labels
    next: str
    reason: str


@dataclass(frozen=True)
class Repaired:
    """The reply failed its schema: it is asked again (the text so far is dropped)."""

    errors: tuple[str, ...]


@dataclass(frozen=True)
class Finished:
    """The turn is over (stored, whatever its status); `error` says what went wrong."""

    error: PromptLabError | None = None


TurnEvent = (Summarising | Began | Grounded | Text | Thought | ThoughtDone | ToolStarted
             | ToolFinished | Waiting | FellBack | Repaired | Finished)


def turn_events(events: Iterable[object]) -> Iterator[TurnEvent]:
    """A response's events (a call, a chain, repairs or an agent run) as turn events, ending
    with Finished and the error, if one came."""
    error: PromptLabError | None = None
    for event in events:
        if isinstance(event, TextDelta):
            yield Text(event.text)
        elif isinstance(event, ThinkingDelta):
            yield Thought(event.text)
        elif isinstance(event, Thinking):
            yield ThoughtDone(event.redacted)
        elif isinstance(event, RunToolStarted):
            yield ToolStarted(event.call)
        elif isinstance(event, RunToolFinished):
            yield ToolFinished(event.call, event.outcome)
        elif isinstance(event, CallWaiting):
            yield Waiting(event.seconds, event.reason)
        elif isinstance(event, Fallback):
            yield FellBack(event.failed, event.next, event.reason)
        elif isinstance(event, Repair):
            yield Repaired(event.errors)
        elif isinstance(event, Error | RunFinished) and event.error is not None:
            error = event.error
    yield Finished(error)
