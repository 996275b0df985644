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
from lib.storage import Database

ISSUER = "https://id.example.com"
ALICE = {"is_logged_in": True, "iss": ISSUER, "sub": "a1", "email": "alice@example.com",
         "email_verified": True, "name": "Alice"}
BOB = {"is_logged_in": True, "iss": ISSUER, "sub": "b2", "email": "bob@example.com",
       "email_verified": True}


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


def app_db() -> Database:
    """The database the app's settings name."""
    return get_settings().db


def test_nobody_signed_in_sees_only_the_sign_in_screen(open_as):
    app_db()
    at = open_as({"is_logged_in": False})
    assert [b.label for b in at.button] == ["Sign in"]
    assert not any("Providers" in e.label for e in at.sidebar.expander)  # no page, no panel
    at.switch_page("app_pages/costs.py")
    at.run()
    assert [t.value for t in at.title] == ["Prompt Lab"] and not at.exception


def test_a_signed_in_user_sees_who_they_are_and_can_sign_out(open_as):
    app_db()
    at = open_as(ALICE)
    says = " ".join(reads(c.value) for c in at.sidebar.caption)
    assert "Signed in as **Alice**" in says and "alice@example.com" in says
    at.sidebar.button(key="sign_out").click().run()
    assert at.user.get("is_logged_in") is False  # st.logout cleared the session's user


def test_each_user_finds_only_their_own_conversations(open_as):
    db = app_db()
    mine = chat.create_conversation(db, title="Alice's plan", owner=ALICE["email"])
    theirs = chat.create_conversation(db, title="Bob's secret", owner=BOB["email"])
    at = open_as(ALICE, "app_pages/chat.py")
    assert picker(at).options == ["Alice's plan"]
    at = open_as(ALICE, "app_pages/chat.py", c=str(theirs))  # a guessed link to Bob's
    assert [t.value for t in at.title] == ["Chat"] and "c" not in at.query_params
    assert all("Bob's secret" not in o for o in picker(at).options)
    at.chat_input[0].set_value("Hello, who are you?").run()  # a new chat, on the local model
    assert not at.exception
    new = next(c for c in chat.list_conversations(db, owner=ALICE["email"]) if c.id != mine)
    [_, reply] = chat.list_messages(db, new.id)
    assert spend.get_call(db, reply.call_id).user_id == "alice@example.com"
    home = open_as(BOB)
    assert next(m.value for m in home.metric if m.label == "Conversations") == "1"


def test_knowledge_bases_and_prompt_versions_show_who_made_them(open_as, prompts_dir):
    app_db()
    at = open_as(ALICE, "app_pages/documents.py")
    at.sidebar.text_input(key="kb_new_name").input("Handbook")
    at.sidebar.button(key="kb_create").click().run()
    [kb] = knowledge.list_kbs(get_settings().db)
    assert kb.owner == "alice@example.com"
    at = open_as(BOB, "app_pages/documents.py")
    assert any("made by alice@example.com" in reads(c.value) for c in at.caption)
    at = open_as(BOB, "app_pages/prompts.py")
    assert not any(t.key == "edit_author" for t in at.text_input)  # the author is who you are
    at.button(key="save_version").click().run()
    prompt = PromptStore(prompts_dir).get("assistant")
    assert prompt.versions[-1].author == "bob@example.com"


def _calls() -> None:
    db = app_db()
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    for user, cost in (("alice@example.com", 3000), ("bob@example.com", 1000), (None, 500)):
        spend.record(db, spend.CallRecord(
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
    db = get_settings().db
    assert {s.scope: s.limit_micro for s in spend.statuses(db, everyone=True)} == {
        "user:bob@example.com": 1200, "user:carol@example.com": 2000}
    bars = [reads(p.proto.text) for p in at.get("progress")]
    assert any("Today's budget for bob@example.com: $0.0010 of $0.0012" in b for b in bars)
    assert any("is 83% used" in reads(w.value) for w in open_as(BOB).warning)
    assert not open_as(ALICE).warning  # bob's budget is his alone


def test_an_api_key_made_signed_in_is_its_makers(open_as):
    from lib import api

    db = app_db()
    at = open_as(ALICE, "app_pages/api.py")
    at.text_input(key="api_key_name").input("alice's evals")
    next(b for b in at.button if b.label == "Create key").click().run()
    assert not at.exception and at.code, "the new secret is shown once"
    [key] = api.list_keys(db)
    assert (key.name, key.owner) == ("alice's evals", "alice@example.com")
    at = open_as(BOB, "app_pages/api.py")
    [table] = at.table
    assert table.value.iloc[0]["Made"] == "by alice@example.com"


# Claims a person controls at some provider, none of them Alice's identity: an email set to
# hers but not verified (false, "false", or no such claim), a `sub` spelled like her email
# and no email, the same at another issuer, and her email "verified" on a claim of another
# shape. Each signs in on its own.
CLAIMERS = {
    "unverified email": {"iss": ISSUER, "sub": "m1", "email": "alice@example.com",
                         "email_verified": False, "name": "Alice"},
    "verified as a string 'false'": {"iss": ISSUER, "sub": "m2", "email": "alice@example.com",
                                     "email_verified": "false"},
    "no email_verified claim": {"iss": ISSUER, "sub": "m3", "email": "alice@example.com"},
    "sub equal to her email": {"iss": ISSUER, "sub": "alice@example.com"},
    "sub equal to her email, another issuer": {"iss": "https://evil.example",
                                               "sub": "alice@example.com"},
    "verified email with a space": {"iss": ISSUER, "sub": "m4", "email_verified": True,
                                    "email": "alice@example.com "},
}


def _alices_things(db: Database) -> tuple[int, str]:
    """A conversation and an agent run of Alice's, stored as sign-in by email stored them."""
    conv = chat.create_conversation(db, title="Alice's salary review", owner=ALICE["email"])
    chat.add_message(db, conv, "user", "My salary is 123,456 and my manager is Carol.")
    spend.record(db, spend.CallRecord(
        ts=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), page="chat",
        provider="local", model="m", attempts=1, status="ok", total_ms=5.0,
        run_id="run-alice", step=1, user_id=ALICE["email"]))
    return conv, "run-alice"


def _sees_alices(at_chat, at_traces, at_tokens) -> bool:
    texts = " ".join(reads(str(e.value)) for at in (at_chat, at_traces, at_tokens)
                     for kind in ("markdown", "caption", "title", "info", "warning", "text")
                     for e in at.get(kind))
    options = [str(o) for at in (at_chat, at_tokens) for s in at.selectbox for o in s.options]
    # (the run's id is in the Traces picker either way: it came from the link; its steps not)
    return "123,456" in texts or any("salary" in o for o in options) or "Step 1" in texts


@pytest.mark.parametrize("claims", CLAIMERS.values(), ids=CLAIMERS.keys())
def test_a_claimed_identity_opens_none_of_alices_things(open_as, claims):
    db = app_db()
    conv, run = _alices_things(db)
    who = {"is_logged_in": True, **claims}
    chat_page = open_as(who, "app_pages/chat.py", c=str(conv))  # her link, guessed
    assert [t.value for t in chat_page.title] == ["Chat"] and "c" not in chat_page.query_params
    traces = open_as(who, "app_pages/traces.py", run=run)
    tokens = open_as(who, "app_pages/tokens.py")
    tokens.segmented_control(key="tok_source").set_value("A conversation").run()
    assert not _sees_alices(chat_page, traces, tokens)
    assert any("No conversations yet." in i.value for i in tokens.info)  # drawn, and empty
    assert any("There is no agent run" in w.value for w in traces.warning)
    # Alice herself, signing in after the claimer, still finds all of it.
    chat_page = open_as(ALICE, "app_pages/chat.py", c=str(conv))
    assert chat_page.query_params["c"] == str(conv)
    traces = open_as(ALICE, "app_pages/traces.py", run=run)
    tokens = open_as(ALICE, "app_pages/tokens.py")
    tokens.segmented_control(key="tok_source").set_value("A conversation").run()
    assert _sees_alices(chat_page, traces, tokens)


def test_a_claimer_keeps_an_id_of_their_own_and_reads_as_it(open_as):
    """What the claimer makes is theirs, under an id that is not Alice's email; the
    sidebar shows that id, never the unverified email."""
    app_db()
    who = {"is_logged_in": True, **CLAIMERS["unverified email"]}
    at = open_as(who, "app_pages/chat.py")
    at.chat_input[0].set_value("Hello?").run()
    assert not at.exception
    db = get_settings().db
    owners = {c.owner for c in chat.list_conversations(db)}
    assert len(owners) == 1 and "@" not in owners.pop()
    says = " ".join(reads(c.value) for c in at.sidebar.caption)
    assert "alice@example.com" not in says and "user-" in says
    assert chat.list_conversations(db, owner=ALICE["email"]) == []
