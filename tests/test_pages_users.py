"""AppTest with sign-in on (`st.user` as Streamlit sets it when secrets.toml has [auth]): the
sign-in screen, Sign out, private conversations, who made a knowledge base, a prompt version's
author, and the Costs page's user filter, spend by user and per-user budgets."""

from __future__ import annotations

import datetime as dt

import pytest
from support import picker
from support import shown as reads

from lib import chat, knowledge, spend
from lib.core import ROOT, get_settings
from lib.prompts import PromptStore

ALICE = {"is_logged_in": True, "email": "alice@example.com", "name": "Alice", "sub": "a1"}
BOB = {"is_logged_in": True, "email": "bob@example.com", "sub": "b2"}


@pytest.fixture
def open_as(app):
    """An app run as `user` (the `app` fixture clears caches and points data at a temp dir)."""
    from streamlit.testing.v1 import AppTest

    def make(user: dict, page: str | None = None, **params: str):
        at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=120)
        at.user = user
        at.run()
        if page:
            at.switch_page(page)
            for k, v in params.items():
                at.query_params[k] = v
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return make


def db():
    path = get_settings().db_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_nobody_signed_in_sees_only_the_sign_in_screen(open_as):
    db()
    at = open_as({"is_logged_in": False})
    assert [b.label for b in at.button] == ["Sign in"]
    assert not any("Providers" in e.label for e in at.sidebar.expander)  # no page, no panel
    at.switch_page("app_pages/costs.py")
    at.run()
    assert [t.value for t in at.title] == ["Prompt Lab"] and not at.exception


def test_a_signed_in_user_sees_who_they_are_and_can_sign_out(open_as):
    db()
    at = open_as(ALICE)
    says = " ".join(reads(c.value) for c in at.sidebar.caption)
    assert "Signed in as **Alice**" in says and "alice@example.com" in says
    at.sidebar.button(key="sign_out").click().run()
    assert at.user.get("is_logged_in") is False  # st.logout cleared the session's user


def test_each_user_finds_only_their_own_conversations(open_as):
    path = db()
    mine = chat.create_conversation(path, title="Alice's plan", owner=ALICE["email"])
    theirs = chat.create_conversation(path, title="Bob's secret", owner=BOB["email"])
    at = open_as(ALICE, "app_pages/chat.py")
    assert picker(at).options == ["Alice's plan"]
    at = open_as(ALICE, "app_pages/chat.py", c=str(theirs))  # a guessed link to Bob's
    assert [t.value for t in at.title] == ["Chat"] and "c" not in at.query_params
    assert all("Bob's secret" not in o for o in picker(at).options)
    at.chat_input[0].set_value("Hello, who are you?").run()  # a new chat, on the local model
    assert not at.exception
    new = next(c for c in chat.list_conversations(path, owner=ALICE["email"]) if c.id != mine)
    [_, reply] = chat.list_messages(path, new.id)
    assert spend.get_call(path, reply.call_id).user_id == "alice@example.com"
    home = open_as(BOB)
    assert next(m.value for m in home.metric if m.label == "Conversations") == "1"


def test_knowledge_bases_and_prompt_versions_show_who_made_them(open_as, prompts_dir):
    db()
    at = open_as(ALICE, "app_pages/documents.py")
    at.sidebar.text_input(key="kb_new_name").input("Handbook")
    at.sidebar.button(key="kb_create").click().run()
    [kb] = knowledge.list_kbs(get_settings())
    assert kb.owner == "alice@example.com"
    at = open_as(BOB, "app_pages/documents.py")
    assert any("made by alice@example.com" in reads(c.value) for c in at.caption)
    at = open_as(BOB, "app_pages/prompts.py")
    assert not any(t.key == "edit_author" for t in at.text_input)  # the author is who you are
    at.button(key="save_version").click().run()
    prompt = PromptStore(prompts_dir).get("assistant")
    assert prompt.versions[-1].author == "bob@example.com"


def _calls() -> None:
    path = db()
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    for user, cost in (("alice@example.com", 3000), ("bob@example.com", 1000), (None, 500)):
        spend.record(path, spend.CallRecord(
            ts=now, page="chat", provider="openai", model="gpt-4.1", attempts=1, status="ok",
            total_ms=900.0, ttft_ms=100.0, input_tokens=100, output_tokens=10,
            cost_micro=cost, user_id=user))


def test_costs_filter_and_group_by_user(open_as):
    _calls()
    at = open_as(ALICE, "app_pages/costs.py")
    by_user = next(t for t in at.dataframe if "User" in t.value.columns).value
    assert list(by_user["User"]) == ["alice@example.com", "bob@example.com",
                                     "(nobody signed in)"]
    assert list(by_user["Cost (USD)"]) == [0.003, 0.001, 0.0005]
    assert reads(next(m.value for m in at.metric if m.label == "Spend")) == "$0.0045"
    at.sidebar.multiselect(key="cost_user").select("bob@example.com").run()
    assert reads(next(m.value for m in at.metric if m.label == "Spend")) == "$0.0010"


def test_a_budget_is_set_per_user_and_binds_them(open_as):
    _calls()
    at = open_as(ALICE, "app_pages/costs.py", view="Budgets")
    scope = at.selectbox(key="budget_scope")
    assert {"User alice@example.com", "User bob@example.com", "Another user…"} <= set(
        scope.options)
    scope.set_value("another user").run()
    at.text_input(key="budget_user").input("carol@example.com").run()
    at.number_input(key="budget_limit").set_value(0.002).run()
    at.button(key="budget_save").click().run()
    scope = at.selectbox(key="budget_scope").set_value("user:bob@example.com").run()
    at.number_input(key="budget_limit").set_value(0.0012).run()
    at.button(key="budget_save").click().run()
    path = get_settings().db_path
    assert {s.scope: s.limit_micro for s in spend.statuses(path, everyone=True)} == {
        "user:bob@example.com": 1200, "user:carol@example.com": 2000}
    bars = [reads(p.proto.text) for p in at.get("progress")]
    assert any("Today's budget for bob@example.com: $0.0010 of $0.0012" in b for b in bars)
    assert any("is 83% used" in reads(w.value) for w in open_as(BOB).warning)
    assert not open_as(ALICE).warning  # bob's budget is his alone


def test_an_api_key_made_signed_in_is_its_makers(open_as):
    from lib import api

    path = db()
    at = open_as(ALICE, "app_pages/api.py")
    at.text_input(key="api_key_name").input("alice's evals")
    next(b for b in at.button if b.label == "Create key").click().run()
    assert not at.exception and at.code, "the new secret is shown once"
    [key] = api.list_keys(path)
    assert (key.name, key.owner) == ("alice's evals", "alice@example.com")
    at = open_as(BOB, "app_pages/api.py")
    [table] = at.table
    assert table.value.iloc[0]["Made"] == "by alice@example.com"
