"""The OpenAI adapter against a real OpenAI-compatible server: llama.cpp's, on 127.0.0.1."""

from __future__ import annotations

import pytest

from lib import spend
from lib.core import ProviderError, load_settings
from lib.llm import (
    CallContext,
    Calls,
    CallSpec,
    ChatRequest,
    Message,
    OpenAIProvider,
    Stop,
    TextDelta,
    load_catalog,
)

pytestmark = pytest.mark.server


def test_streams_a_reply_from_a_real_server(llama_server, data_dir):
    settings = load_settings({"PROMPTLAB_OPENAI_BASE_URL": llama_server,
                              "PROMPTLAB_OPENAI_MODELS": "smollm2",
                              "PROMPTLAB_OPENAI_CONTEXT_WINDOW": "2048",
                              "PROMPTLAB_DATA_DIR": str(data_dir)})
    model = load_catalog(settings).get("compat/smollm2")
    request = ChatRequest(model.id, (Message("user", "Name a fruit."),), system="Be brief.",
                          temperature=0.0, max_tokens=20)
    call = Calls(settings).invoke(CallSpec(model, request, CallContext("test")))
    events = list(call)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1, "the reply should arrive in several chunks"
    assert isinstance(events[-1], Stop) and call.text.strip()
    row = spend.get_call(settings.db, call.record.id)
    assert (row.status, row.attempts, row.provider) == ("ok", 1, "compat")
    # llama.cpp's server sends no usage in streams: counted by us, and flagged as such
    assert row.usage_estimated and row.input_tokens > 0 and row.output_tokens > 0
    assert row.ttft_ms is not None and row.ttft_ms < row.total_ms


def test_a_server_that_is_down_is_a_connection_error(data_dir):
    from support import free_port

    settings = load_settings({"PROMPTLAB_OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
                              "PROMPTLAB_OPENAI_MODELS": "smollm2",
                              "PROMPTLAB_DATA_DIR": str(data_dir)})
    model = load_catalog(settings).get("compat/smollm2")
    call = Calls(settings, sleep=lambda s: None).invoke(CallSpec(
        model, ChatRequest(model.id, (Message("user", "hi"),)), CallContext("test")))
    events = list(call)
    assert events[-1].error.kind == "connection" and call.record.attempts == 3


def test_streamed_calls_reuse_one_connection_and_errors_in_the_stream_still_count(data_dir):
    """The sync SDK closes a response at [DONE] unread, which drops the connection: every
    call would open a new one (a TLS handshake to a hosted API). The adapter reads on."""
    from fake_openai import MODEL, FakeOpenAI, broken, reply, serving

    fake = FakeOpenAI(reply("One", " two."), reply("Three."), broken("Four", "upstream fell"))
    with serving(fake) as url:
        provider = OpenAIProvider(None, base_url=url, compat=True)
        request = ChatRequest(MODEL, (Message("user", "Count."),), max_tokens=20)
        texts = ["".join(e.text for e in provider.stream(request) if isinstance(e, TextDelta))
                 for _ in range(2)]
        with pytest.raises(ProviderError) as failed:
            list(provider.stream(request))
    assert texts == ["One two.", "Three."]
    assert failed.value.kind == "server" and "upstream fell" in failed.value.message
    assert fake.connections == 1
