"""A person's path through Tokens: paste text, see it cut into coloured tokens, compare."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_paste_text_and_see_tokens(page: Page, app_url: str):
    page.goto(app_url + "/tokens")
    box = page.get_by_role("textbox", name="Text")
    box.fill("Hello world!\nTokens are fun.")
    box.press("Control+Enter")
    spans = page.locator(".pl-tokens .tok")
    expect(spans.first).to_be_visible()
    assert spans.count() >= 6
    expect(page.locator(".pl-tokens")).to_contain_text("Hello")
    expect(page.locator(".pl-tokens")).to_contain_text("↵")  # the line break, made visible
    page.get_by_text("Show token ids").click()
    expect(page.locator(".pl-tokens sub").first).to_be_visible()
    page.get_by_role("combobox", name="Tokenizer").click()
    page.get_by_role("option", name="SmolLM2 (local model)").click()
    expect(page.get_by_text("tokens", exact=False).first).to_be_visible()
    expect(page.get_by_role("heading", name="As input to each model")).to_be_visible()
