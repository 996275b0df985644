"""Sending one chat turn from its draft: retrieve, fold earlier turns into the summary if the
conversation summarises, reserve, store the user's message, stream, save the reply.

A refused call leaves nothing behind (the budget is reserved before the conversation is
created or the message stored) and a failed one never loses the message. The message is
written on the background writer while the call goes out (so the write is not in the time to
first token) and joined before the reply is saved. The reply is stored with its status (ok,
incomplete, cancelled) whenever the call was made.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from lib import knowledge
from lib.agents import AgentRun, Limits, stored_status
from lib.chat.context import ContextPlan, plan_context, with_documents
from lib.chat.conversations import add_message, create_conversation, update_message
from lib.chat.events import Began, Grounded, Summarising, TurnEvent, turn_events
from lib.chat.grounded import grounding, sources_meta
from lib.chat.replies import reasoning_meta, reply_meta
from lib.chat.summaries import summary_model
from lib.chat.thoughts import Thoughts
from lib.chat.tool_turns import give_results, gone_on, ran_approved, resuming, steps_meta
from lib.core import ContextOverflowError, ToolError
from lib.knowledge import Hit
from lib.llm import (
    CallContext,
    CallEvent,
    Calls,
    CallSpec,
    ChatRequest,
    Counter,
    ModelInfo,
    Response,
    counter_for,
    thinking_budget,
    worth_caching,
)
from lib.spend import CallRecord
from lib.storage import defer

if TYPE_CHECKING:
    from lib.chat.session import Draft

TICK_S = 0.25   # how often summarising reports its progress (a page hears Stop between)


class ChatTurn:
    """One turn of a draft; iterate once for its events (lib.chat.events)."""

    def __init__(self, draft: Draft, calls: Calls | None = None) -> None:
        self.draft, self.settings, self.options = draft, draft.settings, draft.options
        self.model, self.ask = draft.model, draft.ask
        self.calls = calls or Calls(draft.settings)
        self.cancel = threading.Event()
        self.conversation_id = draft.conversation.id if draft.conversation else None
        self.compaction = draft.compaction
        self.hits: list[Hit] = []
        self.kb: Any = None
        self.call: Response[Any] | None = None
        self.run: AgentRun | None = None
        self._plans: dict[str, tuple[ContextPlan, ChatRequest]] = {}
        self._stored: Future[int] | None = None
        self._asked: int | None = None      # the user message the reply follows
        self.thoughts = Thoughts()           # the reply's thinking, as it streams
        self.paused = self._paused()

    # -- planning ------------------------------------------------------------------------
    def _paused(self) -> Any:
        """The reply whose agent run goes on (`ask.continue_from`), its typed results in."""
        ask, history = self.ask, self.draft.history
        if ask.continue_from is None:
            return None
        paused = next((m for m in history if m.id == ask.continue_from), None)
        if paused is None or not paused.meta.get("steps") or paused.id != history[-1].id:
            raise ToolError("Only the last reply's agent run can go on.")
        if not self.options.tools:
            raise ToolError("Enable tools in the sidebar to go on with the run.")
        if paused.meta.get("run_end") == "awaiting":  # results still missing: say which
            give_results(paused.meta, ask.typed or {})
        return paused

    def _plan(self, model: ModelInfo) -> tuple[ContextPlan, ChatRequest]:
        """The context plan and request for one model (the chain's models differ in window,
        tokenizer and what they accept); raises ContextOverflowError. The draft's own plan
        serves its model when no documents were added."""
        if model.key in self._plans:
            return self._plans[model.key]
        o, docs = self.options, grounding(self.hits)
        max_tokens = min(o.max_tokens, model.max_output)
        est = self.draft.estimate
        if est is not None and model.key == self.model.key and not docs \
                and not self.compaction.made:
            plan = est.plan
        else:
            plan = plan_context(counter_for(model, self.settings), model, o.system,
                                self.compaction.history(), self.ask.text, max_tokens,
                                documents=docs, summary=self.compaction.block(),
                                thinking=thinking_budget(model, o.reasoning))
        # A provider that caches a long prompt prefix: mark the system prompt (and the
        # documents travelling with it) so repeated turns read it at a fraction of the price.
        request = ChatRequest(
            model=model.id, messages=plan.messages,
            cache_system=worth_caching(model, plan.system_tokens + plan.documents_tokens),
            system=with_documents(o.system, docs), temperature=o.temperature,
            max_tokens=max_tokens, tools=tuple(t.spec for t in o.tools),
            tool_choice=o.tool_choice, output_schema=o.output_schema,
            reasoning=o.reasoning)  # the seam fits it to the model (a chain's models differ)
        self._plans[model.key] = plan, request
        return plan, request

    def _ask(self, model: ModelInfo, _counter: Counter) -> ChatRequest:
        return self._plan(model)[1]

    def _retrieve(self) -> Iterator[TurnEvent]:
        """Ground the turn in its knowledge base (with tools, the model searches itself)."""
        name = self.options.knowledge_base
        if not name:
            return
        self.kb = knowledge.get_kb(self.settings.db, name)
        if self.kb is not None and not self.options.tools:
            self.hits = knowledge.search(self.settings, self.kb, self.ask.text,
                                         self.options.top_k)
            yield Grounded(name, len(self.hits))

    def _summarise_first(self) -> Iterator[TurnEvent]:
        """If the conversation summarises and the plan drops turns, fold them into its
        summary first, reporting progress; on failure (or Stop) the sliding window applies
        and the reply says why."""
        plan = self._first_plan()
        c = self.compaction
        if not c.due(plan):
            return
        n, writer = len(c.to_fold(plan)), summary_model(self.settings).label
        done, started = threading.Event(), time.monotonic()
        def fold() -> None:
            try:
                c.fold(plan, self.calls, self.cancel)
            finally:  # an error fold does not catch would otherwise leave the turn waiting
                done.set()

        worker = threading.Thread(target=fold, name="chat-summary", daemon=True)
        worker.start()
        try:
            while not done.wait(TICK_S):
                yield Summarising(n, writer, time.monotonic() - started)
        except BaseException:  # Stop, or the page left: the fold is given up
            self.cancel.set()
            raise
        if c.made:
            self._plans.clear()

    def _first_plan(self) -> ContextPlan:
        """The plan of the chosen model, or of the first model of the chain that fits."""
        try:
            return self._plan(self.model)[0]
        except ContextOverflowError:
            if not self.options.fallbacks or self.options.tools:  # runs do not fall back
                raise
            for m in self.options.fallbacks:  # a longer window of the chain may take it
                try:
                    return self._plan(m)[0]
                except ContextOverflowError:
                    continue
            raise

    # -- sending -------------------------------------------------------------------------
    def begin(self) -> int:
        """Reserve, then store the user's message (in a new conversation if needed); returns
        the conversation id. Raises BudgetExceededError with nothing stored."""
        o, db = self.options, self.settings.db
        context = CallContext(o.page, o.prompt_name, o.prompt_version, self.conversation_id,
                              route=o.route, baseline=o.baseline, user=o.user)
        call: Response[Any]
        if o.tools:  # agent runs do not fall back: a tool may have run
            self.run = call = AgentRun(self.calls, CallSpec(
                self.model, self._plan(self.model)[1], context,
                repairs=self.settings.structured_repairs, cancel=self.cancel),
                {t.name: t for t in o.tools},
                tool_context={"settings": self.settings, "kb": self.kb},
                limits=Limits(o.max_steps, o.max_cost_usd),
                **resuming(self.draft.history, self.paused.meta if self.paused else None))
        else:
            call = self.calls.invoke(CallSpec(
                self.model, self._ask, context, fallbacks=o.fallbacks,
                repairs=self.settings.structured_repairs, cancel=self.cancel))
        call.reserve()  # a refusal raises here, before anything is stored
        if self.conversation_id is None:
            self.conversation_id = create_conversation(
                db, model=self.model.key, system=o.system, history=o.history, owner=o.user)
            call.bind(self.conversation_id)
        before = self.compaction.stored
        if self.ask.again:
            self._asked = self.ask.replace_from
        elif self.paused is None:  # going on adds no message of the user's
            self._stored = defer(add_message, db, self.conversation_id, "user",
                                 self.ask.text, model=self.model.key, system=o.system,
                                 parent=before[-1].id if before else None)
        self.call = call
        return self.conversation_id

    def __iter__(self) -> Iterator[TurnEvent]:
        yield from self._retrieve()
        yield from self._summarise_first()
        yield Began(self.begin())
        call = self.call
        if call is None:
            return
        try:
            yield from turn_events(self.thoughts.watch(call))
        finally:
            if self._stored is not None:
                self._asked = self._stored.result()  # the user's message is in first
            if self.run is not None:
                self._save_run(self.run)
            else:
                self._save_reply(call)

    # -- saving --------------------------------------------------------------------------
    def _save_run(self, run: AgentRun) -> None:
        # Approved calls ran: their results in; with no step after them, stored as they are.
        if self.paused is not None and run.resumed and ran_approved(
                self.paused.meta, run.resumed, not run.steps):
            update_message(self.settings.db, self.paused.id, "", status="incomplete",
                           meta=self.paused.meta)
        if not run.steps or self.conversation_id is None:
            return
        last = run.steps[-1].record
        reason = run.finished.reason if run.finished else "paused"
        plan = self._plan(self.model)[0]
        meta = reply_meta(self.model, last, plan) | self.compaction.meta(plan)
        steps = steps_meta(run.steps, self.thoughts, self.model.id, run.tools)
        meta.update(steps=steps, run_id=run.run_id, run_end=reason,
                    input_tokens=run.input_tokens, output_tokens=run.output_tokens,
                    cost_micro=run.cost_micro, total_ms=run.ms,
                    unpriced=sum(not s.record.priced for s in run.steps))
        meta.update(reasoning_meta(self.model, sum(s["reasoning_tokens"] for s in steps)))
        if run.finished is not None and run.finished.error is not None:
            meta["error"] = str(run.finished.error)
        if (v := run.steps[-1].validation) is not None:
            meta["structured"] = {"status": v.status, "errors": list(v.errors)}
        text = run.steps[-1].text if reason == "answered" else ""
        db = self.settings.db
        if self.paused is not None:  # one reply for the whole run
            update_message(db, self.paused.id, text, status=stored_status(reason),
                           meta=gone_on(self.paused.meta, meta))
            return
        add_message(db, self.conversation_id, "assistant", text,
                    status=stored_status(reason), call_id=last.id, meta=meta,
                    parent=self._asked)

    def _save_reply(self, call: Response[CallEvent]) -> None:
        record = call.record
        if record is None or record.id is None or self.conversation_id is None:
            return
        if self.hits:
            knowledge.link_call(self.settings.db, record.id, [h.chunk_id for h in self.hits])
        if not call.text and record.status != "ok":
            return  # nothing came: the page says why; the user's message stays
        model = call.model
        plan = self._plan(model)[0]
        meta = reply_meta(model, record, plan) | self.compaction.meta(plan)
        meta.update(reasoning_meta(model, call.usage.reasoning_tokens if call.usage else 0))
        if thinking := self.thoughts.blocks(model.id):
            meta.update(thinking=thinking, thinking_ms=round(self.thoughts.ms, 1))
        if call.passed_over:
            meta["fallbacks"] = [{"model": s.label, "reason": s.reason}
                                 for s in call.passed_over]
        if call.validation is not None:
            v, records = call.validation, call.records
            meta["structured"] = {"status": v.status, "errors": list(v.errors),
                                  "repairs": len(records) - 1}
            for key in ("input_tokens", "output_tokens", "cost_micro", "total_ms"):
                meta[key] = sum(getattr(r, key) for r in records)  # every attempt is paid
            meta["unpriced"] = sum(not r.priced for r in records)
        if self.hits:
            meta["knowledge_base"] = self.options.knowledge_base
            meta["sources"] = sources_meta(self.hits)
        if not call.text:
            meta["empty"] = True  # kept, so the page can say so; never sent to a model again
        add_message(self.settings.db, self.conversation_id, "assistant", call.text,
                    status=record.status, call_id=record.id, meta=meta, parent=self._asked)

    @property
    def plan(self) -> ContextPlan:
        """The context plan of the model that answered (or of the one chosen)."""
        return self._plan(self.answered_by())[0]

    def answered_by(self) -> ModelInfo:
        """The model whose call answered (or failed last): a fallback, or the one chosen."""
        return self.call.model if self.call is not None else self.model

    @property
    def record(self) -> CallRecord | None:
        return self.call.record if self.call else None
