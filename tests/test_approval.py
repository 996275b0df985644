"""Approval: a call to a tool whose policy is `ask` pauses the run before it runs (the same
pause as a typed result); a person approves it (it runs when the run goes on), denies it (the
model reads the denial), or approves it for the conversation (later calls run without
asking, after a reload too); `never` is refused; Compare denies, saying why."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fakes import FakeProvider, chat_turn, ok, scripted
from support import TIME_SERVER
from test_mcp_servers import tools_toml  # noqa: F401  (a fixture)

from lib import chat, compare
from lib.agents import AgentRun, Approval, RunFinished, ToolFinished, tool
from lib.chat import TurnOptions
from lib.compare import Variant
from lib.core import PromptLabError
from lib.llm import (
    CallContext,
    CallSpec,
    ChatRequest,
    Message,
    ModelInfo,
    RetryPolicy,
    Stop,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
    load_catalog,
)
from lib.prompts import PromptStore

MODEL = ModelInfo("m", "openai", "Paid", 8000, 1000, input=1.0, output=2.0)
DELETED: list[str] = []


@tool
def delete_ticket(ticket: str) -> str:
    """Delete a ticket."""
    DELETED.append(ticket)
    return f"deleted {ticket}"


DELETE = replace(delete_ticket, policy="ask", server="tickets",
                 annotations={"destructiveHint": True, "readOnlyHint": False})


@pytest.fixture(autouse=True)
def _clean():
    DELETED.clear()


def calls_delete(*tickets: str, first: int = 0):
    return ([*(ToolCall(f"d{first + i}", "delete_ticket", {"ticket": t}, "{}")
               for i, t in enumerate(tickets)), Usage(40, 8), Stop("tool_use")], None)


def run(settings, attempts, tools, approval=None):
    provider = FakeProvider(attempts)
    request = ChatRequest(MODEL.id, (Message("user", "Delete T-1"),),
                          tools=tuple(t.spec for t in tools.values()))
    agent = AgentRun(scripted(settings, provider), CallSpec(MODEL, request, CallContext("chat")),
                     tools, approval=approval)
    return agent, list(agent), provider


def test_an_ask_call_pauses_the_run_before_it_runs(settings):
    _, events, provider = run(settings, [calls_delete("T-1"), ok("never")],
                              {"delete_ticket": DELETE})
    assert events[-1] == RunFinished("awaiting") and len(provider.requests) == 1
    [o] = [e.outcome for e in events if isinstance(e, ToolFinished)]
    assert o.pending and o.asks and o.server == "tickets" and not DELETED
    # Arguments are checked before anyone is asked: a bad call goes back to the model.
    _, events, _ = run(settings, [([ToolCall("d0", "delete_ticket", {}, "{}"), Usage(4, 2),
                                    Stop("tool_use")], None), ok("Sorry.")],
                       {"delete_ticket": DELETE})
    [o] = [e.outcome for e in events if isinstance(e, ToolFinished)]
    assert o.is_error and not o.asks and events[-1] == RunFinished("answered")


def test_a_never_tool_named_anyway_is_refused_and_run_tools_run(settings):
    never = replace(delete_ticket, policy="never")
    _, events, _ = run(settings, [calls_delete("T-1"), ok("Cannot.")], {"delete_ticket": never})
    [o] = [e.outcome for e in events if isinstance(e, ToolFinished)]
    assert o.is_error and "may not be called" in o.content and not DELETED
    _, events, _ = run(settings, [calls_delete("T-2"), ok("Done.")],
                       {"delete_ticket": delete_ticket})  # run: today's behaviour
    assert DELETED == ["T-2"] and events[-1] == RunFinished("answered")


def test_a_run_with_no_one_to_ask_denies_and_the_model_reads_why(settings):
    _, events, provider = run(settings, [calls_delete("T-1"), ok("I could not.")],
                              {"delete_ticket": DELETE}, Approval(deny="nobody is there"))
    [o] = [e.outcome for e in events if isinstance(e, ToolFinished)]
    assert o.is_error and o.content.startswith("denied: nobody is there.") and not DELETED
    assert provider.requests[1].messages[-1].blocks == (ToolResult("d0", o.content, True),)
    assert events[-1] == RunFinished("answered")


def paused_turn(settings, provider, tools=(DELETE,)):
    turn = chat_turn(settings, None, MODEL, "Delete T-1", TurnOptions(tools=tools),
                     calls=scripted(settings, provider))
    list(turn)
    [_, waiting] = chat.list_messages(settings.db, turn.conversation_id)
    return turn.conversation_id, waiting


def go_on(settings, provider, conversation, waiting, decisions, tools=(DELETE,)):
    turn = chat_turn(settings, conversation, MODEL, "", TurnOptions(tools=tools),
                     calls=scripted(settings, provider), continue_from=waiting.id,
                     typed=decisions)
    return list(turn)


def test_approve_runs_the_call_and_the_run_goes_on_in_the_same_reply(settings):
    provider = FakeProvider([calls_delete("T-1"), ok("Deleted T-1.")])
    conversation, waiting = paused_turn(settings, provider)
    [call] = waiting.meta["steps"][0]["calls"]
    assert waiting.meta["run_end"] == "awaiting" and call["pending"] and call["asks"]
    assert call["server"] == "tickets" and call["annotations"]["destructiveHint"] is True
    with pytest.raises(PromptLabError, match="Approve or deny delete_ticket"):
        go_on(settings, provider, conversation, waiting, {})
    assert not DELETED and len(provider.requests) == 1
    go_on(settings, provider, conversation, waiting, {"d0": "approve"})
    assert DELETED == ["T-1"]
    assert provider.requests[1].messages[-1].blocks == (ToolResult("d0", "deleted T-1"),)
    [_, reply] = chat.list_messages(settings.db, conversation)
    assert reply.id == waiting.id and reply.content == "Deleted T-1."
    [call] = reply.meta["steps"][0]["calls"]
    assert call["result"] == "deleted T-1" and not call.get("pending")
    assert call["decision"] == "approve" and reply.meta["run_end"] == "answered"


def test_deny_sends_the_denial_to_the_model(settings):
    provider = FakeProvider([calls_delete("T-1"), ok("I did not delete it.")])
    conversation, waiting = paused_turn(settings, provider)
    go_on(settings, provider, conversation, waiting, {"d0": "deny"})
    assert not DELETED
    [denied] = provider.requests[1].messages[-1].blocks
    assert denied.is_error and denied.content.startswith("denied: the person denied this call")
    [_, reply] = chat.list_messages(settings.db, conversation)
    assert reply.content == "I did not delete it."
    assert reply.meta["steps"][0]["calls"][0]["decision"] == "deny"


def test_approve_for_the_conversation_skips_later_asks(settings):
    provider = FakeProvider([calls_delete("T-1"), ok("Deleted T-1."),
                             calls_delete("T-2", first=1), ok("Deleted T-2.")])
    conversation, waiting = paused_turn(settings, provider)
    go_on(settings, provider, conversation, waiting, {"d0": "conversation"})
    # A later turn, read back from the database as after a reload: it runs without asking.
    list(chat_turn(settings, conversation, MODEL, "And T-2", TurnOptions(tools=(DELETE,)),
                   calls=scripted(settings, provider)))
    assert DELETED == ["T-1", "T-2"]
    last = chat.list_messages(settings.db, conversation)[-1]
    assert last.content == "Deleted T-2." and last.meta["run_end"] == "answered"
    # Another conversation is asked again.
    _, other = paused_turn(settings, FakeProvider([calls_delete("T-3"), ok("never")]))
    assert other.meta["run_end"] == "awaiting" and DELETED == ["T-1", "T-2"]


def test_a_compare_variant_with_an_ask_tool_denies_it_and_says_so(settings, prompts_dir,
                                                                  tools_toml):  # noqa: F811
    tools_toml(TIME_SERVER)  # not trusted: its tools ask first

    class Scripted(FakeProvider):
        def stream(self, request):
            self.requests.append(request)
            if request.tools and len(request.messages) == 1:
                yield ToolCall("t1", "time__get_current_time", {"timezone": "UTC"}, "{}")
                yield Usage(20, 5)
                yield Stop("tool_use")
                return
            yield TextDelta("no time")
            yield Usage(30, 5)
            yield Stop("end_turn")

    store = PromptStore(prompts_dir)
    resolved = compare.resolve(store, load_catalog(settings), [
        Variant("classifier", "production", "openai/gpt-4o-mini", 0.0, 50),
        Variant("classifier", "production", "openai/gpt-4o-mini", 0.0, 50,
                ("time__get_current_time",))])
    rows = [{"text": "What time is it?"}]
    plan = compare.forecast(settings, resolved, rows)
    run_id = compare.create_run(settings.db, "ask", resolved, rows, [])
    provider = Scripted([])
    list(compare.execute(settings, run_id, resolved, plan, [],
                         calls=scripted(settings, provider, policy=RetryPolicy())))
    cell = compare.load_run(settings.db, run_id).cells[(0, 1)]
    [call] = cell.trace["calls"]
    assert call["is_error"] and call["result"].startswith(
        "denied: Compare runs do not wait for approval")
    assert any(r.messages[-1].blocks and r.messages[-1].blocks[0].is_error
               for r in provider.requests)
    assert cell.output == "no time" and cell.status == "ok"
