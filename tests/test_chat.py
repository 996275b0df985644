"""The chat service: sliding-window context, persistence of every turn, and failures."""

from __future__ import annotations

import pytest
from fakes import FakeProvider, chat_turn, fail, ok, scripted

from lib import chat, spend
from lib.chat import Finished, Text, TurnOptions, plan_context
from lib.core import ContextOverflowError, ProviderError
from lib.llm import ChatRequest, Message, ModelInfo, Usage


class WordCounter:
    """One token per word, two per message of framing, one per request: easy to reason about."""

    name, exact = "words", True

    def count(self, text: str) -> int:
        return len(text.split())

    def message_overhead(self) -> int:
        return 2

    def count_request(self, request: ChatRequest) -> int:
        msgs = [request.system] if request.system else []
        return 1 + sum(self.count(m) + 2 for m in [*msgs, *(m.content for m in request.messages)])


MODEL = ModelInfo("tiny", "openai", "Tiny", context_window=100, max_output=50)


def words(n: int) -> str:
    return " ".join(["w"] * n)


def test_everything_fits():
    history = [Message("user", words(5)), Message("assistant", words(5))]
    plan = plan_context(WordCounter(), MODEL, "sys", history, words(3), max_output=20)
    assert plan.dropped == 0 and len(plan.messages) == 3
    assert plan.input_tokens == 1 + 3 + 7 + 7 + 5
    assert plan.used == plan.input_tokens + 20 and plan.fraction == plan.used / 100


def test_the_bands_add_up_to_the_whole_call():
    history = [Message("user", words(5)), Message("assistant", words(5))]
    plan = plan_context(WordCounter(), MODEL, "sys", history, words(3), max_output=20,
                        documents="doc " * 4)
    bands = plan.bands()
    assert sum(bands.values()) == plan.used == plan.input_tokens + 20
    assert bands["history"] == 10 and bands["new message"] == 3 and bands["framing"] > 0


def test_oldest_turns_are_dropped_first():
    history = []
    for _i in range(6):
        history += [Message("user", words(10)), Message("assistant", words(10))]
    plan = plan_context(WordCounter(), MODEL, "", history, words(5), max_output=30)
    # budget 70: new message 1+7 = 8; each message 12 → 5 fit (60) but we must start on a user
    assert plan.dropped == 8
    assert plan.messages[0].role == "user" and plan.input_tokens <= 70
    assert plan.history_tokens == 4 * 10  # the texts; the framing around them is its own band
    assert sum(plan.bands().values()) == plan.used


def test_a_message_that_cannot_fit_is_refused():
    with pytest.raises(ContextOverflowError, match="window"):
        plan_context(WordCounter(), MODEL, "", [], words(80), max_output=30)


def test_consecutive_user_messages_are_merged():
    history = [Message("user", "first try"), Message("user", "second try")]
    plan = plan_context(WordCounter(), MODEL, "", history, "third", max_output=10)
    assert [m.role for m in plan.messages] == ["user"]
    assert plan.messages[0].content == "first try\n\nsecond try\n\nthird"


LOCAL = "local/smollm2-135m-instruct"


def _turn(settings, conv_id, provider, text="Hello?", **options):
    from lib.llm import load_catalog

    model = load_catalog(settings).get(LOCAL)
    return chat_turn(settings, conv_id, model, text, TurnOptions(**options),
                    calls=scripted(settings, provider))


def test_a_turn_is_saved_with_its_metrics(settings):
    conv = chat.create_conversation(settings.db)
    turn = _turn(settings, conv, FakeProvider([ok("Hi", " there", usage=Usage(30, 2))]),
                 system="Be kind.")
    list(turn)
    msgs = chat.list_messages(settings.db, conv)
    assert [(m.role, m.content, m.status) for m in msgs] == [
        ("user", "Hello?", "ok"), ("assistant", "Hi there", "ok")]
    meta = msgs[1].meta
    assert meta["input_tokens"] == 30 and meta["output_tokens"] == 2 and meta["ttft_ms"] >= 0
    row = spend.get_call(settings.db, msgs[1].call_id)
    assert row.conversation_id == conv and row.page == "chat"
    conv_row = chat.get_conversation(settings.db, conv)
    assert conv_row.title == "Hello?" and conv_row.system == "Be kind." and conv_row.model == LOCAL


def test_history_is_sent_on_the_next_turn(settings):
    conv = chat.create_conversation(settings.db)
    list(_turn(settings, conv, FakeProvider([ok("Four.")]), "What is 2+2?"))
    provider = FakeProvider([ok("Eight.")])
    list(_turn(settings, conv, provider, "And doubled?"))
    assert [m.content for m in provider.requests[0].messages] == [
        "What is 2+2?", "Four.", "And doubled?"]


def test_a_failed_turn_keeps_the_users_message(settings):
    conv = chat.create_conversation(settings.db)
    turn = _turn(settings, conv, FakeProvider([fail(ProviderError("auth", "bad key"))]))
    events = list(turn)
    assert isinstance(events[-1], Finished) and "API key" in str(events[-1].error)
    assert [m.role for m in chat.list_messages(settings.db, conv)] == ["user"]
    assert turn.record.status == "error"


def test_a_stopped_turn_keeps_its_partial_reply(settings):
    conv = chat.create_conversation(settings.db)
    turn = _turn(settings, conv, FakeProvider([ok("Once", " upon", " a", " time")]))
    stream = iter(turn)
    texts = (e for e in stream if isinstance(e, Text))
    next(texts), next(texts)    # two chunks shown, then Stop
    stream.close()
    reply = chat.list_messages(settings.db, conv)[-1]
    assert (reply.role, reply.content, reply.status) == ("assistant", "Once upon", "cancelled")
    assert spend.get_call(settings.db, reply.call_id).status == "cancelled"


def test_conversation_exports_and_delete(settings):
    conv = chat.create_conversation(settings.db)
    list(_turn(settings, conv, FakeProvider([ok("Pong")]), "Ping", system="Echo."))
    chat.update_conversation(settings.db, conv, title="Ping pong")
    md = chat.export_markdown(settings.db, conv)
    assert md.startswith("# Ping pong") and "## User\n\nPing" in md and "## Assistant\n\nPong" in md
    import json

    data = json.loads(chat.export_json(settings.db, conv))
    assert data["title"] == "Ping pong" and [m["content"] for m in data["messages"]] == [
        "Ping", "Pong"]
    chat.delete_conversation(settings.db, conv)
    assert chat.list_conversations(settings.db) == []
    assert chat.list_messages(settings.db, conv) == []
    assert spend.count_calls(settings.db) == 1  # the ledger keeps the call


def test_the_bands_add_up_with_the_local_models_own_template(settings):
    from lib.llm import counter_for, load_catalog

    model = load_catalog(settings).get("local/smollm2-135m-instruct")
    plan = plan_context(counter_for(model, settings), model, "Be brief.",
                        [Message("user", "Hi there"), Message("assistant", "Hello!")],
                        "How are you today?", 64)
    assert plan.exact and sum(plan.bands().values()) == plan.used
    assert plan.framing_tokens > 0  # the chat template's role markers, counted, not lost


def test_a_reply_cut_inside_a_code_block_does_not_swallow_the_export(settings):
    from lib import chat

    db = settings.db
    conv = chat.create_conversation(db, title="Code")
    chat.add_message(db, conv, "user", "Show me a loop")
    chat.add_message(db, conv, "assistant", "Here:\n```python\nfor i in range(3):\n",
                     status="incomplete")
    chat.add_message(db, conv, "user", "Thanks! And in Rust?")
    exported = chat.export_markdown(db, conv)
    after = exported.split("## User", 2)[2]  # the second user message is a heading again
    assert after.startswith("\n\nThanks! And in Rust?")
    assert exported.count("```") % 2 == 0
    assert chat.closed_fences("~~~~\ncode\n~~~") == "~~~~\ncode\n~~~\n~~~~"
    assert chat.closed_fences("```\nclosed\n```") == "```\nclosed\n```"


def test_an_edit_replaces_the_later_turns_and_the_ledger_keeps_both_calls(settings):
    from fakes import FakeProvider, ok

    from lib import chat, spend
    from lib.llm import ModelInfo

    model = ModelInfo("fake", "local", "Fake", 4096, 256)
    first = chat_turn(settings, None, model, "What is 2+2?",
                          calls=scripted(settings, FakeProvider([ok("5")])))
    list(first)
    conv = first.conversation_id
    [asked, _reply] = chat.list_messages(settings.db, conv)
    edited = chat_turn(settings, conv, model, "What is 2+2? Think.", replace_from=asked.id,
                           calls=scripted(settings, FakeProvider([ok("4")])))
    assert edited.plan.messages == (Message("user", "What is 2+2? Think."),)  # no old turn
    list(edited)
    assert [(m.role, m.content) for m in chat.list_messages(settings.db, conv)] == [
        ("user", "What is 2+2? Think."), ("assistant", "4")]
    assert spend.count_calls(settings.db) == 2  # both calls stay in the ledger


def test_a_refused_resend_replaces_nothing(settings):
    from fakes import FakeProvider, ok

    from lib import chat, spend
    from lib.core import BudgetExceededError
    from lib.llm import ModelInfo

    free = ModelInfo("fake", "local", "Fake", 4096, 256)
    paid = ModelInfo("gpt-4.1", "openai", "GPT", 4096, 256, input=2.0, output=8.0)
    first = chat_turn(settings, None, free, "Hello",
                          calls=scripted(settings, FakeProvider([ok("Hi")])))
    list(first)
    before = chat.list_messages(settings.db, first.conversation_id)
    spend.set_budget(settings.db, "all", "day", 0.0)
    again = chat_turn(settings, first.conversation_id, paid, "Hello",
                          replace_from=before[0].id,
                          calls=scripted(settings, FakeProvider([ok("Hey")])))
    with pytest.raises(BudgetExceededError):
        list(again)
    assert chat.list_messages(settings.db, first.conversation_id) == before


def test_conversations_are_found_by_title_or_by_what_was_said(settings):
    from lib import chat

    db = settings.db
    a = chat.create_conversation(db, title="Lighthouse notes")
    b = chat.create_conversation(db, title="Other")
    chat.add_message(db, b, "user", "the keeper logs 100% of storms_")
    chat.create_conversation(db, title="Unrelated")
    assert [c.id for c in chat.search_conversations(db, "lighthouse")] == [a]
    assert [c.id for c in chat.search_conversations(db, "100% of storms_")] == [b]
    assert chat.search_conversations(db, "_") == [c for c in chat.search_conversations(
        db, "storms_")]  # _ and % are literal, not wildcards


def test_a_regenerate_is_a_branch_and_what_is_sent_is_the_chosen_branch(settings):
    from fakes import FakeProvider, ok

    from lib import chat
    from lib.llm import ModelInfo

    db = settings.db
    model = ModelInfo("fake", "local", "Fake", 4096, 256)
    first = chat_turn(settings, None, model, "Pick a fruit",
                          calls=scripted(settings, FakeProvider([ok("Apple")])))
    list(first)
    conv = first.conversation_id
    [asked, apple] = chat.list_messages(db, conv)
    again = chat_turn(settings, conv, model, asked.content, replace_from=asked.id,
                          again=True, calls=scripted(settings, FakeProvider([ok("Pear")])))
    assert again.plan.messages == (Message("user", "Pick a fruit"),)  # asked once, no reply
    list(again)
    [same, pear] = chat.list_messages(db, conv)
    assert same.id == asked.id and pear.content == "Pear"
    assert pear.branches == (apple.id, pear.id) and pear.parent_id == asked.id
    # Later turns follow the branch chosen, and send it.
    chat.choose_branch(db, conv, apple.id)
    provider = FakeProvider([ok("Banana")])
    list(chat_turn(settings, conv, model, "Another?", calls=scripted(settings, provider)))
    assert [m.content for m in provider.requests[0].messages] == [
        "Pick a fruit", "Apple", "Another?"]
    assert [m.content for m in chat.list_messages(db, conv)] == [
        "Pick a fruit", "Apple", "Another?", "Banana"]
    chat.choose_branch(db, conv, pear.id)
    assert [m.content for m in chat.list_messages(db, conv)] == ["Pick a fruit", "Pear"]
    provider = FakeProvider([ok("Plum")])
    list(chat_turn(settings, conv, model, "Again?", calls=scripted(settings, provider)))
    assert [m.content for m in provider.requests[0].messages] == [
        "Pick a fruit", "Pear", "Again?"]
    # An edit of the first message is a branch too; the ledger keeps every call.
    list(chat_turn(settings, conv, model, "Pick a colour", replace_from=asked.id,
                       calls=scripted(settings, FakeProvider([ok("Red")]))))
    edited = chat.list_messages(db, conv)
    assert [m.content for m in edited] == ["Pick a colour", "Red"]
    assert edited[0].branches == (asked.id, edited[0].id)
    from lib import spend
    assert spend.count_calls(db) == 5


def test_a_markdown_error_then_a_fallback_that_answers_empty_still_leaves_a_reply(settings):
    """The chosen model fails with an error written in Markdown; the fallback answers with no
    text. The turn keeps a reply saying so, with why the first model was passed over, and
    the empty reply is never sent to a model again."""
    from fakes import FakeProvider, fail, ok

    from lib import chat
    from lib.llm import ModelInfo

    db = settings.db
    first = ModelInfo("first", "openai", "First", 4096, 256)
    spare = ModelInfo("spare", "local", "Spare", 4096, 256)
    errors = ["# Refused\n\n**Bad** request: see [docs](http://127.0.0.1:9/x) and `code`.",
              "![x](http://127.0.0.1:9/leak) <img src=x> [r]: http://127.0.0.1:9/ref",
              "```\nunclosed fence\n> quote\n- item"]
    for message in errors:
        quiet = FakeProvider([ok()])  # the fallback: a reply with no text at all
        failing = FakeProvider([fail(ProviderError("bad_request", message))])
        t = chat_turn(settings, None, first, "Hello?", TurnOptions(fallbacks=(spare,)),
                          calls=scripted(settings, {first.key: failing, spare.key: quiet}))
        list(t)
        [_, reply] = chat.list_messages(db, t.conversation_id)
        assert reply.meta["empty"] and reply.meta["label"] == "Spare"
        assert reply.meta["fallbacks"][0]["model"] == "First"
        nxt = FakeProvider([ok("Hi")])
        list(chat_turn(settings, t.conversation_id, spare, "Still there?",
                           calls=scripted(settings, nxt)))
        assert [m.role for m in nxt.requests[0].messages] == ["user"]  # empty reply not sent
