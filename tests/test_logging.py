"""Logging: a rotating file under the data directory, tracebacks for every catch-all, and no
key or document text in it (checked with canaries), plus the last-resort page handler."""

from __future__ import annotations

import logging

import pytest
from fakes import FakeProvider, Replay, chat_turn, error_response, fail, ok, scripted

from lib import chat, knowledge
from lib.core import ProviderError, load_settings, log_path, setup_logging
from lib.llm import CallContext, CallSpec, ChatRequest, Message, ModelInfo, OpenAIProvider

KEY = "sk-canary-key-4c1f9e2b7d"
DOC = "canary-document-sentence-9b27e"
SAID = "canary-user-message-51d0a"

GPT = ModelInfo("gpt-4o-mini", "openai", "GPT-4o mini", 128_000, 16_384, input=0.15,
                output=0.60)


@pytest.fixture
def logged(data_dir, prompts_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    settings = load_settings()
    path = setup_logging(settings)
    yield settings, path
    setup_logging(load_settings({"PROMPTLAB_DATA_DIR": str(data_dir / "after")}))


def read(path) -> str:
    for handler in logging.getLogger("lib").handlers:
        handler.flush()
    return path.read_text(encoding="utf-8")


def test_the_log_lives_under_the_data_directory(logged):
    settings, path = logged
    assert path == log_path(settings) and path.is_relative_to(settings.data_dir)


def test_no_key_and_no_document_or_message_text_reach_the_log(logged):
    settings, path = logged
    # A paid call refused by the provider, made with the canary key.
    replay = Replay(error_response(401, "authentication_error", "Incorrect API key"))
    provider = OpenAIProvider(KEY, base_url="http://openai.test/v1", http_client=replay.client())
    call = scripted(settings, provider).invoke(
        CallSpec(GPT, ChatRequest(GPT.id, (Message("user", SAID),)), CallContext("test")))
    list(call)
    assert call.record.status == "error" and replay.attempts == 1
    # A chat turn (stored, streamed) on a scripted provider.
    model = ModelInfo("fake", "local", "Fake", 4096, 512)
    turn = chat_turn(settings, None, model, SAID,
                         calls=scripted(settings, FakeProvider([ok("The answer mentions ", DOC)])))
    list(turn)
    # A turn whose stream breaks, and documents: one stored, one refused.
    broken = chat_turn(settings, turn.conversation_id, model, SAID, calls=scripted(
        settings, FakeProvider([fail(ProviderError("server", "upstream failed"), "partial")])))
    list(broken)
    kb = knowledge.create_kb(settings, "canaries")
    results = knowledge.ingest(settings, kb, [
        ("notes.md", f"# Notes\n\n{DOC} appears once here.\n".encode()),
        ("broken.pdf", b"%PDF-1.7\n" + DOC.encode() + b"\n%%EOF")])
    assert [r.status for r in results] == ["stored", "failed"]
    knowledge.search(settings, kb, DOC, 3)

    text = read(path)
    assert "call " in text and "status=error" in text and "ingested notes.md" in text
    assert "broken.pdf" in text  # the failure is logged, by file name
    assert KEY not in text
    assert DOC not in text and SAID not in text


def test_a_key_inside_a_third_party_message_is_blanked(logged):
    _, path = logged
    logging.getLogger("lib.test").error("upstream said: bad key %s", KEY)
    text = read(path)
    assert "upstream said: bad key [redacted]" in text and KEY not in text


def test_a_catch_all_logs_its_traceback(logged, settings):
    _, path = logged

    class Broken:
        name = "broken"

        def stream(self, request):
            raise ZeroDivisionError("a bug in an adapter")
            yield  # pragma: no cover

    model = ModelInfo("fake", "local", "Fake", 4096, 512)
    turn = chat_turn(settings, None, model, "hello", calls=scripted(settings, Broken()))
    with pytest.raises(ZeroDivisionError):
        list(turn)
    text = read(path)
    assert "Traceback (most recent call last)" in text
    assert "ZeroDivisionError: a bug in an adapter" in text


def test_an_unexpected_page_error_shows_a_reference_not_a_traceback(app, monkeypatch):
    def boom(path, **_):
        raise RuntimeError("internal detail the user should not see")

    monkeypatch.setattr(chat, "count_conversations", boom)
    at = app()
    [error] = at.error
    assert "reference" in error.value and "internal detail" not in error.value
    ref = error.value.split("**")[1]
    text = read(log_path(load_settings()))
    assert f"[ref {ref}]" in text and "RuntimeError: internal detail" in text
    assert not at.exception  # Streamlit's own traceback display never shows
