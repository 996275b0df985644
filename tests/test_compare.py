"""The compare service: forecast, parallel runs, cancel, votes, export, datasets."""

from __future__ import annotations

import csv
import io
import threading
import time

import pytest
from fakes import FakeProvider, ok, scripted

from lib import compare, spend
from lib.compare import Check, Variant
from lib.core import PromptLabError
from lib.llm import RetryPolicy, TextDelta, Usage, load_catalog
from lib.prompts import PromptStore

LOCAL = "local/smollm2-135m-instruct"
ROWS = [{"text": "The app crashes when I click save."},
        {"text": "Please add a dark mode."},
        {"text": "How do I export my data?"}]


@pytest.fixture
def store(prompts_dir) -> PromptStore:
    s = PromptStore(prompts_dir)
    s.save_version("classifier", s.source("classifier", 1) + "\nOne or two words only.")
    return s


def variants(model: str = LOCAL, max_tokens: int = 8) -> list[Variant]:
    return [Variant("classifier", "production", model, 0.0, max_tokens),
            Variant("classifier", "v2", model, 0.0, max_tokens)]


def test_forecast_renders_counts_and_prices_every_cell(settings, store):
    catalog = load_catalog(settings)
    resolved = compare.resolve(store, catalog, variants("openai/gpt-4o-mini", 100))
    plan = compare.forecast(settings, resolved, ROWS)
    assert len(plan.cells) == 6 and not plan.problems
    cell = plan.cells[0]
    assert "The app crashes" in cell.text and cell.input_tokens > 30
    model = catalog.get("openai/gpt-4o-mini")
    assert cell.max_cost_micro == model.cost_micro(cell.input_tokens, 100)
    assert plan.max_cost_micro == sum(c.max_cost_micro for c in plan.cells)
    per = plan.per_variant()
    assert [p["rows"] for p in per] == [3, 3]
    assert per[1]["input_tokens"] > per[0]["input_tokens"]  # v2 adds a sentence


def test_forecast_flags_rows_over_the_window_and_bad_rows(settings, store):
    resolved = compare.resolve(store, load_catalog(settings), variants())
    rows = [{"text": "word " * 5000}, {"label_only": "no text"}]
    plan = compare.forecast(settings, resolved, rows)
    assert [c.over_window for c in plan.cells if c.row == 0] == [True, True]
    assert all("Variable 'text' is required" in c.error for c in plan.cells if c.row == 1)
    assert len(plan.problems) == 4


def test_forecast_matches_a_real_local_run(settings, store):
    """The forecast's input-token total equals what the ledger records (within 1%)."""
    resolved = compare.resolve(store, load_catalog(settings), variants(max_tokens=4))
    plan = compare.forecast(settings, resolved, ROWS)
    run_id = compare.create_run(settings.db, "local", resolved, ROWS, [])
    results = [e.result for e in compare.execute(settings, run_id, resolved, plan, [],
                                                 concurrency=2) if e.result]
    assert {r.status for r in results} == {"ok"}
    recorded = sum(spend.get_call(settings.db, r.call_id).input_tokens for r in results)
    assert abs(recorded - plan.input_tokens) <= 0.01 * plan.input_tokens
    assert recorded == plan.input_tokens  # the local tokenizer is exact


class SlowFake(FakeProvider):
    """Counts how many streams run at once."""

    active = 0
    peak = 0
    lock = threading.Lock()

    def stream(self, request):
        with SlowFake.lock:
            SlowFake.active += 1
            SlowFake.peak = max(SlowFake.peak, SlowFake.active)
        try:
            for word in ("one", " two", " three"):
                time.sleep(0.02)
                yield TextDelta(word)
            yield Usage(10, 3)
        finally:
            with SlowFake.lock:
                SlowFake.active -= 1
        from lib.llm import Stop

        yield Stop("end_turn")


def test_execute_streams_in_parallel_under_the_limit(settings, store):
    resolved = compare.resolve(store, load_catalog(settings), variants("openai/gpt-4o-mini"))
    rows = ROWS * 3
    plan = compare.forecast(settings, resolved, rows)
    checks = [Check("contains", "two"), Check("max_tokens", "2")]
    run_id = compare.create_run(settings.db, "fake", resolved, rows, checks)
    SlowFake.peak = 0
    events = list(compare.execute(settings, run_id, resolved, plan, checks, concurrency=3,
                                  calls=scripted(settings, SlowFake([]))))
    assert 1 < SlowFake.peak <= 3
    deltas = [e for e in events if e.delta]
    assert len(deltas) == 3 * len(plan.cells)
    run = compare.load_run(settings.db, run_id)
    assert run.status == "done" and len(run.cells) == 18
    assert all(c.output == "one two three" and c.status == "ok" for c in run.cells.values())
    assert run.pass_rates() == [{'contains "two"': 1.0, "at most 2 tokens": 0.0}] * 2


def test_cancel_stops_the_run_and_records_it(settings, store):
    resolved = compare.resolve(store, load_catalog(settings), variants("openai/gpt-4o-mini"))
    rows = ROWS * 4
    plan = compare.forecast(settings, resolved, rows)
    run_id = compare.create_run(settings.db, "stop me", resolved, rows, [])
    stream = compare.execute(settings, run_id, resolved, plan, [], concurrency=2,
                             calls=scripted(settings, SlowFake([])))
    finished = 0
    for event in stream:
        finished += event.result is not None
        if finished == 2:
            break
    stream.close()
    run = compare.load_run(settings.db, run_id)
    assert run.status == "cancelled"
    statuses = [c.status for c in run.cells.values()]
    assert statuses.count("ok") >= 2 and "cancelled" in statuses
    assert len(run.cells) == len(plan.cells)  # every cell has a row, none left half-written


def test_votes_summary_and_csv_export(settings, store):
    resolved = compare.resolve(store, load_catalog(settings), variants("openai/gpt-4o-mini"))
    plan = compare.forecast(settings, resolved, ROWS)
    run_id = compare.create_run(settings.db, "votes", resolved, ROWS, [Check("json")])
    list(compare.execute(settings, run_id, resolved, plan, [Check("json")],
                         calls=scripted(settings, FakeProvider([ok("bug report")]),
                                        policy=RetryPolicy())))
    compare.vote(settings.db, run_id, 0, 0, 1, "left")
    compare.vote(settings.db, run_id, 1, 0, 1, "left")
    compare.vote(settings.db, run_id, 2, 0, 1, "right")
    compare.vote(settings.db, run_id, 2, 0, 1, "tie")  # a changed mind replaces the vote
    run = compare.load_run(settings.db, run_id)
    a, b = run.scores()
    assert (a.wins, a.losses, a.ties, b.wins, b.losses) == (2, 0, 1, 0, 2)
    exported = list(csv.DictReader(io.StringIO(compare.export_csv(run))))
    assert len(exported) == 6
    first = exported[0]
    assert first["variant"] == "A" and first["text"] == ROWS[0]["text"]
    assert first["output"] == "bug report" and first["status"] == "ok"
    assert first["votes"] == "A vs B: A better" and first["check: is valid JSON"] == "False"
    assert exported[5]["votes"] == "A vs B: Tie"
    with pytest.raises(PromptLabError):
        compare.vote(settings.db, run_id, 0, 1, 1, "left")


def test_datasets_round_trip_and_refuse_bad_csv(settings):
    data = b"text,lang\nhello,en\nbonjour,fr\n"
    ds = compare.parse_csv(data, "greetings.csv")
    ds_id = compare.save_dataset(settings.db, ds)
    loaded = compare.load_dataset(settings.db, ds_id)
    assert loaded.columns == ("text", "lang") and loaded.rows[1] == {"text": "bonjour",
                                                                      "lang": "fr"}
    assert compare.list_datasets(settings.db) == [(ds_id, "greetings.csv", 2)]
    for bad, message in [(b"\xff\xfe\x00bad", "UTF-8"), (b"text\n", "no rows"),
                         (b"a,a\n1,2\n", "duplicate"), (b"a,b\n1,2,3\n", "more cells"),
                         (b"x\x00y\n1\n", "binary")]:
        with pytest.raises(PromptLabError, match=message):
            compare.parse_csv(bad, "bad.csv")


def test_votes_on_later_pairs_are_labelled_with_their_letters(settings, store):
    catalog = load_catalog(settings)
    resolved = compare.resolve(store, catalog, [variants("openai/gpt-4o-mini")[0]] * 4)
    run_id = compare.create_run(settings.db, "four", resolved, ROWS[:1], [])
    compare.vote(settings.db, run_id, 0, 2, 3, "right")
    exported = list(csv.DictReader(io.StringIO(compare.export_csv(
        compare.load_run(settings.db, run_id)))))
    assert exported[3]["votes"] == "C vs D: D better"
    assert compare.outcome_label(2, 3, "left") == "C better"


def test_csv_export_defuses_spreadsheet_formulas(settings, store):
    resolved = compare.resolve(store, load_catalog(settings), variants("openai/gpt-4o-mini"))
    run_id = compare.create_run(settings.db, "csv", resolved, [{"text": "=HYPERLINK(1)"}], [])
    exported = list(csv.DictReader(io.StringIO(compare.export_csv(
        compare.load_run(settings.db, run_id)))))
    assert exported[0]["text"] == "'=HYPERLINK(1)"


def test_tool_variants_run_agents_with_canned_results_and_tool_checks(settings, store):
    from lib.llm import Stop, ToolCall

    class Scripted(FakeProvider):
        """Calls the calculator on its first step, answers on the next."""

        def stream(self, request):
            self.requests.append(request)
            if request.tools and len(request.messages) == 1:
                yield ToolCall("c1", "calculator", {"expression": "2 * 21"}, "{}")
                yield Usage(20, 5)
                yield Stop("tool_use")
                return
            seen = request.messages[-1].blocks[0].content if request.tools else "-"
            yield TextDelta(f"result {seen}")
            yield Usage(30, 5)
            yield Stop("end_turn")

    rows = [{"text": "What is 2 * 21?"},
            {"text": "Again?", "tool_results": '{"calculator": "canned 99"}'},
            {"text": "Bad row", "tool_results": "[1, 2"}]
    chosen = [Variant("classifier", "production", "openai/gpt-4o-mini", 0.0, 50),
              Variant("classifier", "production", "openai/gpt-4o-mini", 0.0, 50,
                      ("calculator",))]
    resolved = compare.resolve(store, load_catalog(settings), chosen)
    plan = compare.forecast(settings, resolved, rows)
    bad = next(c for c in plan.cells if c.row == 2 and c.variant == 1)
    assert "tool_results column must hold a JSON object" in bad.error
    tool_cell = next(c for c in plan.cells if c.row == 0 and c.variant == 1)
    plain_cell = next(c for c in plan.cells if c.row == 0 and c.variant == 0)
    assert tool_cell.max_cost_micro > 7 * plain_cell.max_cost_micro  # up to 8 steps
    checks = [Check("called_tool", "calculator").validate(),
              Check("arguments_match", '{"tool": "calculator", "arguments": '
                                       '{"expression": "2 * 21"}}').validate(),
              Check("max_steps", "2").validate(), Check("max_steps", "1").validate()]
    run_id = compare.create_run(settings.db, "tools", resolved, rows, checks)
    list(compare.execute(settings, run_id, resolved, plan, checks,
                         calls=scripted(settings, Scripted([]), policy=RetryPolicy())))
    run = compare.load_run(settings.db, run_id)
    real, canned, plain = run.cells[(0, 1)], run.cells[(1, 1)], run.cells[(0, 0)]
    assert real.output == "result 42" and canned.output == "result canned 99"
    assert real.trace["steps"] == 2 and real.trace["calls"][0]["name"] == "calculator"
    assert list(real.checks.values()) == [True, True, True, False]
    assert list(plain.checks.values()) == [False, False, True, True]
    steps = spend.run_calls(settings.db, real.trace["run_id"])
    assert [s.step for s in steps] == [1, 2] and all(s.page == "compare" for s in steps)
    with pytest.raises(PromptLabError):
        Check("arguments_match", '{"arguments": {}}').validate()
    with pytest.raises(PromptLabError):
        compare.resolve(store, load_catalog(settings), [chosen[0], Variant(
            "classifier", "production", "openai/gpt-4o-mini", tools=("rm_rf",))])


@pytest.mark.parametrize(("model", "peak"), [("local/smollm2-135m-instruct", 1),
                                             ("openai/gpt-6.1-terra", 2)])
def test_cells_on_a_one_at_a_time_model_run_in_turn(settings, model, peak):
    """The bundled model generates one reply at a time: threads would only queue for it."""
    from scripted_provider import TimedProvider

    variants = compare.resolve(PromptStore(settings.prompts_dir), load_catalog(settings),
                               [Variant("summarizer", "production", model, 0.0, 20)] * 2)
    rows = [{"text": f"[[k{i}]] text {i}"} for i in range(4)]
    provider = TimedProvider({f"k{i}": 0.05 for i in range(4)})
    plan = compare.forecast(settings, variants, rows)
    run_id = compare.create_run(settings.db, "turns", variants, rows, [])
    list(compare.execute(settings, run_id, variants, plan, [], concurrency=2,
                         calls=scripted(settings, provider)))
    assert len(provider.intervals) == 8 and provider.peak == peak
