"""The API's keys (hashed, revocable, budgeted through lib.spend's reservations) and its
OpenAI request shapes, without a server."""

from __future__ import annotations

import hashlib

import pytest
from fakes import FakeProvider, ok, scripted
from support import race

from lib import api, spend
from lib.core import ApiError, ApiKeyError, BudgetExceededError
from lib.llm import (
    Call,
    CallContext,
    CallSpec,
    ChatRequest,
    Message,
    ModelInfo,
    ToolResult,
    ToolUse,
    Usage,
)

# $100 per million output tokens: 500 max tokens reserve $0.05; 400 used cost $0.04.
PAID = ModelInfo("pricey", "openai", "Pricey", 10_000, 1000, input=0.0, output=100.0)
REQUEST = ChatRequest("pricey", (Message("user", "hi"),), max_tokens=500)


def keyed_call(settings, key_id: int) -> Call:
    provider = FakeProvider([ok("x" * 10, usage=Usage(0, 400))])
    return scripted(settings, provider).call(
        CallSpec(PAID, REQUEST, CallContext("api", api_key_id=key_id)))


def test_only_a_hash_of_the_secret_is_stored(settings):
    new = api.create_key(settings.db, "  nightly   evals ", 2.5)
    assert new.secret.startswith("pl-") and len(new.secret) > 40
    assert new.key.name == "nightly evals" and new.key.prefix == new.secret[:10]
    assert new.key.budget_micro == 2_500_000 and new.secret not in repr(new)
    with settings.db.connect() as conn:
        row = dict(conn.execute("SELECT * FROM api_keys").fetchone())
    assert new.secret not in " ".join(str(v) for v in row.values())
    assert row["secret_hash"] == hashlib.sha256(new.secret.encode()).hexdigest()
    assert api.verify_key(settings.db, f"Bearer {new.secret}").id == new.key.id


@pytest.mark.parametrize("header", [None, "", "Bearer ", "Basic abc", "Bearer pl-unknown"])
def test_a_missing_or_unknown_key_is_401(settings, header):
    with pytest.raises(ApiKeyError) as caught:
        api.verify_key(settings.db, header)
    assert caught.value.status == 401


def test_a_revoked_key_is_401_and_keeps_its_spend(settings):
    new = api.create_key(settings.db, "ci", 1.0)
    list(keyed_call(settings, new.key.id))
    api.revoke_key(settings.db, new.key.id)
    with pytest.raises(ApiKeyError, match="revoked"):
        api.verify_key(settings.db, f"Bearer {new.secret}")
    [key] = api.list_keys(settings.db)
    assert key.revoked and key.calls == 1 and key.spent_micro == 40_000


def test_names_and_budgets_are_checked(settings):
    with pytest.raises(ApiKeyError):
        api.create_key(settings.db, "   ")
    with pytest.raises(ApiKeyError):
        api.create_key(settings.db, "x", -1)


def test_a_key_budget_reserves_like_any_budget_and_fifty_threads_never_overshoot(settings):
    """No provider budget at all: the key's own budget alone makes calls reserve."""
    key = api.create_key(settings.db, "load", 1.0).key
    other = api.create_key(settings.db, "other", 0.0).key
    results = race(lambda _: keyed_call(settings, key.id), 50)
    done = [r.record.cost_micro for r in results if not isinstance(r, Exception)]
    refused = [str(r) for r in results if isinstance(r, BudgetExceededError)]
    errors = [r for r in results if isinstance(r, Exception)
              and not isinstance(r, BudgetExceededError)]
    assert errors == []
    spent = api.get_key(settings.db, key.id).spent_micro
    assert spent == sum(done) <= 1_000_000 and refused and len(done) >= 20
    assert "API key 'load'" in refused[0] and "could cost up to $0.0500" in refused[0]
    with settings.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
        rows = conn.execute("SELECT COUNT(*), SUM(cost_micro) FROM calls WHERE api_key_id = ?",
                            (key.id,)).fetchone()
    assert tuple(rows) == (len(done), spent)  # the key's spend is the sum of its rows
    with pytest.raises(BudgetExceededError, match="'other'"):  # a $0 budget: paid refused
        list(keyed_call(settings, other.id))
    assert spend.statuses(settings.db) == []  # key budgets are not provider budgets


def test_a_key_without_a_budget_reserves_nothing(settings):
    key = api.create_key(settings.db, "free").key
    assert not spend.applies(settings.db, "openai", api_key=key.id)
    call = keyed_call(settings, key.id)
    list(call)
    assert call.record.api_key_id == key.id and call.record.cost_micro == 40_000


def test_openai_messages_become_ours():
    params = api.chat_params({
        "model": "m", "max_completion_tokens": 7, "temperature": 0.2, "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Add "},
                                         {"type": "text", "text": "2 and 3"}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "5"}],
        "tools": [{"type": "function", "function": {"name": "add", "parameters": {
            "type": "object", "properties": {"a": {"type": "number"}}}}}],
        "tool_choice": {"type": "function", "function": {"name": "add"}},
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "sum", "schema": {"type": "object"}}}})
    assert params.system == "Be brief." and params.max_tokens == 7 and params.stream
    assert params.include_usage and params.tool_choice == "add"
    assert params.messages == (
        Message("user", "Add 2 and 3"),
        Message("assistant", "", (ToolUse("c1", "add", {"a": 2, "b": 3}),)),
        Message("user", "", (ToolResult("c1", "5"),)))
    assert params.output_schema == {"type": "object"} and params.schema_name == "sum"
    assert params.fallbacks is None  # the key decides


def test_tool_results_in_a_row_become_one_message_in_linear_time():
    """2,000 tool results after one call: gathered once (a tuple grown per result was
    quadratic), in order."""
    calls = [{"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
             for i in range(100)]
    messages = [{"role": "user", "content": "go"},
                {"role": "assistant", "content": None, "tool_calls": calls},
                *({"role": "tool", "tool_call_id": f"c{i % 100}", "content": str(i)}
                  for i in range(2000 - 2))]
    params = api.chat_params({"model": "m", "messages": messages})
    assert [m.role for m in params.messages] == ["user", "assistant", "user"]
    results = params.messages[-1].blocks
    assert [r.content for r in results] == [str(i) for i in range(1998)]


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
     "messages[0].content"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 3},
     "temperature"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
     "max_tokens"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "fallbacks": 1},
     "fallbacks"),
    ({"model": "m" * 300, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream_options": []},
     "stream_options"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": {"a": 1}},
     "tools"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [
        {"type": "function", "function": {"name": "f"}},
        {"type": "function", "function": {"name": "f"}}]}, "tools[1].function.name"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "required"},
     "tool_choice"),
    ({"model": "m", "messages": [{"role": "tool", "tool_call_id": 5, "content": "x"}]},
     "messages[0].tool_call_id"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {
        "type": "json_schema", "json_schema": {"name": "x", "schema": "{}"}}},
     "response_format"),
])
def test_a_bad_request_names_its_field(body, param):
    with pytest.raises(ApiError) as caught:
        api.chat_params(body)
    assert caught.value.status == 400 and caught.value.param == param


def test_the_api_page_makes_a_key_shows_it_once_and_revokes_it(app):
    from lib.core import get_settings

    at = app("app_pages/api.py")
    assert at.title[0].value == "API" and at.info[0].value.startswith("No keys yet")
    at.text_input(key="api_key_name").set_value("evals")
    at.number_input(key="api_key_budget").set_value(2.5)
    next(b for b in at.button if b.label == "Create key").click().run()
    assert not at.exception
    secret = next(c.value for c in at.code if c.value.startswith("pl-"))
    [key] = api.list_keys(get_settings().db)
    assert api.verify_key(get_settings().db, f"Bearer {secret}").id == key.id
    assert key.name == "evals" and key.budget_micro == 2_500_000
    at.run()  # any rerun: the secret is gone from the page
    assert not any(c.value == secret for c in at.code)
    at.checkbox(key=f"api_revoke_sure_{key.id}").check().run()
    at.button(key="api_revoke").click().run()
    assert api.list_keys(get_settings().db)[0].revoked


def test_a_key_can_be_made_to_fall_back_and_the_table_says_so(app):
    from lib.core import get_settings

    at = app("app_pages/api.py")
    assert not at.checkbox(key="api_key_fallbacks").value       # off unless asked
    at.text_input(key="api_key_name").set_value("chains")
    at.checkbox(key="api_key_fallbacks").check()
    next(b for b in at.button if b.label == "Create key").click().run()
    at.text_input(key="api_key_name").set_value("exact")
    next(b for b in at.button if b.label == "Create key").click().run()
    assert not at.exception
    keys = {k.name: k.fallbacks for k in api.list_keys(get_settings().db)}
    assert keys == {"chains": True, "exact": False}
    table = at.table[0].value
    assert dict(zip(table["Name"], table["Fallbacks"], strict=True)) == {
        "chains": "yes", "exact": "no"}


def test_the_api_page_says_where_the_api_is_and_whether_it_answers_now(app, monkeypatch):
    """The configured address, not a fixed one; a short look at /health, kept a few seconds
    (reruns do not knock again) until "Check again"."""

    from support import free_port, serving_asgi, shown

    from lib.core import get_settings

    port = free_port()
    monkeypatch.setenv("PROMPTLAB_API_PORT", str(port))
    url = f"http://127.0.0.1:{port}/v1"
    at = app("app_pages/api.py")
    [warning] = at.warning
    assert url in shown(warning.value) and "make serve" in shown(warning.value)
    assert not at.success

    served = api.create_app(get_settings())
    knocks: list[str] = []

    async def counted(scope, receive, send):
        if scope["type"] == "http":
            knocks.append(scope["path"])
        await served(scope, receive, send)

    with serving_asgi(counted, port):  # the port the page's settings name
        knocks.clear()
        at.run()                                  # the last look still stands
        assert at.warning and knocks == []
        at.button(key="api_check").click().run()
        assert not at.warning and knocks == ["/health"]
        assert url in shown(at.success[0].value) and "answering" in at.success[0].value
        at.run()
        at.run()
        assert knocks == ["/health"]              # reruns: no new look
    assert not at.exception
