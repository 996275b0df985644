"""A started call's events as OpenAI's answers: server-sent chunks, or one chat.completion.

Both run in a worker thread. A stream's first item says how to answer: an `Answer` (an error
before any output, or a whole reply) or the first bytes of the stream. The closing chunks
and `[DONE]` go out only after the call's ledger row is written, so a client that saw
`[DONE]` can count on the row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lib.api import openai_format as fmt
from lib.api.calls import Started
from lib.api.failures import provider_answer
from lib.llm import Error, Stop, TextDelta, ToolCall, Usage
from lib.spend import CallRecord


@dataclass(frozen=True)
class Answer:
    """A whole JSON answer: a reply or an error, with its status and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Head:
    """A stream's headers, known once its model answers: the first item of a stream."""

    headers: dict[str, str]


def headers(started: Started) -> dict[str, str]:
    """Which model answered: the one asked for, or the fallback that took over; which
    parameters it refused, left out rather than failing the call; and, where the response
    cache was used, whether the reply came from it (hit) or from the model (miss)."""
    out = {"x-promptlab-model": _model(started)}
    if status := started.call.cache_status:
        out["x-promptlab-cache"] = status
    if dropped := _dropped(started):
        out["x-promptlab-dropped"] = ", ".join(dropped)
    return out


def _dropped(started: Started) -> dict[str, str]:
    """The request's parameters the answering model refuses (not sent), each with why."""
    note = started.call.model.temperature_note(started.params.temperature)
    return {"temperature": note} if note else {}


def _records(started: Started) -> list[CallRecord]:
    """The rows of the attempts that make the reply (each repair is paid for)."""
    return started.call.records


def _model(started: Started) -> str:
    """The catalog key of the model answering now (a fallback, if one took over)."""
    return started.call.model.key


def usage(records: list[CallRecord]) -> Usage:
    return Usage(sum(r.input_tokens for r in records), sum(r.output_tokens for r in records),
                 sum(r.cache_read_tokens for r in records),
                 sum(r.cache_write_tokens for r in records))


def extra(started: Started) -> dict[str, Any]:
    """Our own field beside OpenAI's: the ledger rows, the cost, fallbacks, schema status."""
    records = _records(started)
    # A model whose price is unknown costs null ("unknown"), never 0.
    out: dict[str, Any] = {"call_ids": [r.id for r in records], "model": _model(started),
                           "cost_usd": sum(r.cost_micro for r in records) / 1e6
                           if all(r.priced for r in records) else None}
    call = started.call
    if call.passed_over:
        out["fallbacks"] = [{"model": s.model, "reason": s.reason} for s in call.passed_over]
    if (v := call.validation) is not None:
        out["structured"] = {"status": v.status, "errors": list(v.errors)}
    if started.prompt:
        out["prompt"] = started.prompt
    if dropped := _dropped(started):
        out["dropped"] = dropped
    return out


def chunks(started: Started, include_usage: bool) -> Iterator[bytes | Head | Answer]:
    """The call streamed as chat.completion.chunk events, then `[DONE]`; its Head first."""
    cid, began, stop, tools = fmt.completion_id(), False, None, 0
    failure: Error | None = None
    for event in started.call:  # run to its end always: the ledger row is written there
        if isinstance(event, TextDelta | ToolCall):
            if isinstance(event, TextDelta):
                delta: dict[str, Any] = {"content": event.text}
            else:
                delta, tools = {"tool_calls": [fmt.tool_call_body(event, tools)]}, tools + 1
            if not began:
                delta, began = {"role": "assistant", **delta}, True
                yield Head(headers(started))
            yield fmt.chunk(cid, _model(started), delta)
        elif isinstance(event, Stop):
            stop = event.reason
        elif isinstance(event, Error):
            failure = event
    if failure is not None and not began:
        status, body, more = provider_answer(failure.error)
        yield Answer(status, body, {**more, **headers(started)})
        return
    model = _model(started)
    if failure is not None:  # output had begun: OpenAI's in-stream error event
        yield fmt.sse(fmt.error_body(str(failure.error), "upstream_error", failure.error.kind,
                                     promptlab=extra(started)))
        return
    if not began:
        yield Head(headers(started))
        yield fmt.chunk(cid, model, {"role": "assistant", "content": ""})
    yield fmt.chunk(cid, model, {}, fmt.FINISH.get(stop or "", "stop"), extra=extra(started))
    if include_usage:
        yield fmt.chunk(cid, model, None, usage=usage(_records(started)))
    yield fmt.DONE


def whole(started: Started) -> Answer:
    """The call run to its end as one chat.completion (or the error that ended it)."""
    stop, failure = None, None
    for event in started.call:
        if isinstance(event, Stop):
            stop = event.reason
        elif isinstance(event, Error):
            failure = event
    if failure is not None:
        status, body, more = provider_answer(failure.error)
        body["error"]["promptlab"] = extra(started)
        return Answer(status, body, {**more, **headers(started)})
    call = started.call
    return Answer(200, fmt.completion(fmt.completion_id(), _model(started), call.text,
                                      list(call.tool_calls), stop, usage(_records(started)),
                                      extra(started)), headers(started))
