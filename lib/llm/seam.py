"""The one way to make a model call.

    spec = CallSpec(model, request, CallContext("chat", user=...), fallbacks=(...), repairs=1)
    response = Calls(settings).invoke(spec)   # a Response; nothing is sent yet
    response.reserve()                        # optional: a budget refusal raises here
    for event in response: ...                # CallEvent: text, tool calls, waits, fallbacks,
                                              # repairs, then Stop or Error
    response.text, response.records, response.validation, response.error

`Calls` builds each model's provider, token counter and retry policy (its deadline from the
settings) in one place, runs the fallback chain and the schema repairs around them, and hands
every finished call to its recorder (the ledger, unless a caller passes another one). Chat,
Compare, judges, summaries, prompt runs, the API and the agent loop all call through here;
tests pass a scripted provider (`provider_for`) and, where no database is wanted, an
in-memory recorder.

A model of the chain that cannot be used (its provider unavailable here, the request does not
fit its window, its budget refuses) is passed over before anything is sent, and the reply says
why; a chain of one model raises that reason instead.

`CallSpec.cache` says how a call uses the response cache (lib.llm.cache; None: on where its
page is listed in PROMPTLAB_CACHE). Each model's call of a chain looks up its own request;
a schema repair is always sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

from lib.core import ContextOverflowError, Settings
from lib.llm.cache import CacheMode, CacheStore, Lookup, mode_for, request_key, store_for
from lib.llm.call import Call
from lib.llm.catalog import user_catalog_path
from lib.llm.fallbacks import Fallback, Fallbacks, Skipped
from lib.llm.guards import GUARDS, Guards
from lib.llm.modelinfo import ModelInfo
from lib.llm.protocol import ChatRequest, Event, Provider, ToolCall, Usage
from lib.llm.recorder import LedgerRecorder, Recorder
from lib.llm.registry import capabilities, counter_for, get_provider
from lib.llm.repairs import Repairing
from lib.llm.structured import Repair, Validation
from lib.llm.terms import CallContext, RetryPolicy
from lib.llm.tokens import Counter
from lib.spend import CallRecord
from lib.telemetry import traced

CallEvent = Event | Fallback | Repair
E_co = TypeVar("E_co", covariant=True)

# What to ask: a request (fitted to each model of the chain), or a function that builds the
# request for a model with its counter (a chat's context plan), raising ContextOverflowError
# when it cannot fit; either way it is shaped for the model (`shaped`).
Ask = ChatRequest | Callable[[ModelInfo, Counter], ChatRequest]


@dataclass(frozen=True)
class CallSpec:
    model: ModelInfo
    ask: Ask
    context: CallContext
    fallbacks: tuple[ModelInfo, ...] = ()    # asked in turn, before any output, if it cannot
    repairs: int = 0                         # a reply failing its schema is sent back (0-2)
    cancel: threading.Event | None = None
    budget: bool = True                      # False: no reservation (a batch holds its own)
    cache: CacheMode | None = None           # the response cache; None: as the page's setting


class Response(Protocol[E_co]):
    """A model call (or a chain, repairs, an agent run): iterate once for its events; then
    its outcome. Nothing is sent before iterating or `reserve()`."""

    cancel: threading.Event

    @property
    def model(self) -> ModelInfo: ...  # the model that answered (or failed last)
    @property
    def text(self) -> str: ...
    @property
    def tool_calls(self) -> list[ToolCall]: ...
    @property
    def usage(self) -> Usage | None: ...
    @property
    def record(self) -> CallRecord | None: ...  # the last call's ledger row
    @property
    def records(self) -> list[CallRecord]: ...  # the rows of the attempts that make the reply
    @property
    def passed_over(self) -> list[Skipped]: ...  # models of a chain that did not answer, why
    @property
    def validation(self) -> Validation | None: ...
    @property
    def error(self) -> Exception | None: ...
    @property
    def cache_status(self) -> str | None: ...  # the response cache: hit | miss | None (off)

    def reserve(self) -> None:
        """Hold the budget now: raises BudgetExceededError before anything is sent."""

    def bind(self, conversation_id: int) -> None:
        """The calls belong to this conversation (created once the budget allowed them)."""

    def close(self) -> None:
        """Give back a reservation that was never used (the response will not be iterated)."""

    def __iter__(self) -> Iterator[E_co]: ...


def shaped(request: ChatRequest, model: ModelInfo) -> ChatRequest:
    """`request` as `model` takes it: its id, at most its output limit, no temperature or
    reasoning setting it refuses (ModelInfo.temperature_for, reasoning_for), prompt caching
    only where its provider offers it."""
    return replace(request, model=model.id,
                   max_tokens=max(1, min(request.max_tokens, model.max_output)),
                   temperature=model.temperature_for(request.temperature),
                   reasoning=model.reasoning_for(request.reasoning),
                   cache_system=request.cache_system
                   and capabilities(model.provider).prompt_cache_min is not None)


def fit(request: ChatRequest, model: ModelInfo, counter: Counter) -> ChatRequest:
    """`request` shaped for `model`; ContextOverflowError if the input and the reserved output
    exceed its window."""
    fitted = shaped(request, model)
    room = model.context_window - counter.count_request(fitted)
    if fitted.max_tokens > room:
        raise ContextOverflowError(
            f"The request leaves {max(room, 0):,} tokens of {model.label}'s "
            f"{model.context_window:,}-token window, and {fitted.max_tokens:,} were asked for.",
            hint="Shorten the input or lower max tokens.")
    return fitted


def worth_caching(model: ModelInfo, prefix_tokens: int) -> bool:
    """Whether a prompt prefix this long is one `model`'s provider would cache."""
    least = capabilities(model.provider).prompt_cache_min
    return least is not None and prefix_tokens >= least


@dataclass
class Calls:
    """Makes model calls for one process's settings; see the module's docstring."""

    settings: Settings
    recorder: Recorder | None = None                        # default: the ledger
    provider_for: Callable[[ModelInfo], Provider] | None = None  # tests: a scripted provider
    policy: RetryPolicy | None = None                       # default: the settings' deadline
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    guards: Guards = field(default_factory=lambda: GUARDS)
    cache_store: CacheStore | None = None                   # default: as the settings say

    def __post_init__(self) -> None:
        self._recorder: Recorder = self.recorder or LedgerRecorder(self.settings.db)
        # Tracing on (lib.telemetry): each row stored is also a span; else the same recorder.
        self._recorder = traced(self._recorder)
        self._policy = self.policy or RetryPolicy(deadline_s=self.settings.deadline_s)

    def invoke(self, spec: CallSpec) -> Response[CallEvent]:
        """The call `spec` describes (a chain when it has fallbacks, with its repairs); raises
        the reason a chain of one model cannot be used (ProviderError, ContextOverflowError)."""
        cancel = spec.cancel or threading.Event()
        spec = replace(spec, cancel=cancel)
        first: Call | Fallbacks
        if spec.fallbacks:
            first = Fallbacks((spec.model, *spec.fallbacks),
                              lambda m, context: self.call(replace(spec, model=m,
                                                                   context=context)),
                              spec.context, cancel)
        else:
            first = self.call(spec)
        # Without an output schema there is nothing to repair: Repairing then only passes on.
        return Repairing(first, spec.repairs) if spec.repairs else first

    def call(self, spec: CallSpec) -> Call:
        """One model's call, its fallbacks and repairs aside (an agent's step, a chain's link)."""
        model = spec.model
        provider = (self.provider_for or self._provider)(model)
        counter = counter_for(model, self.settings)
        # A builder plans its own window (a chat's context plan); a plain request is checked.
        request = shaped(spec.ask(model, counter), model) if callable(spec.ask) \
            else fit(spec.ask, model, counter)
        return Call(provider, model, request, spec.context, recorder=self._recorder,
                    policy=self._policy, count_input=counter.count_request,
                    count_output=counter.count, cancel=spec.cancel, sleep=self.sleep,
                    clock=self.clock, budget=spec.budget, estimated_input=not counter.exact,
                    guards=self.guards, price_file=str(user_catalog_path(self.settings)),
                    cache=self._lookup(spec, model, request))

    def _lookup(self, spec: CallSpec, model: ModelInfo, request: ChatRequest) -> Lookup | None:
        mode = mode_for(self.settings, spec.context.page, spec.cache)
        if mode is CacheMode.OFF:
            return None
        if self.cache_store is None:
            self.cache_store = store_for(self.settings)
        return Lookup(self.cache_store, request_key(model.provider, model.key, request,
                                                    spec.context.repeat), mode)

    def _provider(self, model: ModelInfo) -> Provider:
        return get_provider(model.provider, self.settings)


def invoke(settings: Settings, spec: CallSpec) -> Response[CallEvent]:
    """`Calls(settings).invoke(spec)`: a call recorded in the settings' ledger."""
    return Calls(settings).invoke(spec)
