"""The one call seam: every model call is built in lib.llm.seam, a call needs no database,
every response declares the same outcome, and the two drifts between the copies it replaced
(judges without the deadline; an unavailable first model raising instead of being passed over)
stay fixed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from fakes import FakeProvider, fail, ok, scripted

from lib import chat, compare
from lib.agents import AgentRun
from lib.compare import Judge, Variant
from lib.core import ProviderError, get_settings
from lib.llm import (
    CallContext,
    CallSpec,
    ChatRequest,
    Fallback,
    MemoryRecorder,
    Message,
    ModelInfo,
    Response,
    Stop,
    TextDelta,
    Usage,
    load_catalog,
)
from lib.prompts import PromptStore

ROOT = Path(__file__).resolve().parents[1]
LIB = sorted((ROOT / "lib").glob("**/*.py"))
PAID = ModelInfo("p1", "anthropic", "Paid One", 8000, 500, input=3.0, output=15.0)
FREE = ModelInfo("f1", "local", "Free One", 8000, 500)
ASK = ChatRequest("p1", (Message("user", "hi"),), max_tokens=50)


def _constructed(path: Path, names: set[str]) -> list[int]:
    """Lines of `path` that call one of `names` as a constructor."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and (
        (isinstance(n.func, ast.Name) and n.func.id in names)
        or (isinstance(n.func, ast.Attribute) and n.func.attr in names))]


def test_no_model_call_is_built_outside_the_seam():
    allowed = {"lib/llm/seam.py", "lib/llm/call.py"}   # the seam; a call's own repair
    found = [f"{p.relative_to(ROOT)}:{line}" for p in LIB
             if str(p.relative_to(ROOT)) not in allowed
             for line in _constructed(p, {"Call", "Fallbacks", "Repairing"})]
    assert found == []


def test_no_call_is_typed_any():
    found = [f"{p.relative_to(ROOT)}:{i}" for p in LIB
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"\bcall\s*:\s*Any\b", line)]
    assert found == []


def test_no_code_outside_the_adapters_branches_on_a_provider_name():
    names = "anthropic|openai|local|compat"
    branch = re.compile(rf"""provider\s*(==|!=)\s*["']|provider\s+(not\s+)?in\s*[(\[]["']"""
                        rf"""|(==|!=)\s*["']({names})["']""")
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in LIB
             if "providers" not in p.parts
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if branch.search(line)]
    assert found == []


def test_a_call_needs_no_database(settings):
    recorder = MemoryRecorder()
    calls = scripted(settings, FakeProvider([ok("Hello")]), recorder=recorder)
    response = calls.invoke(CallSpec(FREE, ASK, CallContext("test")))
    assert [type(e) for e in response] == [TextDelta, Stop]
    assert response.text == "Hello" and [r.id for r in response.records] == [1]
    assert recorder.calls[0].model == "f1" and recorder.payloads[1]["reply"]["text"] == "Hello"


def test_every_kind_of_response_declares_the_same_outcome(settings):
    names = [n for n in dir(Response) if not n.startswith("_")]
    calls = scripted(settings, FakeProvider([ok("x")]), recorder=MemoryRecorder())
    one = calls.invoke(CallSpec(FREE, ASK, CallContext("test")))
    chain = calls.invoke(CallSpec(FREE, ASK, CallContext("test"), fallbacks=(PAID,)))
    repaired = calls.invoke(CallSpec(FREE, ASK, CallContext("test"), repairs=1))
    run = AgentRun(calls, CallSpec(FREE, ASK, CallContext("test")), {})
    for response in (one, chain, repaired, run):
        assert [n for n in names if not hasattr(type(response), n)
                and not hasattr(response, n)] == [], type(response).__name__


def test_a_chain_passes_over_a_model_whose_provider_is_not_available(settings):
    # An unavailable first model is passed over before anything is sent: the chain's next
    # model answers and the reply says why (a chat turn raised here before the seam).
    calls = scripted(settings, {FREE.key: FakeProvider([ok("from the fallback")])},
                     recorder=MemoryRecorder())
    response = calls.invoke(CallSpec(PAID, ASK, CallContext("chat"), fallbacks=(FREE,)))
    events = list(response)
    assert response.text == "from the fallback" and response.model is FREE
    assert [s.model for s in response.passed_over] == [PAID.key]
    assert not any(isinstance(e, Fallback) for e in events)  # nothing of PAID's was sent


def test_a_chat_turn_whose_first_model_is_unavailable_is_answered_by_its_fallback(settings):
    catalog = load_catalog(settings)
    claude = catalog.get("anthropic/claude-sonnet-4-5")           # no key here
    local = catalog.get("local/smollm2-135m-instruct")
    fake = FakeProvider([ok("Hello from the fallback")])
    session = chat.ChatSession(settings, None, calls=scripted(settings, {local.key: fake}))
    draft = session.draft(chat.TurnOptions(max_tokens=16, fallbacks=(local,)), chat.Ask("hi"),
                          claude)
    [began] = [e for e in draft.send() if isinstance(e, chat.Began)]
    reply = chat.list_messages(settings.db, began.conversation_id)[-1]
    assert reply.meta["model"] == local.key
    assert reply.content == "Hello from the fallback"
    assert reply.meta["fallbacks"][0]["model"] == claude.label


def test_a_single_unavailable_model_says_why_at_once(settings):
    calls = scripted(settings, {}, recorder=MemoryRecorder())
    with pytest.raises(ProviderError, match="not scripted"):
        calls.invoke(CallSpec(PAID, ASK, CallContext("test")))


class _Slow:
    """A provider whose every chunk takes five seconds of a fake clock."""

    name = "slow"

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock

    def stream(self, request):
        for _ in range(3):
            self.clock[0] += 5.0
            yield TextDelta('{"reason": "x", ')
        yield Usage(10, 3)
        yield Stop("end_turn")


def test_judge_calls_keep_the_deadline(settings, prompts_dir, monkeypatch):
    # Judges built their call without the settings' deadline; through the seam they keep it.
    monkeypatch.setenv("PROMPTLAB_DEADLINE", "8")
    get_settings.cache_clear()
    settings = get_settings()
    store = PromptStore(prompts_dir)
    local = "local/smollm2-135m-instruct"
    resolved = compare.resolve(store, load_catalog(settings),
                               [Variant("classifier", "production", local, 0.0, 8)] * 2)
    rows = [{"text": "It crashes."}]
    rid = compare.create_run(settings.db, "deadline", resolved, rows, [])
    plan = compare.forecast(settings, resolved, rows)
    list(compare.execute(settings, rid, resolved, plan, [], concurrency=1,
                         calls=scripted(settings, FakeProvider([ok("bug")]))))
    rj = compare.resolve_judge(store, load_catalog(settings),
                               Judge("pairwise", "judge-pairwise", "production", local))
    now = [0.0]
    calls = scripted(settings, _Slow(now), clock=lambda: now[0])
    [verdict] = compare.judge_run(settings, rid, rj, concurrency=1, calls=calls)
    assert verdict.outcome is None
    assert all("deadline" in order["error"] for order in verdict.detail["orders"])


def test_a_repair_is_asked_of_the_model_that_answered(settings):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    ask = ChatRequest("p1", (Message("user", "a number"),), output_schema=schema)
    paid = FakeProvider([fail(ProviderError("overloaded", "busy"))])
    free = FakeProvider([ok('{"n": "x"}'), ok('{"n": 3}')])
    calls = scripted(settings, {PAID.key: paid, FREE.key: free}, recorder=MemoryRecorder())
    response = calls.invoke(CallSpec(PAID, ask, CallContext("test"), fallbacks=(FREE,),
                                     repairs=1))
    list(response)
    assert response.validation.status == "repaired" and response.model is FREE
    assert len(free.requests) == 2 and len(response.records) == 2
