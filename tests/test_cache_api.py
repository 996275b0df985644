"""The response cache over the HTTP API: a key made to use it answers an identical request
from the cache (`x-promptlab-cache: hit`, no upstream request, a $0 ledger row that says what
it saved), whole and streamed; `Cache-Control: no-cache` and `no-store` are honoured; a key
without the cache gets no header and every request goes upstream."""

from __future__ import annotations

import httpx
from fake_openai import MODEL

from lib import api

pytest_plugins = ["api_served"]     # the `served` fixture

PRICED = f"compat/{MODEL}"          # $1 / $2 per million tokens
BODY = {"model": PRICED, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


def post(served, secret: str, body: dict = BODY, **headers: str) -> httpx.Response:
    return httpx.post(f"{served.url}/chat/completions", json=body, timeout=60,
                      headers={"authorization": f"Bearer {secret}",
                               **{k.replace("_", "-"): v for k, v in headers.items()}})


def test_a_cached_key_answers_an_identical_request_from_the_cache(served):
    secret = api.create_key(served.settings.db, "cached", cache=True).secret
    first = post(served, secret)
    second = post(served, secret)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.headers["x-promptlab-cache"] == "miss"
    assert second.headers["x-promptlab-cache"] == "hit"
    assert len(served.fake.requests) == 1
    text = [r.json()["choices"][0]["message"]["content"] for r in (first, second)]
    assert text[0] == text[1] == "Hello from the fake."
    live, hit = served.rows()
    assert (live["response_cache"], hit["response_cache"]) == ("miss", "hit")
    assert live["cost_micro"] > 0 and hit["cost_micro"] == 0
    assert hit["saved_micro"] == live["cost_micro"]
    assert second.json()["promptlab"]["cost_usd"] == 0


def test_a_streamed_hit_streams_the_same_reply(served):
    secret = api.create_key(served.settings.db, "cached", cache=True).secret
    body = {**BODY, "stream": True}
    first, second = post(served, secret, body), post(served, secret, body)
    assert second.headers["x-promptlab-cache"] == "hit" and len(served.fake.requests) == 1

    def content(r: httpx.Response) -> str:
        import json
        chunks = [json.loads(line[6:]) for line in r.text.splitlines()
                  if line.startswith("data: {")]
        return "".join(c["choices"][0]["delta"].get("content") or ""
                       for c in chunks if c.get("choices"))
    assert content(first) == content(second) == "Hello from the fake."
    assert second.text.rstrip().endswith("data: [DONE]")


def test_cache_control_no_cache_and_no_store_are_honoured(served):
    secret = api.create_key(served.settings.db, "cached", cache=True).secret
    stored = post(served, secret, cache_control="no-store")   # read, never written
    assert stored.headers["x-promptlab-cache"] == "miss"
    assert post(served, secret).headers["x-promptlab-cache"] == "miss"  # so: sent again
    assert len(served.fake.requests) == 2
    fresh = post(served, secret, cache_control="no-cache")   # never read: sent again
    assert fresh.headers["x-promptlab-cache"] == "miss" and len(served.fake.requests) == 3
    assert post(served, secret, cache_control="no-store").headers["x-promptlab-cache"] == "hit"
    assert len(served.fake.requests) == 3
    neither = post(served, secret, cache_control="no-cache, no-store")
    assert "x-promptlab-cache" not in neither.headers and len(served.fake.requests) == 4


def test_a_key_without_the_cache_sends_every_request(served):
    secret = served.key()
    replies = [post(served, secret) for _ in range(2)]
    assert all("x-promptlab-cache" not in r.headers for r in replies)
    assert len(served.fake.requests) == 2
    # Turned on for the key later: from then on it is used.
    key = api.list_keys(served.settings.db)[0]
    api.set_key_cache(served.settings.db, key.id, True)
    assert api.get_key(served.settings.db, key.id).cache
    assert [post(served, secret).headers["x-promptlab-cache"] for _ in range(2)] == [
        "miss", "hit"]
    assert len(served.fake.requests) == 3
