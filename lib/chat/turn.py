"""One chat turn's lifecycle: plan it, begin it (reserve, store the message), stream, save."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from lib import knowledge
from lib.agents import AgentRun, Limits, stored_status
from lib.chat.compaction import Compaction
from lib.chat.context import ContextPlan, plan_context, with_documents
from lib.chat.conversations import (
    add_message,
    create_conversation,
    list_messages,
    update_message,
)
from lib.chat.grounded import grounding, sources_meta
from lib.chat.options import TurnOptions
from lib.chat.replies import reply_meta
from lib.chat.tool_turns import give_results, steps_meta
from lib.core import ContextOverflowError, NotFoundError, Settings, ToolError
from lib.knowledge import Hit
from lib.llm import (
    CallContext,
    CallEvent,
    Calls,
    CallSpec,
    ChatRequest,
    Counter,
    Event,
    ModelInfo,
    Response,
    counter_for,
    worth_caching,
)
from lib.spend import CallRecord
from lib.storage import defer


@dataclass
class ChatTurn:
    """One user message and the streamed reply.

    Creating a turn plans it (retrieval, context window) and stores nothing; it may raise
    ContextOverflowError. `begin()` reserves the budget, then creates the conversation if
    there is none yet and stores the user's message, so a refused call leaves nothing behind
    and a failed one never loses the message (a summarising conversation first folds the
    turns that no longer fit into its summary: `summarise_first()`, which a page may run
    under its own progress and Stop). `replace_from`: an edit, a branch beside that message;
    with `again`, a regenerate: that (user's) message is asked again, the new reply a branch
    beside its replies. The message is written on the background
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
    calls: Calls | None = None       # the call seam (tests: a scripted provider)
    cancel: threading.Event = field(default_factory=threading.Event)
    replace_from: int | None = None  # edit / regenerate: a branch beside this message
    again: bool = False              # regenerate: replace_from is the user's message, kept
    continue_from: int | None = None  # a reply whose agent run paused: go on with it
    typed: dict[str, str] | None = None  # results the user typed for calls the run awaits
    plan: ContextPlan = field(init=False)
    call: Response[CallEvent] | None = field(init=False, default=None)
    run: AgentRun | None = field(init=False, default=None)
    hits: list[Hit] = field(init=False, default_factory=list)
    _stored: Future | None = field(init=False, default=None, repr=False)
    _asked: int | None = field(init=False, default=None, repr=False)  # the reply follows it
    _streamed: bool = field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        stored = list_messages(self.settings.db_path, self.conversation_id) \
            if self.conversation_id is not None else []
        self.paused = next((m for m in stored if m.id == self.continue_from), None)
        if self.continue_from is not None and (self.paused is None or not self.paused.meta.get(
                "steps") or self.paused.id != stored[-1].id):
            raise ToolError("Only the last reply's agent run can go on.")
        if self.paused is not None and not self.options.tools:
            raise ToolError("Enable tools in the sidebar to go on with the run.")
        if self.paused is not None and self.paused.meta.get("run_end") == "awaiting":
            give_results(self.paused.meta, self.typed or {})  # before history is built
        self.compaction = Compaction.load(self.settings, self.conversation_id, stored,
                                          self.options.history, self.replace_from)
        self.compaction.failed = self.options.skip_summary
        before = self.compaction.stored  # the new message follows their last
        self._parent = before[-1].id if before else None
        if self.again:
            if self.replace_from is None or not any(
                    m.id == self.replace_from and m.role == "user" for m in stored):
                raise NotFoundError("That message is no longer on this branch of the "
                                    "conversation: nothing was asked again.")
            self._asked = self.replace_from
        history = self.compaction.history()  # after the summary, if there is one
        self.kb = None
        if self.options.knowledge_base:
            self.kb = knowledge.get_kb(self.settings, self.options.knowledge_base)
        if self.kb is not None and not self.options.tools:  # with tools, the model searches
            self.hits = knowledge.search(self.settings, self.kb, self.user_text,
                                         self.options.top_k)
        self._history = history
        self._prepared: dict[str, tuple[Any, ContextPlan, ChatRequest]] = {}
        try:
            self.counter, self.plan, self.request = self._prepare(self.model)
        except ContextOverflowError:
            if not self.options.fallbacks or self.options.tools:  # agent runs do not fall back
                raise
            # A model of the chain with a longer window may take it: plan for the first one.
            for m in self.options.fallbacks:
                try:
                    self.counter, self.plan, self.request = self._prepare(m)
                    break
                except ContextOverflowError:
                    continue
            else:
                raise

    def _prepare(self, model: ModelInfo) -> tuple[Any, ContextPlan, ChatRequest]:
        """The counter, context plan and request for one model (the chain's models differ in
        window, tokenizer and what they accept); raises ContextOverflowError."""
        if model.key in self._prepared:
            return self._prepared[model.key]
        counter = counter_for(model, self.settings)
        max_tokens = min(self.options.max_tokens, model.max_output)
        docs = grounding(self.hits)
        plan = plan_context(counter, model, self.options.system, self._history,
                            self.user_text, max_tokens, documents=docs,
                            summary=self.compaction.block())
        # A provider that caches a long prompt prefix: mark the system prompt (and the
        # documents travelling with it) so repeated turns read it at a fraction of the price.
        cache = worth_caching(model, plan.system_tokens + plan.documents_tokens)
        request = ChatRequest(
            model=model.id, messages=plan.messages, cache_system=cache,
            system=with_documents(self.options.system, docs),
            temperature=self.options.temperature if model.temperature else None,
            max_tokens=max_tokens, tools=tuple(t.spec for t in self.options.tools),
            tool_choice=self.options.tool_choice, output_schema=self.options.output_schema)
        self._prepared[model.key] = counter, plan, request
        return counter, plan, request

    def _ask(self, model: ModelInfo, _counter: Counter) -> ChatRequest:
        return self._prepare(model)[2]

    def _calls(self) -> Calls:
        if self.calls is None:
            self.calls = Calls(self.settings)
        return self.calls

    def begin(self) -> int:
        """Reserve, then store the user's message (in a new conversation if needed).

        Returns the conversation id. Raises BudgetExceededError with nothing stored.
        """
        if self.call is not None:
            return self.conversation_id  # type: ignore[return-value]
        self.summarise_first()
        path = self.settings.db_path
        o = self.options
        context = CallContext(o.page, o.prompt_name, o.prompt_version, self.conversation_id,
                              route=o.route, baseline=o.baseline, user=o.user)
        call: Response[Any]
        if o.tools:  # agent runs do not fall back: a tool may have run
            self.run = AgentRun(self._calls(), CallSpec(
                self.model, self.request, context, repairs=self.settings.structured_repairs,
                cancel=self.cancel), {t.name: t for t in o.tools},
                tool_context={"settings": self.settings, "kb": self.kb},
                limits=Limits(o.max_steps, o.max_cost_usd),
                **({"run_id": self.paused.meta.get("run_id"),
                    "step_offset": len(self.paused.meta["steps"])} if self.paused else {}))
            call = self.run
        else:
            call = self._calls().invoke(CallSpec(
                self.model, self._ask, context, fallbacks=o.fallbacks,
                repairs=self.settings.structured_repairs, cancel=self.cancel))
        call.reserve()  # a refusal raises here, before anything is stored
        if self.conversation_id is None:
            self.conversation_id = create_conversation(
                path, model=self.model.key, system=o.system,
                history=o.history, owner=o.user)
            call.bind(self.conversation_id)
        if self.paused is None and not self.again:  # going on adds no message of the user's
            self._stored = defer(add_message, path, self.conversation_id, "user",
                                 self.user_text, model=self.model.key,
                                 system=self.options.system, parent=self._parent)
        self.call = call
        return self.conversation_id

    def summarise_first(self, cancel: threading.Event | None = None) -> bool:
        """If the conversation summarises and the plan drops turns, fold them into its
        summary and plan again; True if it did. On failure (or `cancel`) the sliding window
        applies and the reply says why. Safe to call once more: it then does nothing."""
        if self.model.key in self._prepared and self.compaction.fold(
                self.plan, self._calls(), cancel or self.cancel):
            self._history, self._prepared = self.compaction.history(), {}
            self.counter, self.plan, self.request = self._prepare(self.model)
            return True
        return False

    def __iter__(self) -> Iterator[Event]:
        self.begin()
        if self._streamed:
            return  # a turn is sent once; iterating it again yields nothing
        self._streamed = True
        try:
            yield from self.call  # type: ignore[misc]
        finally:
            if self._stored is not None:
                self._asked = self._stored.result()  # the user's message is in before the reply
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
        meta = reply_meta(self.model, last, self.plan) | self.compaction.meta(self.plan)
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
                    status=stored_status(reason), call_id=last.id, meta=meta,
                    parent=self._asked)

    def _save_reply(self) -> None:
        call = self.call
        if call is None or call.record is None or self.conversation_id is None:
            return
        if self.hits:
            knowledge.link_call(self.settings, call.record.id, [h.chunk_id for h in self.hits])
        if not call.text and call.record.status != "ok":
            return  # nothing came: the page says why; the user's message stays
        model = self.answered_by()
        plan = self._prepared[model.key][1]
        meta = reply_meta(model, call.record, plan) | self.compaction.meta(plan)
        if call.passed_over:
            meta["fallbacks"] = [{"model": s.label, "reason": s.reason}
                                 for s in call.passed_over]
        if call.validation is not None:
            v, records = call.validation, call.records
            meta["structured"] = {"status": v.status, "errors": list(v.errors),
                                  "repairs": len(records) - 1}
            for key in ("input_tokens", "output_tokens", "cost_micro", "total_ms"):
                meta[key] = sum(getattr(r, key) for r in records)  # every attempt is paid
        if self.hits:
            meta["knowledge_base"] = self.options.knowledge_base
            meta["sources"] = sources_meta(self.hits)
        if not call.text:
            meta["empty"] = True  # kept, so the page can say so; never sent to a model again
        add_message(self.settings.db_path, self.conversation_id, "assistant", call.text,
                    status=call.record.status, call_id=call.record.id, meta=meta,
                    parent=self._asked)

    def answered_by(self) -> ModelInfo:
        """The model whose call answered (or failed last): a fallback, or the one chosen."""
        return self.call.model if self.call is not None else self.model

    @property
    def record(self) -> CallRecord | None:
        return self.call.record if self.call else None
