"""Summarised history: when a conversation outgrows the window, its oldest turns are folded
into a summary by the summary model (a ledger row on page "summary"), and later calls send
the summary, as stored or as edited, in place of those turns."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fakes import chat_turn, ok, scripted
from test_chat import WordCounter

from lib import chat, spend
from lib.chat import TurnOptions, plan_context
from lib.core import ConfigError, ProviderError, SummaryError
from lib.llm import ChatRequest, Event, Message, ModelInfo, RetryPolicy, load_catalog

LOCAL = "local/smollm2-135m-instruct"
FAST = RetryPolicy(initial_wait_s=0, max_wait_s=0)
SUMMARY = "Earlier: the user's cat is called Miso and lives in Oslo."


@dataclass
class Voices:
    """One fake provider for both models: a summary request (its transcript is fenced) gets
    `summary` (or raises `fail`); any other request gets `reply`."""

    summary: str = SUMMARY
    reply: str = "Noted."
    name: str = "fake"
    fail: ProviderError | None = None
    requests: list[ChatRequest] = field(default_factory=list)

    @staticmethod
    def is_summary(request: ChatRequest) -> bool:
        return 'source="transcript"' in request.messages[-1].content

    @property
    def main(self) -> list[ChatRequest]:
        return [r for r in self.requests if not self.is_summary(r)]

    @property
    def summaries(self) -> list[ChatRequest]:
        return [r for r in self.requests if self.is_summary(r)]

    def stream(self, request: ChatRequest) -> Iterator[Event]:
        self.requests.append(request)
        if self.is_summary(request) and self.fail is not None:
            raise self.fail
        events, _ = ok(self.summary if self.is_summary(request) else self.reply)
        yield from events


@pytest.fixture
def small(settings):
    """The bundled model with a 512-token window: a few long turns overflow it."""
    return dataclasses.replace(settings, local_context_window=512)


def seed(settings, n_long: int = 4, history: str = chat.SUMMARISE
         ) -> tuple[int, list[chat.StoredMessage]]:
    """A conversation whose oldest turns are long (markers OLD0, OLD1, ...) and whose newest
    are short (NEW0, NEW1, ...)."""
    db = settings.db
    conv = chat.create_conversation(db, history=history)
    for i in range(n_long):
        chat.add_message(db, conv, "user" if i % 2 == 0 else "assistant",
                         f"OLD{i} " + "the harbour lights were bright that night " * 14)
    role = "assistant" if n_long % 2 else "user"
    for i in range(4):
        chat.add_message(db, conv, role, f"NEW{i} short line")
        role = "user" if role == "assistant" else "assistant"
    return conv, chat.list_messages(db, conv)


def turn(settings, conv, voices, text="What is my cat called?"):
    model = load_catalog(settings).get(LOCAL)
    return chat_turn(settings, conv, model, text,
                    TurnOptions(max_tokens=64, history=chat.SUMMARISE),
                    calls=scripted(settings, voices, policy=FAST))


def sent(request: ChatRequest) -> str:
    return "\n".join(m.content for m in request.messages)


def test_a_summarised_conversation_sends_the_summary_and_not_the_old_turns(small):
    conv, stored = seed(small)
    voices = Voices()
    t = turn(small, conv, voices)
    assert t.plan.dropped > 0  # the window would leave the oldest turns out
    list(t)
    [request] = voices.main
    summary = chat.active_summary(small.db, conv)
    assert summary is not None and summary.text == SUMMARY and not summary.edited
    covered = [m for m in stored if m.id <= summary.through_id]
    assert covered and summary.covered == len(covered)
    text = sent(request)
    assert SUMMARY in text and 'source="summary"' in text
    assert request.messages[0].content.startswith(f"Summary of the {len(covered)} earlier")
    for m in covered:  # none of the covered turns' text is sent
        assert m.content.split()[0] not in text
    for m in stored[len(covered):]:  # every later turn is, verbatim
        assert m.content in text
    # The summary call is a ledger row of its own, on page "summary", in this conversation.
    row = spend.get_call(small.db, summary.call_id)
    assert (row.page, row.conversation_id, row.status) == ("summary", conv, "ok")
    [summary_request] = voices.summaries
    assert all(m.content.split()[0] in sent(summary_request) for m in covered)
    # The reply says so, and the anatomy has the summary as its own band, adding up.
    reply = chat.list_messages(small.db, conv)[-1]
    assert reply.meta["summary"]["made"] and reply.meta["summary"]["covered"] == len(covered)
    assert reply.meta["dropped"] == 0 and reply.meta["anatomy"]["summary"] > 0
    assert t.plan.summary_tokens > 0 and sum(t.plan.bands().values()) == t.plan.used


def test_an_edited_summary_is_what_later_calls_send_and_it_is_not_made_again(small):
    conv, _ = seed(small)
    voices = Voices()
    list(turn(small, conv, voices))
    summary = chat.active_summary(small.db, conv)
    chat.edit_summary(small.db, summary.id, "EDITED: the cat is Miso, a tabby.")
    nxt = turn(small, conv, voices, "And its colour?")
    assert nxt.plan.dropped == 0  # it fits again: nothing to summarise
    list(nxt)
    assert len(voices.summaries) == 1  # no second summary call
    text = sent(voices.main[-1])
    assert "EDITED: the cat is Miso, a tabby." in text and SUMMARY not in text
    edited = chat.active_summary(small.db, conv)
    assert edited.id == summary.id and edited.edited
    with pytest.raises(SummaryError):
        chat.edit_summary(small.db, summary.id, "   ")


def test_overflowing_again_folds_the_old_summary_and_the_newly_dropped_turns(small):
    conv, _ = seed(small)
    voices = Voices()
    list(turn(small, conv, voices))
    first = chat.active_summary(small.db, conv)
    db = small.db
    for i in range(3):  # the history outgrows the window again
        chat.add_message(db, conv, "user", f"MORE{i} " + "waves on the pier " * 20)
        chat.add_message(db, conv, "assistant", f"Fine {i}.")
    voices.summary, before = "Cat Miso; the pier talk.", len(voices.summaries)
    list(turn(small, conv, voices, "Anything else?"))
    second = chat.active_summary(db, conv)
    assert second.id != first.id and second.through_id > first.through_id
    assert second.covered > first.covered
    fold = voices.summaries[before:]  # one call, or a few if the dropped turns are long
    assert fold and SUMMARY in sent(fold[0])  # the old summary goes into the new one
    text = sent(voices.main[-1])
    assert "Cat Miso; the pier talk." in text and SUMMARY not in text


def test_a_failing_summary_call_falls_back_to_the_window_and_says_so(small):
    conv, stored = seed(small)
    voices = Voices(fail=ProviderError("bad_request", "The summary request was refused."))
    t = turn(small, conv, voices)
    list(t)
    assert chat.active_summary(small.db, conv) is None
    [request] = voices.main
    assert "Summary of" not in sent(request) and "OLD0" not in sent(request)
    assert t.plan.dropped > 0 and t.plan.summary_tokens == 0  # the sliding window
    msgs = chat.list_messages(small.db, conv)
    assert [m.id for m in msgs[:len(stored)]] == [m.id for m in stored]  # nothing lost
    assert msgs[-2].content == "What is my cat called?" and msgs[-1].content == "Noted."
    assert "summary request was refused" in msgs[-1].meta["summary_failed"]
    with small.db.connect() as conn:  # the failed summary call is in the ledger too
        rows = conn.execute("SELECT status, conversation_id FROM calls WHERE page = 'summary'")
        assert [tuple(r) for r in rows] == [("error", conv)]


def test_a_conversation_on_the_window_is_never_summarised(small):
    conv, _ = seed(small)
    chat.set_strategy(small.db, conv, chat.WINDOW)
    voices = Voices()
    model = load_catalog(small).get(LOCAL)
    t = chat_turn(small, conv, model, "Hi", TurnOptions(max_tokens=64),
                 calls=scripted(small, voices, policy=FAST))
    list(t)
    assert voices.summaries == [] and t.plan.dropped > 0
    assert chat.get_conversation(small.db, conv).history_strategy == chat.WINDOW
    with pytest.raises(ConfigError):
        chat.set_strategy(small.db, conv, "forget")


def test_an_edit_before_the_summary_s_end_leaves_the_summary_to_its_own_branch(small):
    conv, stored = seed(small)
    list(turn(small, conv, Voices()))
    summary = chat.active_summary(small.db, conv)
    assert chat.active_summary(small.db, conv, before=summary.through_id) is None
    # An edit of a covered message is a branch beside it: the summary is not sent there...
    voices = Voices()
    model = load_catalog(small).get(LOCAL)
    list(chat_turn(small, conv, model, "A new start", TurnOptions(
        max_tokens=64, history=chat.SUMMARISE), calls=scripted(small, voices, policy=FAST),
        replace_from=stored[0].id))
    assert chat.active_summary(small.db, conv) is None
    assert "Miso" not in sent(voices.main[0])
    # ...and it is kept for the branch it covers, which applies again once chosen.
    chat.choose_branch(small.db, conv, stored[0].id)
    assert chat.active_summary(small.db, conv) == summary


def test_the_summary_band_opens_the_first_turn_and_the_bands_add_up():
    model = ModelInfo("tiny", "openai", "Tiny", context_window=100, max_output=50)
    history = [Message("user", "a b c"), Message("assistant", "d e")]
    plan = plan_context(WordCounter(), model, "sys", history, "new", 20, summary="s1 s2 s3 s4")
    assert plan.messages[0].content == "s1 s2 s3 s4\n\na b c"
    bands = plan.bands()
    assert bands["summary"] == 4 and bands["history"] == 5 and bands["new message"] == 1
    assert sum(bands.values()) == plan.used
    too_long = plan_context(WordCounter(), model, "sys", history, "new", 20,
                            summary=" ".join(["s"] * 90))
    assert too_long.summary_tokens == 0 and "s s s" not in too_long.messages[0].content


def test_the_chat_page_summarises_on_the_bundled_model_and_the_summary_can_be_edited(
        app, monkeypatch):
    """A person picks "summarise" for a long conversation and sends: the bundled model writes
    the summary, the page shows it where the turns it replaces end, and an edit is kept."""
    from support import picker, shown

    from lib.core import get_settings

    monkeypatch.setenv("PROMPTLAB_LOCAL_CONTEXT", "512")
    at = app("app_pages/chat.py")
    db = get_settings().db
    conv, _ = seed(get_settings(), history=chat.WINDOW)
    at.run()
    picker(at).set_value(conv).run()
    next(s for s in at.slider if s.label == "Temperature").set_value(0.0).run()
    next(n for n in at.number_input if n.label == "Max output tokens").set_value(64).run()
    at.radio(key=f"history_strategy_{conv}").set_value(chat.SUMMARISE).run()
    assert chat.get_conversation(db, conv).history_strategy == chat.SUMMARISE
    assert any("Summaries are written by" in shown(c.value) for c in at.sidebar.caption)
    at.chat_input[0].set_value("Were the harbour lights bright?").run()
    assert not at.exception, [e.value for e in at.exception]
    summary = chat.active_summary(db, conv)
    assert summary is not None and summary.text.strip(), "the bundled model wrote no summary"
    assert f"Summary of {summary.covered} earlier messages" in [
        shown(e.label) for e in at.expander]
    assert spend.get_call(db, summary.call_id).page == "summary"
    assert any("summary of" in shown(c.value) and "sent in their place" in shown(c.value)
               for c in at.caption)
    at.text_area(key=f"summary_text_{summary.id}").input("The lights were bright.").run()
    at.button(key=f"summary_save_{summary.id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    edited = chat.active_summary(db, conv)
    assert (edited.text, edited.edited) == ("The lights were bright.", True)


def test_exports_carry_the_summary_after_the_turns_it_covers(small):
    import json

    conv, _ = seed(small)
    list(turn(small, conv, Voices()))
    summary = chat.active_summary(small.db, conv)
    chat.edit_summary(small.db, summary.id, "EDITED: the cat is Miso.")
    exported = chat.export_markdown(small.db, conv)
    heading = f"## Summary of the {summary.covered} messages above (edited)"
    assert heading in exported and "EDITED: the cat is Miso." in exported
    # It sits after the last message it covers and before the first it does not.
    assert exported.index(f"OLD{summary.covered - 1}") < exported.index(heading) \
        < exported.index("NEW0" if summary.covered >= 4 else f"OLD{summary.covered}")
    data = json.loads(chat.export_json(small.db, conv))
    assert data["summary"]["text"] == "EDITED: the cat is Miso." and data["summary"]["edited"]
    unsummarised, _ = seed(small, history=chat.WINDOW)
    assert json.loads(chat.export_json(small.db, unsummarised))["summary"] is None
    assert "## Summary" not in chat.export_markdown(small.db, unsummarised)


def test_summarising_can_be_stopped_and_the_turn_goes_on_with_the_window(small):
    """Summarising runs under the turn's Stop: cancelled, no summary is stored and the window
    applies; sent again with skip_summary (what the page does after a Stop), the turn says
    why in the reply."""
    import threading

    conv, _ = seed(small)
    cancel = threading.Event()
    cancel.set()  # Stop pressed while summarising
    voices = Voices()
    t = turn(small, conv, voices)
    assert len(t.compaction.to_fold(t.plan)) > 0
    assert t.compaction.fold(t.plan, scripted(small, voices, policy=FAST), cancel) is False
    assert chat.active_summary(small.db, conv) is None and t.compaction.failed
    model = load_catalog(small).get(LOCAL)
    asked = len(voices.summaries)  # the cancelled call, if it went out before the Stop
    again = chat_turn(small, conv, model, "What is my cat called?", TurnOptions(
        max_tokens=64, history=chat.SUMMARISE),
        calls=scripted(small, voices, policy=FAST), skip_summary="stopped by you")
    list(again)
    assert len(voices.summaries) == asked  # the turn sent after the Stop summarises nothing
    assert chat.active_summary(small.db, conv) is None
    reply = chat.list_messages(small.db, conv)[-1]
    assert reply.content == "Noted." and reply.meta["summary_failed"] == "stopped by you"
    assert again.plan.dropped > 0 and again.plan.summary_tokens == 0
