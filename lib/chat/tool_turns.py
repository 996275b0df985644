"""A turn with tools is one stored reply whose meta holds its steps (thinking, text, calls,
results): drawn inline under the reply, exported, and expanded back into thinking, calls and
results, in each provider's format, when the conversation goes on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lib.agents import Approval, Outcome, Tool, denial
from lib.chat.thoughts import Thoughts, as_block, step_parts
from lib.core import ToolError
from lib.llm import Block, Message, ToolCall, ToolResult, ToolUse

# What a person decides for a call that asks first; "conversation": approve, and later calls
# of the tool in the conversation run without asking.
DECISIONS = ("approve", "deny", "conversation")
DENIED = "the person denied this call"


def expand(role: str, content: str, meta: dict[str, Any]) -> list[Message]:
    """A stored message as the model saw it: each step's thinking and calls in the order the
    model wrote them, and their results; then the text."""
    out: list[Message] = []
    for step in meta.get("steps", ()):
        calls = step.get("calls", ())
        if not calls:
            continue
        blocks: list[Block] = []
        for kind, part in step_parts(step):
            if kind == "thinking":
                blocks += [as_block(b) for b in part]
            elif kind == "call":
                blocks.append(ToolUse(part["id"], part["name"], part.get("arguments", {})))
        out.append(Message("assistant", step.get("text", ""), tuple(blocks)))
        out.append(Message("user", "", tuple(
            ToolResult(c["id"], "No result was given." if c.get("pending") else
                       c.get("result", ""), bool(c.get("is_error") or c.get("pending")))
            for c in calls)))
    if content or not out:
        # A stored role: the messages table allows only 'user' and 'assistant'.
        out.append(Message(role, content))  # type: ignore[arg-type]
    return out


def call_meta(c: ToolCall, o: Outcome, tool: Tool | None = None) -> dict[str, Any]:
    """One call and its outcome as plain data; a call that asks first keeps its tool's
    annotations (shown beside the Approve and Deny buttons)."""
    return {"id": c.id, "name": c.name, "arguments": c.arguments, "raw": c.raw,
            "invalid": c.invalid, "result": o.content, "is_error": o.is_error,
            "ms": round(o.ms, 1), "cut": o.cut, "sources": list(o.sources),
            **({"pending": True} if o.pending else {}),
            **({"asks": True, "annotations": dict(tool.annotations) if tool else {}}
               if o.asks else {}),
            **({"server": o.server} if o.server else {})}


def steps_meta(steps: list[Any], thoughts: Thoughts | None = None,
               model: str = "", tools: dict[str, Tool] | None = None) -> list[dict[str, Any]]:
    """The run's steps (lib.agents.Step) as plain data for the message's meta, each with the
    thinking `thoughts` saw in it (`model`: the run's, for blocks that name none)."""
    tools = tools or {}
    return [{"number": s.number, "call_id": s.call_id, "text": s.text, "status": s.status,
             "input_tokens": s.input_tokens, "output_tokens": s.output_tokens,
             "reasoning_tokens": s.record.reasoning_tokens,
             "thinking": thoughts.blocks(model, s.number) if thoughts else [],
             "cost_micro": s.cost_micro, "ms": round(s.ms, 1),
             "calls": [call_meta(c, o, tools.get(c.name)) for c, o in s.calls]}
            for s in steps]


def give_results(meta: dict[str, Any], typed: dict[str, str]) -> None:
    """Fill the results a run waits for with what the user typed (in place). A call that
    asks first takes a decision (DECISIONS) instead: denied, its result is the denial;
    approved, it stays pending until the run goes on and runs it (`approved_calls`)."""
    waiting = [c for s in meta.get("steps", ()) for c in s.get("calls", ()) if c.get("pending")]
    undecided = [c["name"] for c in waiting
                 if c.get("asks") and typed.get(c["id"]) not in DECISIONS]
    if undecided:
        raise ToolError(f"Approve or deny {', '.join(undecided)} before going on.")
    missing = [c["name"] for c in waiting
               if not c.get("asks") and not str(typed.get(c["id"], "")).strip()]
    if missing:
        raise ToolError(f"Give a result for {', '.join(missing)} before going on.")
    for c in waiting:
        if not c.get("asks"):
            c["result"], c["pending"] = str(typed[c["id"]]), False
            continue
        c["decision"] = typed[c["id"]]
        if c["decision"] == "deny":
            c["result"], c["is_error"], c["pending"] = denial(c["name"], DENIED), True, False


def approved_calls(meta: dict[str, Any]) -> tuple[ToolCall, ...]:
    """The calls a person approved that have not run yet (the run goes on with them)."""
    return tuple(ToolCall(c["id"], c["name"], c.get("arguments", {}), c.get("raw", ""))
                 for s in meta.get("steps", ()) for c in s.get("calls", ())
                 if c.get("pending") and c.get("decision") in ("approve", "conversation"))


def ran_approved(meta: dict[str, Any], ran: Iterable[tuple[ToolCall, Outcome]],
                 alone: bool = False) -> bool:
    """Put the outcomes of approved calls in their places in `meta` (in place). `alone`:
    no step followed them (Stop, a refusal): the run is paused, Go on sends them; returns
    `alone` (the meta is then to be stored as it is)."""
    outcomes = {c.id: (c, o) for c, o in ran}
    if alone:
        meta["run_end"] = "paused"
    for s in meta.get("steps", ()):
        s["calls"] = [{**call_meta(*outcomes[c["id"]]), "decision": c.get("decision"),
                       "annotations": c.get("annotations", {}), "asks": True}
                      if c["id"] in outcomes and c.get("pending") else c
                      for c in s.get("calls", ())]
    return alone


def resuming(history: Iterable[Any], paused: dict[str, Any] | None) -> dict[str, Any]:
    """An AgentRun's arguments for the conversation's approvals and, going on with the paused
    run whose meta is `paused`, its id, its step numbers and the calls a person approved."""
    approval = {"approval": Approval(approved_tools(history))}
    if paused is None:
        return approval
    return approval | {"run_id": paused.get("run_id"), "step_offset": len(paused["steps"]),
                       "approved": approved_calls(paused)}


def approved_tools(history: Iterable[Any]) -> frozenset[str]:
    """The tools a person approved for the conversation (in its stored replies' meta, so a
    reload keeps the approval): their calls run without asking."""
    return frozenset(c["name"] for m in history for s in m.meta.get("steps", ())
                     for c in s.get("calls", ()) if c.get("decision") == "conversation")


# What a run's reply adds up over its steps: a paused run that goes on sums both parts.
RUN_TOTALS = ("input_tokens", "output_tokens", "cost_micro", "total_ms", "unpriced",
              "reasoning_tokens", "reasoning_micro")


def gone_on(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The reply meta of a paused run that went on: earlier steps first, totals summed."""
    return {**after, "steps": before["steps"] + after["steps"],
            **{k: after.get(k, 0) + before.get(k, 0) for k in RUN_TOTALS}}
