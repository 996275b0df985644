"""Workflow runs over a provider with controlled delays: independent steps overlap, dependents
wait, a map keeps to its concurrency, a failure stops only its dependents, Stop keeps what
finished and gives back the run's hold, a budget refuses a run before any call; every call
is a ledger row with the run and the step, and the run reads back as a tree."""

from __future__ import annotations

import json

import pytest
from fakes import scripted
from scripted_provider import TimedProvider

from lib import spend
from lib.core import BudgetExceededError, ProviderError, WorkflowError
from lib.workflows import (
    RunDone,
    StepDone,
    StepFailed,
    StepRunning,
    StepSkipped,
    WorkflowRun,
    load_run,
    parse,
    resolve,
)

PAID = "openai/gpt-6.1-terra"   # priced: a budget applies to it


def step(sid: str, reads: str = "", *, marker: str | None = None, extra: str = "") -> str:
    """A summarizer step on the paid model; its text holds its marker (the provider's key)
    and, when given, what it reads."""
    text = f'"[[{marker or sid}]]"' if not reads else f'"{reads}"'
    return (f'[[steps]]\nid = "{sid}"\nkind = "prompt"\nprompt = "summarizer"\n'
            f'model = "{PAID}"\nmax_tokens = 50\ninputs = {{ text = {text} }}\n{extra}\n')


def workflow(settings, body: str, inputs: str = ""):
    return resolve(settings, parse("t", f"[inputs]\n{inputs}\n{body}"))


def run_all(run: WorkflowRun) -> list:
    return list(run)


def by_type(events, kind) -> dict:
    return {e.step: e for e in events if isinstance(e, kind)}


def test_independent_steps_overlap_and_the_step_reading_them_waits(settings):
    provider = TimedProvider({"a": 0.3, "b": 0.3, "c": 0.3})
    body = step("a") + step("b") + step("c") + (
        '[[steps]]\nid = "merge"\nkind = "prompt"\nprompt = "review-merge"\n'
        f'model = "{PAID}"\nmax_tokens = 50\n'
        'inputs = { security = "a.output", performance = "b.output", style = "c.output" }\n')
    resolved = workflow(settings, body)
    assert resolved.graph.levels == [["a", "b", "c"], ["merge"]]
    events = run_all(WorkflowRun(settings, resolved, {}, calls=scripted(settings, provider)))
    spans = [provider.interval(k) for k in "abc"]
    assert max(s for s, _ in spans) < min(e for _, e in spans)   # all three at once
    merge_start, _ = provider.interval("")
    assert merge_start >= max(e for _, e in spans)                # it waited for all three
    done = events[-1]
    assert isinstance(done, RunDone) and done.status == "done"
    assert done.outputs == {"merge": "reply plain"}


def test_a_map_runs_at_its_concurrency_bound(settings):
    provider = TimedProvider({"x": 0.05})
    body = ('[[steps]]\nid = "each"\nkind = "map"\nover = "inputs.items"\nconcurrency = 2\n'
            '[steps.do]\nkind = "prompt"\nprompt = "summarizer"\n'
            f'model = "{PAID}"\nmax_tokens = 20\ninputs = {{ text = "item" }}\n')
    resolved = workflow(settings, body, 'items = "list"')
    run = WorkflowRun(settings, resolved, {"items": ["[[x]] 1", "[[x]] 2", "[[x]] 3",
                                                     "[[x]] 4", "[[x]] 5", "[[x]] 6"]},
                      calls=scripted(settings, provider))
    events = run_all(run)
    assert provider.peak == 2 and len(provider.intervals) == 6
    assert by_type(events, StepDone)["each"].output == ["reply x"] * 6
    assert sorted(e.item for e in events if isinstance(e, StepRunning) and e.item is not None) \
        == [0, 1, 2, 3, 4, 5]
    tree = load_run(settings.db, run.run_id)
    [node] = tree.steps
    assert [i["index"] for i in node.items] == [0, 1, 2, 3, 4, 5]
    assert all(len(i["calls"]) == 1 and i["calls"][0].run_id == run.run_id
               for i in node.items)


def test_a_failing_step_fails_its_dependents_and_not_its_siblings(settings):
    provider = TimedProvider(fails={"a": ProviderError("bad_request", "refused")})
    body = step("a") + step("b") + step("c", "a.output") + step("d", "b.output")
    events = run_all(WorkflowRun(settings, workflow(settings, body), {},
                                 calls=scripted(settings, provider)))
    failed = by_type(events, StepFailed)
    assert failed["a"].cause == "error" and "refused" in failed["a"].error
    assert failed["c"].cause == "dependency" and "needs a" in failed["c"].error
    assert set(by_type(events, StepDone)) == {"b", "d"}
    done = events[-1]
    assert done.status == "failed" and done.failed == ("a", "c")
    assert done.outputs == {"d": "reply plain"} and "refused" in done.error


def test_stop_keeps_finished_steps_and_gives_back_the_unspent_hold(settings):
    spend.set_budget(settings.db, "all", "day", 10.0)
    held = []

    def seen(key):  # while a call runs: the run's one hold is all that is reserved
        with settings.db.connect() as conn:
            held.append(conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0])

    provider = TimedProvider(held=("slow",), seen=seen)
    body = step("fast") + step("slow") + step("after", "slow.output")
    run = WorkflowRun(settings, workflow(settings, body), {}, calls=scripted(settings, provider))
    events = []
    for event in run:
        events.append(event)
        if isinstance(event, StepDone) and event.step == "fast":
            run.stop()
    assert held == [1, 1]
    done = by_type(events, StepDone)
    assert set(done) == {"fast"} and done["fast"].output == "reply fast"
    failed = by_type(events, StepFailed)
    assert failed["slow"].cause == "stopped" and failed["after"].cause == "stopped"
    assert events[-1].status == "stopped"
    with settings.db.connect() as conn:
        assert tuple(conn.execute("SELECT COUNT(*), COALESCE(SUM(amount_micro), 0) FROM "
                                  "reservations").fetchone()) == (0, 0)
    rows = {r.step: r for r in spend.run_calls(settings.db, run.run_id)}
    wf = run.wf
    assert rows[wf.position("fast")].status == "ok"
    assert rows[wf.position("slow")].status == "cancelled"
    tree = load_run(settings.db, run.run_id)
    assert tree.run.status == "stopped"
    nodes = {n.step: n for n in tree.steps}
    assert nodes["fast"].status == "done" and nodes["fast"].output == "reply fast"
    assert nodes["fast"].calls[0].run_id == run.run_id
    assert nodes["slow"].status == "failed" and nodes["slow"].cause == "stopped"


def test_a_run_that_would_pass_its_budget_is_refused_before_any_call(settings):
    spend.set_budget(settings.db, "all", "day", 0.0001)   # 100 µ$: less than the forecast
    provider = TimedProvider()
    run = WorkflowRun(settings, workflow(settings, step("a") + step("b")), {},
                      calls=scripted(settings, provider))
    assert run.forecast.max_cost_micro > 100 and run.forecast.calls == 2
    with pytest.raises(BudgetExceededError):
        next(iter(run))
    assert provider.intervals == []
    with settings.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 0


def test_every_call_is_a_ledger_row_of_the_run_and_its_step(settings):
    spend.set_budget(settings.db, "all", "day", 10.0)
    provider = TimedProvider()
    run = WorkflowRun(settings, workflow(settings, step("a") + step("b", "a.output")), {},
                      calls=scripted(settings, provider))
    events = run_all(run)
    rows = spend.run_calls(settings.db, run.run_id)
    assert [(r.step, r.page, r.prompt_name) for r in rows] == [(1, "workflow", "summarizer"),
                                                               (2, "workflow", "summarizer")]
    assert events[-1].cost_micro == sum(r.cost_micro for r in rows) > 0
    with settings.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
    tree = load_run(settings.db, run.run_id)
    assert [(n.step, n.status, [c.id for c in n.calls]) for n in tree.steps] == [
        ("a", "done", [rows[0].id]), ("b", "done", [rows[1].id])]


def test_a_false_condition_skips_its_dependents(settings):
    provider = TimedProvider()
    body = ('[[steps]]\nid = "check"\nkind = "condition"\nexpression = "n > 3"\n'
            'inputs = { n = "inputs.n" }\n'
            + step("big", extra='when = "check.output"')
            + step("small", extra='when = "not check.output"')
            + step("after_big", "big.output"))
    events = run_all(WorkflowRun(settings, workflow(settings, body, 'n = "int"'), {"n": 2},
                                 calls=scripted(settings, provider)))
    assert set(by_type(events, StepSkipped)) == {"big", "after_big"}
    assert by_type(events, StepDone)["small"].output == "reply small"
    assert events[-1].status == "done" and events[-1].skipped == ("big", "after_big")


def test_an_orchestrator_dispatches_its_plan_to_named_workers(settings):
    plan = {"tasks": [{"worker": "lookup", "input": "[[w1]] one"},
                      {"worker": "shout", "input": "two"}]}
    provider = TimedProvider(replies={"plan": json.dumps(plan), "w1": "found one"})
    body = ('[[steps]]\nid = "plan"\nkind = "orchestrator"\nprompt = "summarizer"\n'
            f'model = "{PAID}"\nworkers = ["lookup", "shout"]\n'
            'inputs = { text = "[[plan]]" }\n'
            + step("lookup", "item")
            + '[[steps]]\nid = "shout"\nkind = "template"\ntemplate = "{{ x | upper }}"\n'
              'inputs = { x = "item" }\n')
    resolved = workflow(settings, body)
    assert resolved.graph.scheduled == ["plan"]
    events = run_all(WorkflowRun(settings, resolved, {}, calls=scripted(settings, provider)))
    assert by_type(events, StepDone)["plan"].output == [
        {"worker": "lookup", "input": "[[w1]] one", "output": "found one"},
        {"worker": "shout", "input": "two", "output": "TWO"}]
    schema = resolved.models["plan"].schema
    assert schema["properties"]["tasks"]["items"]["properties"]["worker"]["enum"] == [
        "lookup", "shout"]


def test_bad_inputs_are_refused_naming_them(settings):
    resolved = workflow(settings, step("a", "inputs.text"), 'text = "str"\nn = { type = "int", '
                        'required = false, default = 1 }')
    with pytest.raises(WorkflowError, match="no input 'nope'"):
        WorkflowRun(settings, resolved, {"text": "x", "nope": 1})
    with pytest.raises(WorkflowError, match="Input 'text' is required"):
        WorkflowRun(settings, resolved, {})
    with pytest.raises(WorkflowError, match="Input 'n' \\(int\\)"):
        WorkflowRun(settings, resolved, {"text": "x", "n": "many"})
    assert WorkflowRun(settings, resolved, {"text": "x"}).inputs == {"text": "x", "n": 1}


def test_a_caller_that_stops_listening_stops_the_run_and_its_steps_are_stored(settings):
    provider = TimedProvider(held=("slow",))
    run = WorkflowRun(settings, workflow(settings, step("slow") + step("after", "slow.output")),
                      {}, calls=scripted(settings, provider))
    events = iter(run)
    for event in events:
        if isinstance(event, StepRunning) and event.step == "slow":
            break
    events.close()        # a page closed, a client gone: no Stop, no more reading
    tree = load_run(settings.db, run.run_id)
    assert tree.run.status == "stopped"
    nodes = {n.step: n for n in tree.steps}
    assert nodes["slow"].status == "failed" and nodes["slow"].cause == "stopped"
    assert nodes["after"].status == "failed" and nodes["after"].cause == "stopped"
    with settings.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
