"""Sign-in end to end: the app with an [auth] section in its secrets.toml, against a real
OpenID Connect provider (oidc-provider-mock) on 127.0.0.1. Alice signs in, chats on the local
model and signs out; Bob signs in, sees none of her conversations and chats; each call lands
on its user in the ledger and on the Costs page. People who claim Alice's email (unverified,
or typed as their `sub` at the provider) open nothing of hers."""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect
from support import chat_box, rerun, send_chat, wait_idle

ALICE = ("alice", "alice@example.com", "Alice Liddell")
BOB = ("bob", "bob@example.com", "Bob Builder")
# Sets her profile's email to Alice's; the provider says it is not verified.
MALLORY = ("mallory", "alice@example.com", "Mallory")


@pytest.fixture
def oidc_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The provider, serving two predefined users over plain HTTP on loopback."""
    import oidc_provider_mock
    import werkzeug.serving

    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the provider's own check: HTTP
    users = [oidc_provider_mock.User(sub=sub, claims={"email": email, "name": name,
                                                       "email_verified": sub != "mallory"})
             for sub, email, name in (ALICE, BOB, MALLORY)]
    server = werkzeug.serving.make_server("127.0.0.1", 0,  # the system picks the port
                                          oidc_provider_mock.app(user_claims=users),
                                          threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.fixture
def app_env(tmp_path, oidc_url: str) -> Callable[[int], dict[str, str]]:
    """Streamlit reads this secrets.toml: its [auth] section turns sign-in on. Its redirect
    names the app's own port, so it is written for the port the app is about to start on."""
    def for_port(port: int) -> dict[str, str]:
        path = tmp_path / "auth-secrets.toml"
        path.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_hex(32)}"\n'
            'client_id = "promptlab-test"\n'
            f'client_secret = "{secrets.token_hex(16)}"\n'
            f'server_metadata_url = "{oidc_url}/.well-known/openid-configuration"\n',
            encoding="utf-8")
        return {"STREAMLIT_SECRETS_FILES": str(path)}

    return for_port


def sign_in(page: Page, app_url: str, who: tuple[str, str, str]) -> None:
    page.goto(app_url)
    page.get_by_role("button", name="Sign in").click()
    # The provider's authorize page: pick the predefined user.
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    page.get_by_role("button", name=who[0], exact=True).click()
    page.wait_for_url(re.compile(re.escape(app_url)))
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text(f"Signed in as {who[2]}")).to_be_visible()
    expect(sidebar.get_by_text(who[1])).to_be_visible()


def sign_out(page: Page, app_url: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    # The provider's end-session page, then back to the app, signed out.
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(re.compile(re.escape(app_url)))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def chat_once(page: Page, app_url: str, text: str) -> None:
    page.goto(app_url + "/chat")
    tokens = page.get_by_test_id("stSidebar").get_by_role("spinbutton",
                                                          name="Max output tokens")
    with rerun(page):  # settled first: a run still drawing could undo the typing
        tokens.fill("16")
        tokens.press("Enter")
    send_chat(page, text)
    expect(page.get_by_text("first token")).to_have_count(1, timeout=90_000)


def test_two_users_sign_in_chat_privately_and_are_charged_apart(page: Page, app_url: str,
                                                                 app_data):
    # Nobody signed in: only the sign-in screen, on every page.
    page.goto(app_url + "/chat")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    wait_idle(page)  # the page has run to its end, and shows no chat
    expect(page.get_by_test_id("stChatInputTextArea")).to_have_count(0)

    sign_in(page, app_url, ALICE)
    chat_once(page, app_url, "Alice asks: name a fruit.")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("button", name="Alice asks: name a fruit.")).to_be_visible()
    sign_out(page, app_url)
    page.goto(app_url + "/chat")  # signed out, the chat stays behind the sign-in
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    wait_idle(page)
    expect(page.get_by_text("Alice asks: name a fruit.")).to_have_count(0)

    sign_in(page, app_url, BOB)
    page.goto(app_url + "/chat")
    expect(sidebar.get_by_text("No saved conversations yet.")).to_be_visible()
    expect(page.get_by_text("Alice asks")).to_have_count(0)
    db = app_data / "promptlab.sqlite3"
    with sqlite3.connect(db) as conn:
        [alice_conv] = conn.execute("SELECT id FROM conversations").fetchall()
    page.goto(f"{app_url}/chat?c={alice_conv[0]}")  # a guessed link to hers reads as missing
    expect(page.get_by_role("heading", name="Chat", exact=True)).to_be_visible()
    chat_box(page)  # the page ran to its end: her messages would be above the box
    wait_idle(page)
    expect(page.get_by_text("Alice asks")).to_have_count(0)
    chat_once(page, app_url, "Bob asks: name a colour.")

    with sqlite3.connect(db) as conn:
        calls = conn.execute("SELECT user_id, page, provider FROM calls ORDER BY id").fetchall()
        owners = conn.execute("SELECT owner FROM conversations ORDER BY id").fetchall()
    assert calls == [("alice@example.com", "chat", "local"), ("bob@example.com", "chat", "local")]
    assert owners == [("alice@example.com",), ("bob@example.com",)]

    # The Costs page groups and filters by user.
    page.get_by_role("link", name="Costs").click()
    expect(page.get_by_role("heading", name="Spend by user")).to_be_visible()
    calls_metric = page.get_by_test_id("stMetric").filter(has_text="Calls")
    expect(calls_metric).to_contain_text("2")
    wait_idle(page)  # a rerun still running would close the list as it opens
    users = page.get_by_test_id("stSidebar").get_by_role("combobox", name="User")
    users.scroll_into_view_if_needed()  # scrolling the sidebar closes an open list
    users.click()
    expect(page.get_by_role("option", name="alice@example.com")).to_be_visible()
    with rerun(page):
        page.get_by_role("option", name="bob@example.com").click()
    page.keyboard.press("Escape")
    expect(calls_metric).to_contain_text("1")
    sign_out(page, app_url)


def sign_in_claiming(page: Page, app_url: str, sub: str, *, typed: bool) -> None:
    """Sign in as a predefined user, or with a `sub` typed at the provider (which then sends
    it as the email too, unverified); wait for the app to take it."""
    page.goto(app_url)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    if typed:
        page.locator("input[name=sub]").fill(sub)
        page.get_by_role("button", name="Authorize", exact=True).click()
    else:
        page.get_by_role("button", name=sub, exact=True).click()
    page.wait_for_url(re.compile(re.escape(app_url)))
    expect(page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out")).to_be_visible()


def conversations_on_tokens_page(page: Page, app_url: str) -> None:
    page.goto(app_url + "/tokens")
    wait_idle(page)
    with rerun(page):
        page.get_by_text("A conversation", exact=True).click()


def test_a_claimed_email_or_sub_opens_nothing_of_alices(page: Page, app_url: str, app_data):
    sign_in(page, app_url, ALICE)
    chat_once(page, app_url, "Alice asks: name a fruit.")
    with sqlite3.connect(app_data / "promptlab.sqlite3") as conn:
        [(alice_conv,)] = conn.execute("SELECT id FROM conversations").fetchall()
    sign_out(page, app_url)

    # Mallory, her email set to Alice's (unverified); then Alice's email typed as a sub.
    for claim, typed in (("mallory", False), ("alice@example.com", True)):
        sign_in_claiming(page, app_url, claim, typed=typed)
        sidebar = page.get_by_test_id("stSidebar")
        page.goto(f"{app_url}/chat?c={alice_conv}")  # her link
        expect(sidebar.get_by_text("No saved conversations yet.")).to_be_visible()
        chat_box(page)  # the page ran to its end: her messages would be above the box
        wait_idle(page)
        expect(page.get_by_text("Alice asks")).to_have_count(0)
        conversations_on_tokens_page(page, app_url)  # (it waits for the page's run)
        expect(page.get_by_text("No conversations yet.")).to_be_visible()
        expect(page.get_by_text("Alice asks")).to_have_count(0)
        # Known by an id of their own, never by the email they claimed.
        expect(sidebar.get_by_text(re.compile(r"user-[0-9a-f]{20}")).first).to_be_visible()
        expect(sidebar.get_by_text("alice@example.com")).to_have_count(0)
        sign_out(page, app_url)

    sign_in(page, app_url, ALICE)  # she still finds hers
    page.goto(f"{app_url}/chat?c={alice_conv}")
    expect(page.get_by_role("group", name="Chat message from user")).to_contain_text(
        "Alice asks: name a fruit.")
    conversations_on_tokens_page(page, app_url)
    expect(page.get_by_role("combobox", name="Conversation")).to_have_value(
        "Alice asks: name a fruit.")
    with sqlite3.connect(app_data / "promptlab.sqlite3") as conn:
        owners = {r[0] for r in conn.execute("SELECT user_id FROM identities")}
    assert "alice@example.com" in owners and len(owners) == 3
