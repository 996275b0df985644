"""The HTTP API served by uvicorn on 127.0.0.1, driven by the openai SDK: the bundled model
streamed and whole, a stored prompt run by label, keys (bad, revoked), a key's budget
against a priced model on a fake OpenAI-compatible server, bad variables, and the ledger."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest
from fake_openai import MODEL, FakeOpenAI, app_env_for, http_error, reply, serving
from support import free_port, wait_for_http

from lib import api, spend, storage
from lib.core import Settings, load_settings
from lib.llm import ModelInfo, save_user_catalog

LOCAL = "local/smollm2-135m-instruct"
PRICED = f"compat/{MODEL}"          # $1 / $2 per million tokens, no fallback chain
FLAKY = "compat/flaky"              # unpriced; falls back to the bundled model


@dataclass
class Served:
    url: str                        # the /v1 base URL
    settings: Settings
    fake: FakeOpenAI

    def client(self, secret: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=secret, max_retries=0, timeout=60)

    def key(self, name: str = "test", budget: float | None = None) -> str:
        return api.create_key(self.settings.db_path, name, budget).secret

    def post(self, path: str, secret: str | None, body: dict) -> httpx.Response:
        headers = {"authorization": f"Bearer {secret}"} if secret else {}
        return httpx.post(f"{self.url}{path}", json=body, headers=headers, timeout=60)


@pytest.fixture
def served(data_dir, prompts_dir, monkeypatch) -> Iterator[Served]:
    import uvicorn

    fake = FakeOpenAI(reply("Hello", " from", " the fake."))
    with serving(fake):
        env = app_env_for(fake)
        monkeypatch.setenv("PROMPTLAB_OPENAI_BASE_URL", env["PROMPTLAB_OPENAI_BASE_URL"])
        monkeypatch.setenv("PROMPTLAB_OPENAI_MODELS", f"{MODEL},flaky")
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        save_user_catalog(settings, [ModelInfo(MODEL, "compat", "Fake (priced)", 8192, 1024,
                                               input=1.0, output=2.0)], "2026-01-01")
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(api.create_app(settings), host="127.0.0.1",
                                               port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health", timeout=30)
            yield Served(f"http://127.0.0.1:{port}/v1", settings, fake)
        finally:
            server.should_exit = True
            thread.join(15)


def rows(settings: Settings) -> list[dict]:
    with storage.connect(settings.db_path) as conn:
        return [dict(r) for r in conn.execute("SELECT * FROM calls ORDER BY id")]


def test_models_lists_every_available_model_with_the_bundled_one(served):
    client = served.client(served.key())
    ids = [m.id for m in client.models.list()]
    assert LOCAL in ids and PRICED in ids
    assert not any(i.startswith(("openai/", "anthropic/")) for i in ids)  # no keys here
    assert client.models.retrieve(LOCAL).owned_by == "local"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("openai/gpt-5")


def test_a_whole_and_a_streamed_reply_from_the_bundled_model(served):
    secret = served.key("sdk")
    client = served.client(secret)
    whole = client.chat.completions.create(
        model=LOCAL, max_tokens=8, temperature=0,
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "Name a colour."}])
    assert whole.choices[0].message.content.strip()
    assert whole.choices[0].finish_reason in ("stop", "length")
    assert whole.model == LOCAL and whole.usage.completion_tokens > 0

    stream = client.chat.completions.create(
        model=LOCAL, max_tokens=8, temperature=0, stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Name a colour."}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() and len([c for c in chunks if c.choices]) > 2
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    finish = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    call_id = finish.model_extra["promptlab"]["call_ids"][0]

    recorded = rows(served.settings)
    assert [(r["page"], r["provider"], r["status"]) for r in recorded] == [
        ("api", "local", "ok")] * 2
    key = api.list_keys(served.settings.db_path)[0]
    assert {r["api_key_id"] for r in recorded} == {key.id} and key.calls == 2
    assert spend.get_call(served.settings.db_path, call_id).api_key_id == key.id
    assert recorded[1]["ttft_ms"] is not None


def test_a_prompt_runs_by_label_whole_and_streamed(served):
    secret = served.key()
    body = {"label": "production", "max_tokens": 8,
            "variables": {"text": "The cat sat on the mat all day.", "max_words": "10"}}
    r = served.post("/prompts/summarizer/run", secret, body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["choices"][0]["message"]["content"].strip()
    assert data["promptlab"]["prompt"] == {"name": "summarizer", "version": 1}

    with httpx.stream("POST", f"{served.url}/prompts/summarizer/run", timeout=60,
                      headers={"authorization": f"Bearer {secret}"},
                      json={**body, "stream": True}) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in streamed.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                   for e in events[:-1] if json.loads(e)["choices"])
    assert text.strip()
    recorded = rows(served.settings)
    assert [(r["page"], r["prompt_name"], r["prompt_version"]) for r in recorded] == [
        ("api", "summarizer", 1)] * 2


@pytest.mark.parametrize(("variables", "named"), [
    ({"text": "x", "max_words": "many"}, "max_words"),   # not a whole number
    ({"max_words": 5}, "text"),                          # required and missing
    ({"text": "x", "colour": "red"}, "colour"),          # not declared
])
def test_a_bad_variable_is_422_naming_it(served, variables, named):
    r = served.post("/prompts/summarizer/run", served.key(), {"variables": variables})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["param"] == f"variables.{named}" and f"'{named}'" in error["message"]
    assert error["code"] == "invalid_variable" and rows(served.settings) == []


def test_unknown_prompts_labels_and_models_are_404(served):
    secret = served.key()
    assert served.post("/prompts/no-such-prompt/run", secret, {}).status_code == 404
    assert served.post("/prompts/summarizer/run", secret,
                       {"label": "nope", "variables": {"text": "x"}}).status_code == 404
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        served.client(secret).chat.completions.create(
            model="no/such-model", messages=[{"role": "user", "content": "hi"}])



def test_malformed_requests_get_openai_shaped_errors_and_call_nothing(served, monkeypatch):
    secret, headers = served.key(), {"content-type": "application/json"}
    url = f"{served.url}/chat/completions"
    r = httpx.post(url, content=b"{not json", timeout=30,
                   headers={**headers, "authorization": f"Bearer {secret}"})
    assert r.status_code == 400 and "cannot be read as JSON" in r.json()["error"]["message"]
    monkeypatch.setattr("lib.api.door.MAX_BODY", 1024)  # read per request
    r = httpx.post(url, content=b"x" * 4096, timeout=30,
                   headers={**headers, "authorization": f"Bearer {secret}"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    r = httpx.get(url, headers={"authorization": f"Bearer {secret}"}, timeout=30)
    assert r.status_code == 405
    r = httpx.post(f"{served.url}/no/such/route", json={}, timeout=30)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_url"
    host, port = httpx.URL(served.url).host, httpx.URL(served.url).port
    with socket.create_connection((host, port), timeout=10) as sock:  # leaves mid-body
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
                     b"authorization: Bearer " + secret.encode() +
                     b"\r\ncontent-length: 100\r\n\r\n" + b'{"model": "')
    assert httpx.get(f"{served.url.removesuffix('/v1')}/health", timeout=30).is_success
    assert rows(served.settings) == [] and served.fake.requests == []

def test_a_bad_missing_or_revoked_key_is_401(served):
    body = {"model": LOCAL, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(openai.AuthenticationError):
        served.client("pl-not-a-key").chat.completions.create(**body)
    r = served.post("/chat/completions", None, body)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert served.post("/prompts/summarizer/run", None, {}).status_code == 401
    secret = served.key("soon revoked")
    client = served.client(secret)
    assert client.chat.completions.create(**body).choices[0].message.content is not None
    api.revoke_key(served.settings.db_path, api.list_keys(served.settings.db_path)[0].id)
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        client.chat.completions.create(**body)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert len(rows(served.settings)) == 1  # refused before any call


def test_an_exhausted_key_budget_is_429_and_nothing_is_sent(served):
    # A tenth of a cent: 100 max tokens at $2 per million hold $0.0002 each; 1000 would
    # hold $0.002, more than the whole budget.
    secret = served.key("tight", budget=0.001)
    client = served.client(secret)
    msg = [{"role": "user", "content": "hi"}]
    ok = client.chat.completions.create(model=PRICED, max_tokens=100, messages=msg)
    assert ok.choices[0].message.content == "Hello from the fake."
    assert ok.model_extra["promptlab"]["cost_usd"] > 0
    sent = len(served.fake.requests)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=PRICED, max_tokens=1000, messages=msg)
    error = caught.value.body
    assert caught.value.status_code == 429 and error["type"] == "budget_exceeded"
    assert "API key 'tight'" in error["message"] and "left" in error["message"]
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(served.fake.requests) == sent  # refused before it was sent
    key = api.list_keys(served.settings.db_path)[0]
    assert len(rows(served.settings)) == 1 and key.spent_micro == rows(
        served.settings)[0]["cost_micro"] <= key.budget_micro
    # The free bundled model is never blocked by a budget.
    free = client.chat.completions.create(model=LOCAL, max_tokens=4, messages=msg)
    assert free.choices[0].message.content is not None



def test_a_signed_in_users_key_spends_as_that_user_under_their_budget(served):
    path, alice = served.settings.db_path, "alice@example.com"
    client = served.client(api.create_key(path, "alice's evals", owner=alice).secret)
    msg = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(model=PRICED, max_tokens=100, messages=msg)
    assert rows(served.settings)[-1]["user_id"] == alice
    assert api.list_keys(path)[0].owner == alice
    spend.set_budget(path, spend.user_scope(alice), "day", 0.0)
    sent = len(served.fake.requests)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=PRICED, max_tokens=100, messages=msg)
    assert caught.value.body["type"] == "budget_exceeded" and alice in caught.value.message
    assert len(served.fake.requests) == sent
    shared = served.client(served.key("no owner"))  # made without sign-in: not hers
    shared.chat.completions.create(model=PRICED, max_tokens=100, messages=msg)
    assert rows(served.settings)[-1]["user_id"] is None

def test_concurrent_requests_never_overshoot_a_key_budget(served):
    secret = served.key("shared", budget=0.0005)   # room for two worst cases at once
    statuses: list[int] = []

    def one() -> None:
        r = served.post("/chat/completions", secret, {
            "model": PRICED, "max_tokens": 100, "messages": [{"role": "user", "content": "x"}]})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(statuses) <= {200, 429} and 200 in statuses and len(statuses) == 12
    key = api.list_keys(served.settings.db_path)[0]
    assert key.calls == statuses.count(200) and key.spent_micro <= key.budget_micro


def test_a_model_that_fails_before_output_falls_back_like_the_app(served):
    served.fake.script = [http_error(400, "This server refuses the request.")]
    reply_ = served.client(served.key()).chat.completions.create(
        model=FLAKY, max_tokens=6, messages=[{"role": "user", "content": "hi"}])
    extra = reply_.model_extra["promptlab"]
    assert reply_.model == LOCAL and extra["fallbacks"][0]["model"] == FLAKY
    recorded = rows(served.settings)
    assert [(r["provider"], r["status"]) for r in recorded] == [("compat", "error"),
                                                                ("local", "ok")]
    assert recorded[1]["fallback_of"] == recorded[0]["id"]


def test_a_client_that_goes_away_cancels_the_call(served):
    secret = served.key()
    with httpx.stream("POST", f"{served.url}/chat/completions", timeout=60,
                      headers={"authorization": f"Bearer {secret}"},
                      json={"model": LOCAL, "max_tokens": 400, "stream": True,
                            "messages": [{"role": "user", "content": "Tell a long story."}]}
                      ) as r:
        next(r.iter_lines())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not rows(served.settings):
        time.sleep(0.1)
    [row] = rows(served.settings)
    assert row["status"] == "cancelled" and row["output_tokens"] < 400


def test_tools_and_a_json_schema_go_through_like_openai(served):
    client = served.client(served.key())
    add = {"type": "function", "function": {
        "name": "add", "description": "Add two numbers.",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"},
                                                        "b": {"type": "number"}},
                       "required": ["a", "b"]}}}
    called = client.chat.completions.create(
        model=LOCAL, max_tokens=60, tools=[add],
        tool_choice={"type": "function", "function": {"name": "add"}},
        messages=[{"role": "user", "content": "What is 2 plus 3?"}])
    choice = called.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "add" and set(json.loads(call.function.arguments)) >= {"a"}

    schema = {"type": "object", "properties": {"colour": {"type": "string"}},
              "required": ["colour"], "additionalProperties": False}
    shaped = client.chat.completions.create(
        model=LOCAL, max_tokens=40, messages=[{"role": "user", "content": "Name a colour."}],
        response_format={"type": "json_schema",
                         "json_schema": {"name": "colour", "schema": schema}})
    assert "colour" in json.loads(shaped.choices[0].message.content)
    assert shaped.model_extra["promptlab"]["structured"]["status"] in ("valid", "repaired")
    assert [r["structured"] for r in rows(served.settings)][-1] in ("valid", "repaired")
