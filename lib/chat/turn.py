"""One chat turn's lifecycle: plan it, begin it (reserve, store the message), stream, save."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from lib import knowledge
from lib.agents import AgentRun, Limits, stored_status
from lib.chat.context import ContextPlan, plan_context, with_documents
from lib.chat.conversations import (
    add_message,
    create_conversation,
    list_messages,
    rewind,
    update_message,
)
from lib.chat.grounded import grounding, sources_meta
from lib.chat.tool_turns import expand, give_results, steps_meta
from lib.core import Settings, ToolError
from lib.knowledge import Hit
from lib.llm import (
    Call,
    CallContext,
    ChatRequest,
    Event,
    ModelInfo,
    Provider,
    Repairing,
    RetryPolicy,
    counter_for,
    get_provider,
)
from lib.spend import CallRecord
from lib.storage import defer


@dataclass
class TurnOptions:
    system: str = ""
    temperature: float = 0.7
    max_tokens: int = 512
    page: str = "chat"
    prompt_name: str | None = None
    prompt_version: int | None = None
    knowledge_base: str | None = None   # ground each turn in this knowledge base
    top_k: int = 4
    tools: tuple[Any, ...] = ()         # lib.agents.Tool the model may call: an agent run
    tool_choice: str = "auto"
    max_steps: int = 8
    max_cost_usd: float | None = None
    output_schema: dict[str, Any] | None = None  # the reply must be JSON matching this


@dataclass
class ChatTurn:
    """One user message and the streamed reply.

    Creating a turn plans it (retrieval, context window) and stores nothing; it may raise
    ContextOverflowError. `begin()` reserves the budget, then creates the conversation if
    there is none yet and stores the user's message, so a refused call leaves nothing behind
    and a failed one never loses the message. The message is written on the background
    writer while the call goes out (so the write is not in the time to first token) and is
    joined before the reply is saved. Iterating streams events (beginning first if needed),
    once; the reply is stored with its status (ok, incomplete, cancelled) whenever any text
    arrived.
    """

    settings: Settings
    conversation_id: int | None
    model: ModelInfo
    user_text: str
    options: TurnOptions = field(default_factory=TurnOptions)
    provider: Provider | None = None
    policy: RetryPolicy | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    replace_from: int | None = None  # edit / regenerate: this message and later ones go
    continue_from: int | None = None  # a reply whose agent run paused: go on with it
    typed: dict[str, str] | None = None  # results the user typed for calls the run awaits
    plan: ContextPlan = field(init=False)
    call: Call | Repairing | None = field(init=False, default=None)
    run: AgentRun | None = field(init=False, default=None)
    hits: list[Hit] = field(init=False, default_factory=list)
    _stored: Future | None = field(init=False, default=None, repr=False)
    _streamed: bool = field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        path = self.settings.db_path
        stored = list_messages(path, self.conversation_id) \
            if self.conversation_id is not None else []
        self.paused = next((m for m in stored if m.id == self.continue_from), None)
        if self.continue_from is not None and (self.paused is None or not self.paused.meta.get(
                "steps") or self.paused.id != stored[-1].id):
            raise ToolError("Only the last reply's agent run can go on.")
        if self.paused is not None and not self.options.tools:
            raise ToolError("Enable tools in the sidebar to go on with the run.")
        if self.paused is not None and self.paused.meta.get("run_end") == "awaiting":
            give_results(self.paused.meta, self.typed or {})  # before history is built
        history = [part for m in stored
                   if self.replace_from is None or m.id < self.replace_from
                   for part in expand(m.role, m.content, m.meta)]
        self.counter = counter_for(self.model, self.settings)
        max_tokens = min(self.options.max_tokens, self.model.max_output)
        self.kb = None
        if self.options.knowledge_base:
            self.kb = knowledge.get_kb(self.settings, self.options.knowledge_base)
        if self.kb is not None and not self.options.tools:  # with tools, the model searches
            self.hits = knowledge.search(self.settings, self.kb, self.user_text,
                                         self.options.top_k)
        docs = grounding(self.hits)
        self.plan = plan_context(self.counter, self.model, self.options.system, history,
                                 self.user_text, max_tokens, documents=docs)
        # Anthropic caches a prompt prefix of 1024+ tokens: mark a long system prompt (and the
        # documents travelling with it) so repeated turns read it at a tenth of the price.
        cache = (self.model.provider == "anthropic"
                 and self.plan.system_tokens + self.plan.documents_tokens >= 1024)
        self.request = ChatRequest(
            model=self.model.id, messages=self.plan.messages, cache_system=cache,
            system=with_documents(self.options.system, docs),
            temperature=self.options.temperature if self.model.temperature else None,
            max_tokens=max_tokens, tools=tuple(t.spec for t in self.options.tools),
            tool_choice=self.options.tool_choice, output_schema=self.options.output_schema)

    def begin(self) -> int:
        """Reserve, then store the user's message (in a new conversation if needed).

        Returns the conversation id. Raises BudgetExceededError with nothing stored.
        """
        if self.call is not None:
            return self.conversation_id  # type: ignore[return-value]
        path = self.settings.db_path
        provider = self.provider or get_provider(self.model.provider, self.settings)
        policy = self.policy or RetryPolicy(deadline_s=self.settings.deadline_s)
        call = Call(provider, self.model, self.request,
                    CallContext(self.options.page, self.options.prompt_name,
                                self.options.prompt_version, self.conversation_id),
                    db_path=path, policy=policy, count_input=self.counter.count_request,
                    count_output=self.counter.count, cancel=self.cancel,
                    estimated_input=not self.counter.exact)
        if self.options.tools:
            self.run = AgentRun(provider, self.model, self.request, call.context,
                                {t.name: t for t in self.options.tools}, db_path=path,
                                tool_context={"settings": self.settings, "kb": self.kb},
                                limits=Limits(self.options.max_steps, self.options.max_cost_usd),
                                cancel=self.cancel, policy=policy,
                                count_input=self.counter.count_request,
                                count_output=self.counter.count,
                                repairs=self.settings.structured_repairs,
                                **({"run_id": self.paused.meta.get("run_id"),
                                    "step_offset": len(self.paused.meta["steps"])}
                                   if self.paused else {}))
            self.run.reserve_first()  # a refusal raises here, before anything is stored
        else:
            call = Repairing(call, self.settings.structured_repairs)  # no-op without a schema
            call.reserve()  # a refusal raises here, before anything is stored
        if self.conversation_id is None:
            self.conversation_id = create_conversation(path, model=self.model.key,
                                                       system=self.options.system)
            call.context = CallContext(self.options.page, self.options.prompt_name,
                                       self.options.prompt_version, self.conversation_id)
            if self.run is not None:
                self.run.set_context(call.context)
        if self.replace_from is not None:  # only now: a refused call replaces nothing
            rewind(path, self.conversation_id, self.replace_from)
        if self.paused is None:  # going on adds no message of the user's
            self._stored = defer(add_message, path, self.conversation_id, "user",
                                 self.user_text, model=self.model.key,
                                 system=self.options.system)
        self.call = call
        return self.conversation_id

    def __iter__(self) -> Iterator[Event]:
        self.begin()
        if self._streamed:
            return  # a turn is sent once; iterating it again yields nothing
        self._streamed = True
        try:
            yield from self.run if self.run is not None else self.call  # type: ignore[misc]
        finally:
            if self._stored is not None:
                self._stored.result()  # the user's message is in before the reply
            if self.run is not None:
                self._save_run()
            else:
                self._save_reply()

    def _save_run(self) -> None:
        run = self.run
        if run is None or not run.steps or self.conversation_id is None:
            return
        last = run.steps[-1].record
        reason = run.finished.reason if run.finished else "paused"
        meta = reply_meta(self.model, last, self.plan)
        meta.update(steps=steps_meta(run.steps), run_id=run.run_id, run_end=reason,
                    input_tokens=run.input_tokens, output_tokens=run.output_tokens,
                    cost_micro=run.cost_micro, total_ms=run.ms)
        if run.finished is not None and run.finished.error is not None:
            meta["error"] = str(run.finished.error)
        if (v := run.steps[-1].validation) is not None:
            meta["structured"] = {"status": v.status, "errors": list(v.errors)}
        text = run.steps[-1].text if reason == "answered" else ""
        if self.paused is not None:  # one reply for the whole run: earlier steps first
            before = self.paused.meta
            meta["steps"] = before["steps"] + meta["steps"]
            for key in ("input_tokens", "output_tokens", "cost_micro", "total_ms"):
                meta[key] += before.get(key, 0)
            update_message(self.settings.db_path, self.paused.id, text,
                           status=stored_status(reason), meta=meta)
            return
        add_message(self.settings.db_path, self.conversation_id, "assistant", text,
                    status=stored_status(reason), call_id=last.id, meta=meta)

    def _save_reply(self) -> None:
        call = self.call
        if call is None or call.record is None or self.conversation_id is None:
            return
        if self.hits:
            knowledge.link_call(self.settings, call.record.id, [h.chunk_id for h in self.hits])
        if not call.text:
            return
        meta = reply_meta(self.model, call.record, self.plan)
        if isinstance(call, Repairing) and call.validation is not None:
            v, records = call.validation, call.records
            meta["structured"] = {"status": v.status, "errors": list(v.errors),
                                  "repairs": len(records) - 1}
            for key in ("input_tokens", "output_tokens", "cost_micro", "total_ms"):
                meta[key] = sum(getattr(r, key) for r in records)  # every attempt is paid
        if self.hits:
            meta["knowledge_base"] = self.options.knowledge_base
            meta["sources"] = sources_meta(self.hits)
        add_message(self.settings.db_path, self.conversation_id, "assistant", call.text,
                    status=call.record.status, call_id=call.record.id, meta=meta)

    @property
    def record(self) -> CallRecord | None:
        return self.call.record if self.call else None


def reply_meta(model: ModelInfo, record: CallRecord, plan: ContextPlan) -> dict[str, Any]:
    """What is shown under a reply: model, tokens, cost, timings, and what was left out."""
    return {"model": model.key, "label": model.label, "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens, "estimated": record.usage_estimated,
            "cost_micro": record.cost_micro, "ttft_ms": record.ttft_ms,
            "total_ms": record.total_ms, "dropped": plan.dropped,
            "anatomy": {**plan.bands(), "window": plan.window, "input": plan.input_tokens,
                        "counter": plan.counter},
            "documents_tokens": plan.documents_tokens,
            "error": record.error_message, "error_kind": record.error_kind}
