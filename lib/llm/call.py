"""One model call: the one retry loop around a provider, timing, usage, cost and its ledger row,
handed to a recorder (lib.llm.recorder). Built only by the call seam (lib.llm.seam)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from lib.core import ProviderError, now_iso
from lib.llm.cache import Lookup
from lib.llm.guards import GUARDS, Guards
from lib.llm.modelinfo import ModelInfo, price_unknown
from lib.llm.payloads import payload
from lib.llm.protocol import (
    Block,
    ChatRequest,
    Error,
    Event,
    Provider,
    Stop,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolCall,
    ToolUse,
    Usage,
    Waiting,
)
from lib.llm.recorder import Recorder
from lib.llm.structured import Validation, validate
from lib.llm.terms import CallContext, RetryPolicy
from lib.llm.tokens import max_input_tokens
from lib.spend import CallRecord

if TYPE_CHECKING:
    from lib.llm.fallbacks import Skipped

log = logging.getLogger(__name__)


class Call:
    """Iterate to stream events; afterwards `text`, `usage` and `record` hold the outcome (a
    Response of lib.llm.seam), `thinking` its thinking blocks and `blocks` what a next turn
    sends back of it (thinking and tool calls, in the order the model wrote them).

    The final event is a Stop (success) or an Error. Closing the iterator early, or setting
    `cancel`, ends the call as cancelled; the ledger row is written in every case.

    With a cache `Lookup` (lib.llm.cache), a reply kept for the identical request is replayed
    instead of sent: the same events, and a ledger row "ok" that says so (response_cache
    "hit") at no cost, with what the call would have cost (saved_micro). A whole reply got
    from the model is kept (`cache_status`: hit | miss; None without a lookup).
    """

    def __init__(self, provider: Provider, model: ModelInfo, request: ChatRequest,
                 context: CallContext, *, recorder: Recorder, policy: RetryPolicy | None = None,
                 count_input: Callable[[ChatRequest], int] | None = None,
                 count_output: Callable[[str], int] | None = None,
                 cancel: threading.Event | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, budget: bool = True,
                 estimated_input: bool = False, guards: Guards | None = None,
                 price_file: str = "<data dir>/models.toml",
                 cache: Lookup | None = None) -> None:
        self.provider, self.model, self.request, self.context = provider, model, request, context
        self.policy = policy or RetryPolicy()
        self.recorder = recorder
        self._count_input = count_input
        self._count_output = count_output
        self.cancel = cancel or threading.Event()
        self._sleep = sleep
        self._clock = clock
        self.text = ""
        self.tool_calls: list[ToolCall] = []
        self.thinking: list[Thinking] = []
        self._thought = ""               # the thinking streamed (ThinkingDelta), as it came
        self._written: list[Thinking | ToolCall] = []  # in the order the model wrote them
        self.usage: Usage | None = None
        self.stop_reason: str | None = None
        self.error: ProviderError | None = None
        self.attempts = 0
        self.ttft_ms: float | None = None
        self.record: CallRecord | None = None
        self.validation: Validation | None = None  # set when the request has an output schema
        self.budget = budget
        self.usage_estimated_input = estimated_input
        self._reservation: int | None = None
        self._held = 0                   # the amount the hold keeps
        self._reserved = False
        self._iterated = False
        self.guards = guards or GUARDS
        self.price_file = price_file  # where a price is set: named when a budget refuses
        self.cache = cache
        self.cache_status: str | None = None if cache is None else "miss"
        self._hit: list[Event] | None = None   # the kept reply, found when reserving
        self._heard: list[Event] = []          # this attempt's reply, to keep if it is whole
        self._options: dict[str, Any] = dict(
            policy=policy, count_input=count_input, count_output=count_output,
            cancel=self.cancel, sleep=sleep, clock=clock, budget=budget,
            estimated_input=estimated_input, guards=guards, price_file=price_file)

    def again(self, request: ChatRequest, context: CallContext) -> Call:
        """A new call to the same model with the same settings (a repair, a next step)."""
        return Call(self.provider, self.model, request, context, recorder=self.recorder,
                    **self._options)

    @property
    def last(self) -> Call:
        """The call that answered: this one (a chain's is its last link)."""
        return self

    @property
    def records(self) -> list[CallRecord]:
        return [self.record] if self.record is not None else []

    @property
    def passed_over(self) -> list[Skipped]:
        return []  # one model: a chain (lib.llm.fallbacks) says which it passed over

    def bind(self, conversation_id: int) -> None:
        self.context = replace(self.context, conversation_id=conversation_id)

    def close(self) -> None:
        """Give back the budget held for a call that will never be sent."""
        if self._reservation is not None and not self._iterated:
            self.recorder.release(self._reservation, self.model.provider, self._held)
            self._reservation = None

    # -- retry policy -------------------------------------------------------------------
    def _should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, ProviderError) or not exc.retryable or self.began:
            return False  # once output began, a retry would duplicate it: keep the partial
        if exc.retry_after is not None and exc.retry_after > self.policy.max_retry_after_s:
            return False
        return self._elapsed() + (exc.retry_after or 0) < self.policy.deadline_s

    @property
    def began(self) -> bool:
        """Output has reached the caller: text, thinking (a retry would show it twice), or a
        tool call (which may have run)."""
        return bool(self.text or self.tool_calls or self._thought or self.thinking)

    @property
    def blocks(self) -> tuple[Block, ...]:
        """The reply's thinking and tool calls as blocks of its message in the history."""
        return tuple(b if isinstance(b, Thinking) else ToolUse(b.id, b.name, b.arguments)
                     for b in self._written)

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_exponential_jitter(multiplier=self.policy.initial_wait_s,
                                          max=self.policy.max_wait_s)(state)
        exc = state.outcome.exception() if state.outcome else None
        asked = getattr(exc, "retry_after", None)
        return max(backoff, asked) if asked is not None else backoff

    def _elapsed(self) -> float:
        return self._clock() - self._start

    # -- the stream ---------------------------------------------------------------------
    def worst_case_micro(self) -> int:
        """The expected cost at most: input as counted (an estimate gets a 10% margin), full
        max output, at the dearest input price (a cache write can cost more than input)."""
        m = self.model
        if not (m.input or m.output or m.cache_write):
            return 0
        tokens = self._count_input(self.request) if self._count_input else 0
        if self.usage_estimated_input:
            tokens = round(tokens * 1.1)
        into, out = m.rates(tokens)  # a prompt past a long-context threshold pays more
        return round(into * tokens * max(m.input, m.cache_write)
                     + out * self.request.max_tokens * m.output)

    def bound_micro(self) -> int:
        """The most the call can cost whatever the upstream counts: input tokens no tokenizer
        can exceed (tokens.max_input_tokens) at the dearest price, and full max output."""
        m = self.model
        price = max(m.input, m.cache_write, m.cache_read)
        tokens = max_input_tokens(self.request)
        into, out = m.rates(tokens)
        return round(into * tokens * price + out * self.request.max_tokens * m.output)

    def reserve(self) -> None:
        """Hold the call's bound against its budgets (admitted on its expected cost: see
        lib.spend.budgets) or raise BudgetExceededError. Free models, and calls under no
        budget (of their provider, user or API key), reserve nothing (and count nothing). A
        model whose price is unknown has no bound: a budget over it refuses it."""
        if self._reserved:
            return
        self._reserved = True
        if self.cache is not None and (hit := self.cache.read()) is not None:
            self._hit, self.cache_status = hit, "hit"
            return  # nothing is sent: nothing to hold
        m, key, user = self.model, self.context.api_key_id, self.context.user
        if self.budget and not m.priced and self.recorder.applies(m.provider, api_key=key,
                                                                  user=user):
            raise price_unknown(m, self.price_file)
        if self.budget and (m.input or m.output or m.cache_write) and self.recorder.applies(
                m.provider, api_key=key, user=user):
            expected = self.worst_case_micro()
            self._held = max(expected, self.bound_micro())
            self._reservation = self.recorder.reserve(m.provider, expected, self._held,
                                                      api_key=key, user=user)

    def __iter__(self) -> Iterator[Event]:
        self.reserve()  # a refusal raises before anything is sent or stored
        self._iterated = True
        self._start = self._clock()
        self._started_at = now_iso()
        if self._hit is not None:
            yield from self._replay(self._hit)
            return
        status = "error"
        try:
            retrying = Retrying(stop=stop_after_attempt(self.policy.max_attempts),
                                wait=self._wait, retry=retry_if_exception(self._should_retry),
                                sleep=self._sleep, reraise=True)
            for attempt in retrying:
                with attempt:
                    self.attempts = attempt.retry_state.attempt_number
                    yield from self._one_attempt()
            status = "ok"
            yield Stop(self.stop_reason or "end_turn")
        except ProviderError as exc:
            self.error = self._explain(exc)
            status = "incomplete" if self.began else "error"
            yield Error(self.error, partial=self.began)
        except GeneratorExit:
            status = "cancelled"
            raise
        except _Cancelled:
            status = "cancelled"
        except BaseException as exc:
            # A bug or an interrupt from the host (e.g. Streamlit's rerun): keep the row honest.
            status = "cancelled" if not isinstance(exc, Exception) else "error"
            self.error = ProviderError("internal", f"{type(exc).__name__}: {exc}")
            if isinstance(exc, Exception):
                log.exception("%s/%s: the call failed inside the app", self.model.provider,
                              self.model.id)
            raise
        finally:
            self._finish(status)

    def _replay(self, events: list[Event]) -> Iterator[Event]:
        """A kept reply as the events a live one yields.

        Its row's status is "ok" like any whole reply (every reader of the ledger takes "ok"
        as answered); `response_cache` = "hit" tells it apart."""
        status = "cancelled"
        try:
            yield from self._events(iter(events))
            status = "ok"
            yield Stop(self.stop_reason or "end_turn")
        except _Cancelled:
            pass
        finally:
            self._finish(status)

    def _one_attempt(self) -> Iterator[Event]:
        self._heard = []  # a failed attempt before any output is retried: its events go
        # Closed at once on the way out, so the breaker and limiter learn how the try ended.
        with closing(self.guards.attempt(self.provider, self.model.provider,
                                         lambda: self.provider.stream(self.request),
                                         self._limit_tokens, self._sleep)) as events:
            yield from self._events(events)

    def _events(self, events: Iterator[Event]) -> Iterator[Event]:
        for event in events:
            if self.cancel.is_set():
                raise _Cancelled
            if self.cache is not None and not isinstance(event, Waiting | Usage | Stop):
                self._heard.append(event)
            if isinstance(event, TextDelta):
                if self.ttft_ms is None:
                    self.ttft_ms = self._elapsed() * 1000
                self.text += event.text
                yield event
            elif isinstance(event, ThinkingDelta):
                if self.ttft_ms is None:  # a thinking token is the first the user sees
                    self.ttft_ms = self._elapsed() * 1000
                self._thought += event.text
                yield event
            elif isinstance(event, Thinking):
                self.thinking.append(event)
                self._written.append(event)
                yield event
            elif isinstance(event, ToolCall):
                if self.ttft_ms is None:
                    self.ttft_ms = self._elapsed() * 1000
                self.tool_calls.append(event)
                self._written.append(event)
                yield event
            elif isinstance(event, Usage):
                self.usage = event
            elif isinstance(event, Stop):
                self.stop_reason = event.reason
            elif isinstance(event, Waiting):
                yield event  # a rate limit holds the call: the caller shows the wait
            if self._elapsed() > self.policy.deadline_s:
                raise ProviderError("deadline", f"The call passed the {self.policy.deadline_s:g} s"
                                    " deadline.")

    def _limit_tokens(self, counted: bool) -> int:
        """What the call may use of a tokens-per-minute limit: input as counted, full output."""
        inp = self._count_input(self.request) if counted and self._count_input else 0
        return inp + self.request.max_tokens

    def _explain(self, exc: ProviderError) -> ProviderError:
        """Say how long to wait when a provider asked for longer than we retry."""
        if exc.retry_after is not None and exc.retry_after > self.policy.max_retry_after_s:
            return ProviderError(exc.kind, exc.message, status=exc.status,
                                 retry_after=exc.retry_after,
                                 hint=f"The provider asks to wait {exc.retry_after:.0f} s before "
                                      "trying again.")
        return exc

    def _final_usage(self, status: str) -> Usage:
        u = self.usage
        if u is not None and (u.output_tokens or not self.began or status == "ok"):
            return u
        written = self._thought + self.text + "".join(c.raw for c in self.tool_calls)
        out = self._count_output(written) if self._count_output and written else 0
        if u is not None:  # input reported, output cut off before the provider counted it
            return Usage(u.input_tokens, out, u.cache_read_tokens, u.cache_write_tokens, True)
        if status == "error":  # nothing was generated, nothing is billed
            return Usage(0, 0)
        inp = self._count_input(self.request) if self._count_input else 0
        return Usage(inp, out, estimated=True)

    def _finish(self, status: str) -> None:
        usage = self.usage = self._final_usage(status)
        err = self.error
        schema = self.request.output_schema
        if schema is not None and status == "ok" and not self.tool_calls:
            self.validation = validate(self.text, schema,
                                       repaired=self.context.repair_of is not None)
        cost = self.model.cost_micro(usage.input_tokens, usage.output_tokens,
                                     usage.cache_read_tokens, usage.cache_write_tokens)
        hit = self._hit is not None  # a replay costs nothing, whole or not
        self.record = CallRecord(
            ts=self._started_at, page=self.context.page, provider=self.model.provider,
            model=self.model.id, attempts=max(self.attempts, 1), status=status,
            total_ms=self._elapsed() * 1000, ttft_ms=self.ttft_ms,
            prompt_name=self.context.prompt_name, prompt_version=self.context.prompt_version,
            conversation_id=self.context.conversation_id,
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens, usage_estimated=usage.estimated,
            reasoning_tokens=usage.reasoning_tokens,  # of output_tokens: priced in them, once
            cost_micro=0 if hit else cost, saved_micro=cost if hit and status == "ok" else 0,
            response_cache=self.cache_status, priced=self.model.priced,
            cache_savings_micro=0 if hit else round(
                usage.cache_read_tokens * max(0.0, self.model.input - self.model.cache_read)),
            error_kind=err.kind if err else None, error_message=err.message if err else None,
            run_id=self.context.run_id, step=self.context.step,
            structured=self.validation.status if self.validation else None,
            repair_of=self.context.repair_of, fallback_of=self.context.fallback_of,
            route=self.context.route, api_key_id=self.context.api_key_id,
            user_id=self.context.user,
            baseline_micro=None if self.context.baseline is None or hit else
            self.context.baseline.cost_micro(usage.input_tokens, usage.output_tokens,
                                             usage.cache_read_tokens, usage.cache_write_tokens))
        if self.cache is not None and self._whole(status):
            self.cache.write([*self._heard, usage, Stop(self.stop_reason or "end_turn")])
        try:
            self.recorder.record(self.record, settles=self._reservation, payload=payload(self))
        except Exception:
            # The row could not be stored: its hold would otherwise stay until it goes stale.
            log.exception("call %s/%s: its ledger row was not stored", self.model.provider,
                          self.model.id)
            if self._reservation is not None:
                self.recorder.release(self._reservation, self.model.provider, self._held)
            raise
        log.info("call %s %s/%s page=%s status=%s attempts=%d in=%d out=%d ttft=%s total=%.0fms%s"
                 "%s",
                 self.record.id, self.model.provider, self.model.id, self.context.page, status,
                 self.record.attempts, usage.input_tokens, usage.output_tokens,
                 "-" if self.ttft_ms is None else f"{self.ttft_ms:.0f}ms", self.record.total_ms,
                 f" error={err.kind}" if err else "",
                 f" structured={self.validation.status}" if self.validation else "")

    def _whole(self, status: str) -> bool:
        """A reply worth keeping: got from the model, complete, ended as replies normally
        end (not cut at max tokens, not refused), and valid where it has a schema."""
        return (status == "ok" and self._hit is None
                and self.stop_reason in ("end_turn", "tool_use", "stop_sequence")
                and (self.validation is None or self.validation.ok))


class _Cancelled(Exception):
    pass
