"""The HTTP API served by uvicorn on 127.0.0.1, driven by the openai SDK: the bundled model
streamed and whole, a stored prompt run by label, keys (bad, revoked), a key's budget
against a priced model on a fake OpenAI-compatible server, bad variables, and the ledger."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import openai
import pytest
from fake_openai import MODEL, http_error

from lib import api, spend
from lib.llm import ModelInfo, save_user_catalog

pytest_plugins = ["api_served"]     # the `served` fixture

LOCAL = "local/smollm2-135m-instruct"
PRICED = f"compat/{MODEL}"          # $1 / $2 per million tokens, no fallback chain
FLAKY = "compat/flaky"              # unpriced; falls back to the bundled model

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

    recorded = served.rows()
    assert [(r["page"], r["provider"], r["status"]) for r in recorded] == [
        ("api", "local", "ok")] * 2
    key = api.list_keys(served.settings.db)[0]
    assert {r["api_key_id"] for r in recorded} == {key.id} and key.calls == 2
    assert spend.get_call(served.settings.db, call_id).api_key_id == key.id
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
    recorded = served.rows()
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
    assert error["code"] == "invalid_variable" and served.rows() == []


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
    assert served.rows() == [] and served.fake.requests == []

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
    api.revoke_key(served.settings.db, api.list_keys(served.settings.db)[0].id)
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        client.chat.completions.create(**body)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert len(served.rows()) == 1  # refused before any call


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
    key = api.list_keys(served.settings.db)[0]
    [row] = served.rows()
    assert key.spent_micro == row["cost_micro"] <= key.budget_micro
    # The free bundled model is never blocked by a budget.
    free = client.chat.completions.create(model=LOCAL, max_tokens=4, messages=msg)
    assert free.choices[0].message.content is not None



def test_a_signed_in_users_key_spends_as_that_user_under_their_budget(served):
    path, alice = served.settings.db, "alice@example.com"
    client = served.client(api.create_key(path, "alice's evals", owner=alice).secret)
    msg = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(model=PRICED, max_tokens=100, messages=msg)
    assert served.rows()[-1]["user_id"] == alice
    assert api.list_keys(path)[0].owner == alice
    spend.set_budget(path, spend.user_scope(alice), "day", 0.0)
    sent = len(served.fake.requests)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=PRICED, max_tokens=100, messages=msg)
    assert caught.value.body["type"] == "budget_exceeded" and alice in caught.value.message
    assert len(served.fake.requests) == sent
    shared = served.client(served.key("no owner"))  # made without sign-in: not hers
    shared.chat.completions.create(model=PRICED, max_tokens=100, messages=msg)
    assert served.rows()[-1]["user_id"] is None

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
    key = api.list_keys(served.settings.db)[0]
    assert key.calls == statuses.count(200) and key.spent_micro <= key.budget_micro


def test_a_model_that_fails_before_output_falls_back_only_when_asked(served):
    served.fake.script = [http_error(400, "This server refuses the request.")]
    msg = [{"role": "user", "content": "hi"}]
    client = served.client(served.key())
    with pytest.raises(openai.BadRequestError, match="refuses the request") as caught:
        client.chat.completions.create(model=FLAKY, max_tokens=6, messages=msg)
    assert caught.value.response.headers["x-promptlab-model"] == FLAKY
    assert [(r["provider"], r["status"]) for r in served.rows()] == [
        ("compat", "error")]                     # the bundled model was never asked

    asked = client.chat.completions.with_raw_response.create(
        model=FLAKY, max_tokens=6, messages=msg, extra_body={"fallbacks": True})
    reply_ = asked.parse()
    assert asked.headers["x-promptlab-model"] == LOCAL == reply_.model
    assert reply_.model_extra["promptlab"]["fallbacks"][0]["model"] == FLAKY
    recorded = served.rows()
    assert [(r["provider"], r["status"]) for r in recorded[1:]] == [("compat", "error"),
                                                                    ("local", "ok")]
    assert recorded[2]["fallback_of"] == recorded[1]["id"]

    # A key made to fall back does so unasked; a request can still say no.
    keyed = served.client(served.key("falls back", fallbacks=True))
    assert keyed.chat.completions.create(model=FLAKY, max_tokens=6, messages=msg
                                         ).model == LOCAL
    with pytest.raises(openai.BadRequestError):
        keyed.chat.completions.create(model=FLAKY, max_tokens=6, messages=msg,
                                      extra_body={"fallbacks": False})


def test_an_unavailable_model_is_an_error_unless_fallbacks_are_asked_for(served):
    """No OpenAI key here: gpt-5 is in the catalog, with a chain ending at the bundled
    model. The old API answered it with the 135M model, HTTP 200."""
    secret = served.key()
    body = {"model": "openai/gpt-5", "max_tokens": 6,
            "messages": [{"role": "user", "content": "hi"}]}
    r = served.post("/chat/completions", secret, body)
    assert r.status_code == 404, r.text
    error = r.json()["error"]
    assert error["code"] == "model_not_available" and error["param"] == "model"
    assert error["type"] == "invalid_request_error" and '"fallbacks": true' in error["message"]
    assert served.rows() == []
    with pytest.raises(openai.NotFoundError):  # streamed alike
        served.client(secret).chat.completions.create(**body, stream=True)

    with httpx.stream("POST", f"{served.url}/chat/completions", timeout=60,
                      headers={"authorization": f"Bearer {secret}"},
                      json={**body, "stream": True, "fallbacks": True}) as streamed:
        assert streamed.status_code == 200
        assert streamed.headers["x-promptlab-model"] == LOCAL
        events = [json.loads(line[6:]) for line in streamed.iter_lines()
                  if line.startswith("data: {")]
    assert {e["model"] for e in events} == {LOCAL}
    assert "openai/gpt-5" in [f["model"] for f in events[-1]["promptlab"]["fallbacks"]]
    r = served.post("/chat/completions", secret, {**body, "fallbacks": "yes"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "fallbacks"
    r = served.post("/prompts/summarizer/run", secret, {
        "model": "openai/gpt-5", "variables": {"text": "The cat sat."}, "max_tokens": 6})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_available"


def test_a_client_that_goes_away_cancels_the_call(served):
    secret = served.key()
    with httpx.stream("POST", f"{served.url}/chat/completions", timeout=60,
                      headers={"authorization": f"Bearer {secret}"},
                      json={"model": LOCAL, "max_tokens": 400, "stream": True,
                            "messages": [{"role": "user", "content": "Tell a long story."}]}
                      ) as r:
        next(r.iter_lines())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not served.rows():
        time.sleep(0.1)
    [row] = served.rows()
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
    assert [r["structured"] for r in served.rows()][-1] in ("valid", "repaired")


def test_a_temperature_the_model_refuses_is_left_out_with_a_note(served):
    """Claude Sonnet 5 and later answer 400 to a temperature: a request that sets one is
    answered without it, and the reply says so (a header, and the promptlab field)."""
    def priced(**kw) -> None:
        save_user_catalog(served.settings, [ModelInfo(MODEL, "compat", "Fake (priced)", 8192,
                                                      1024, input=1.0, output=2.0, **kw)],
                          "2026-01-01")

    secret = served.key()
    body = {"model": PRICED, "max_tokens": 5, "temperature": 0.7,
            "messages": [{"role": "user", "content": "Hello?"}]}
    priced(temperature=False)
    r = served.post("/chat/completions", secret, body)
    assert r.status_code == 200, r.text
    assert "temperature" not in served.fake.requests[-1]
    note = ("Temperature 0.7 not sent: Fake (priced) refuses a temperature (its API rejects any "
            "but its own default), so none is sent.")
    assert r.headers["x-promptlab-dropped"] == "temperature"
    assert r.json()["promptlab"]["dropped"] == {"temperature": note}

    with httpx.stream("POST", f"{served.url}/chat/completions", timeout=60,
                      headers={"authorization": f"Bearer {secret}"},
                      json={**body, "stream": True}) as streamed:
        assert streamed.headers["x-promptlab-dropped"] == "temperature"
        events = [json.loads(line[6:]) for line in streamed.iter_lines()
                  if line.startswith("data: ") and line != "data: [DONE]"]
    assert "temperature" not in served.fake.requests[-1]
    assert [e["promptlab"]["dropped"] for e in events if "promptlab" in e] == [
        {"temperature": note}]

    priced()  # a model that takes one gets it, and nothing is said
    r = served.post("/chat/completions", secret, body)
    assert r.status_code == 200, r.text
    assert served.fake.requests[-1]["temperature"] == 0.7
    assert "x-promptlab-dropped" not in r.headers and "dropped" not in r.json()["promptlab"]
