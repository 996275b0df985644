"""Token counting: real tiktoken offline, the local model's own tokenizer, labelled estimates."""

from __future__ import annotations

import hashlib
import socket
import time

import pytest

from lib.llm import BLOBS, ChatRequest, Message, counter_for, encoding, load_catalog, seed_tiktoken


def test_tiktoken_is_seeded_offline_and_encodes(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    seed_tiktoken.cache_clear()
    encoding.cache_clear()

    def no_network(*a, **k):
        raise AssertionError("tiktoken tried to download")

    monkeypatch.setattr(socket, "create_connection", no_network)
    seed_tiktoken()
    for _name, (url, sha) in BLOBS.items():
        cached = tmp_path / hashlib.sha1(url.encode()).hexdigest()
        assert hashlib.sha256(cached.read_bytes()).hexdigest() == sha
    enc = encoding("o200k_base")
    assert enc.decode(enc.encode("hello world")) == "hello world"
    assert len(enc.encode("hello world")) == 2
    assert len(encoding("cl100k_base").encode("tiktoken is great!")) == 6
    seed_tiktoken.cache_clear()
    encoding.cache_clear()


def test_counters_per_provider(settings):
    catalog = load_catalog(settings)
    gpt = counter_for(catalog.get("openai/gpt-4.1"), settings)
    claude = counter_for(catalog.get("anthropic/claude-haiku-4-5"), settings)
    assert gpt.exact and gpt.name == "tiktoken o200k_base"
    assert not claude.exact and "estimate" in claude.name
    text = "The quick brown fox jumps over the lazy dog. " * 20
    assert claude.count(text) > counter_for(catalog.get("openai/gpt-4o-mini"), settings).count(
        text) * 0.9


def test_local_counter_matches_what_generation_sees(settings):
    model = load_catalog(settings).get("local/smollm2-135m-instruct")
    counter = counter_for(model, settings)
    assert counter.exact and counter.message_overhead() == 5
    request = ChatRequest(model.id, (Message("user", "Name three colours."),), system="Be brief.")
    from lib.llm import bundled_model_path, get_local_model

    local = get_local_model(bundled_model_path(), model.context_window)
    # llama.cpp's own completion API reports how many prompt tokens it evaluated.
    out = local.llm.create_completion(local.prompt_tokens(request), max_tokens=1, temperature=0)
    assert out["usage"]["prompt_tokens"] == counter.count_request(request)


@pytest.mark.parametrize("key", ["openai/gpt-4.1", "anthropic/claude-haiku-4-5",
                                 "local/smollm2-135m-instruct"])
def test_counting_is_fast_enough_for_every_call(key, settings):
    model = load_catalog(settings).get(key)
    counter = counter_for(model, settings)
    history = tuple(Message("user" if i % 2 == 0 else "assistant", "Some earlier turn text. " * 30)
                    for i in range(20))
    request = ChatRequest(model.id, history, system="You are a careful reviewer.")
    counter.count_request(request)  # warm
    start = time.perf_counter()
    for _ in range(10):
        counter.count_request(request)
    assert (time.perf_counter() - start) / 10 < 0.05  # well under a human's notice
