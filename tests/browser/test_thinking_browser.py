"""A reasoning model on an OpenAI-compatible server: its thinking, streamed as
`reasoning_content` (vLLM, llama.cpp's server) or as `<think>…</think>` in the content
(Ollama), is drawn collapsed above the answer, apart from it.

Waits on the provider half of issue 23: the compatible adapter splitting both out as
thinking (lib/llm/providers/openai_provider.py)."""

from __future__ import annotations

import pytest
from fake_openai import COMPAT, FakeOpenAI, app_env_for, reasoning, reply, serving
from playwright.sync_api import Page, expect
from support import pick_in_sidebar, send_chat

THOUGHT = "Six sevens make forty-two."
SERVERS = {
    "reasoning_content": reasoning(["Six sevens ", "make forty-two."], "It is ", "42."),
    # The tags cut across chunks, as a server streams them token by token.
    "think tags": reply("<thi", "nk>Six sevens ", "make forty-two.</th", "ink>It is ", "42."),
}


@pytest.fixture(params=list(SERVERS))
def fake(request):
    server = FakeOpenAI(SERVERS[request.param])
    with serving(server):
        yield server


@pytest.fixture
def app_env(fake) -> dict[str, str]:
    return app_env_for(fake)


def test_thinking_is_shown_collapsed_apart_from_the_answer(page: Page, app_url: str, fake):
    page.goto(app_url + "/chat")
    pick_in_sidebar(page, "Model", COMPAT)
    send_chat(page, "What is 6 * 7?")
    reply_ = page.get_by_test_id("stChatMessage").nth(1)
    expect(reply_).to_contain_text("It is 42.")
    thought = reply_.get_by_test_id("stExpander").filter(has_text="Thought for")
    expect(thought).to_have_count(1)
    expect(thought).to_contain_text("tokens not reported")  # the server counted none apart
    text = reply_.get_by_text(THOUGHT)
    expect(text).to_be_hidden()  # collapsed: the answer reads first
    for tag in ("<think>", "</think>", "think>"):
        expect(reply_.get_by_text(tag)).to_have_count(0)
    thought.get_by_text("Thought for").click()
    expect(text).to_be_visible()
    expect(reply_.get_by_test_id("stMarkdownContainer").filter(has_text="It is 42.").filter(
        has_text=THOUGHT)).to_have_count(0)  # the answer's own text holds none of it
