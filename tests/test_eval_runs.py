"""Eval runs over a scripted provider: thresholds, a baseline from a stored run or a previous
result file, a pairwise judge's sign test, a provider that is down, and the run's own page in
Compare."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fakes import scripted
from test_judges import ScriptedJudge

from lib import compare, evals
from lib.core import EvalError, ProviderError, get_settings
from lib.llm import ChatRequest, Stop, TextDelta, Usage
from lib.prompts import PromptStore

LOCAL = "local/smollm2-135m-instruct"


@dataclass
class ByVersion:
    """Answers "good" to rows the version's template marks as known, "bad" to the rest; a
    judge's request gets the judge's rule."""

    good_rows: dict[str, set[int]]          # template marker -> rows answered well
    judge: ScriptedJudge | None = None
    down: bool = False
    requests: list[ChatRequest] = field(default_factory=list)
    name: str = "fake"

    def stream(self, request: ChatRequest):
        self.requests.append(request)
        if self.down:
            raise ProviderError("server", "The provider is down.", retryable=False)
        text = request.messages[0].content
        if self.judge is not None and "first" in text and "second" in text:
            yield from self.judge.stream(request)
            return
        marker = next(m for m in self.good_rows if m in text)
        row = int(text.rsplit("ticket ", 1)[1].split()[0])
        yield TextDelta("good answer" if row in self.good_rows[marker] else "bad answer")
        yield Usage(10, 3)
        yield Stop("end_turn")


def two_versions(prompts_dir: Path) -> None:
    """classifier: production (v1) says OLD; v2 (latest) says NEW."""
    store = PromptStore(prompts_dir)
    store.save_version("classifier", "NEW: label this ticket. {{ text }}", note="new")


def eval_file(tmp_path: Path, rows: int, body: str) -> evals.EvalFile:
    data = tmp_path / "tickets.jsonl"
    data.write_text("".join(json.dumps({"text": f"ticket {i} text", "required": i == 0}) + "\n"
                            for i in range(rows)))
    path = tmp_path / "e.toml"
    path.write_text(f'[dataset]\npath = "{data.name}"\n\n[[variants]]\nprompt = "classifier"\n'
                    f'ref = "latest"\nmodel = "{LOCAL}"\n\n[[checks]]\nkind = "contains"\n'
                    f'value = "good"\n\n{body}')
    return evals.load(path)


def run(settings, ef, provider) -> dict:
    outcome = evals.run_eval(settings, ef, calls=scripted(settings, provider))
    return evals.judge(settings, outcome)


def test_a_threshold_on_the_lower_bound_fails_a_lucky_small_sample(tmp_path, settings,
                                                                   prompts_dir):
    two_versions(prompts_dir)
    # 5 of 5 rows pass, yet the Wilson lower bound (57%) is under 0.9: too few rows to say.
    ef = eval_file(tmp_path, 5, "[gate]\nmin_pass_rate = 0.9\n")
    result = run(settings, ef, ByVersion({"NEW": set(range(5))}))
    assert result["status"] == "failed" and evals.exit_code(result) == 100
    [finding] = result["findings"]
    assert finding["kind"] == "threshold" and "lower bound 57%" in finding["text"]
    # ...and 0.5 is met.
    ef = eval_file(tmp_path, 5, "[gate]\nmin_pass_rate = 0.5\n")
    assert run(settings, ef, ByVersion({"NEW": set(range(5))}))["status"] == "passed"


def test_a_failed_required_row_fails_whatever_the_statistics(tmp_path, settings, prompts_dir):
    two_versions(prompts_dir)
    ef = eval_file(tmp_path, 6, '[baseline]\nref = "production"\n')
    # Row 0 (required) fails for both: no significant drop, but the gate fails on it.
    result = run(settings, ef, ByVersion({"NEW": {1, 2, 3, 4, 5}, "Classify": {1, 2, 3, 4, 5}}))
    assert [f["kind"] for f in result["findings"]] == ["required"]
    assert result["findings"][0]["rows"] == [0]


def test_a_small_drop_is_chance_and_a_large_one_is_not(tmp_path, settings, prompts_dir):
    two_versions(prompts_dir)
    ef = eval_file(tmp_path, 12, '[baseline]\nref = "production"\n')
    everything = set(range(12))
    # Two rows lost, one gained: p = 0.5. Not a regression.
    result = run(settings, ef, ByVersion({"NEW": everything - {3, 4} | set(), "Classify":
                                          everything - {5}}))
    [cmp] = result["comparisons"]
    assert (cmp["lost"], cmp["gained"], cmp["regressed"]) == (2, 1, False)
    assert result["status"] == "passed"
    # Eight rows lost, none gained: p = 1/256. A regression, the rows named.
    result = run(settings, ef, ByVersion({"NEW": {0, 1, 2, 3}, "Classify": everything}))
    [cmp] = result["comparisons"]
    assert cmp["regressed"] and cmp["p"] == pytest.approx(1 / 256)
    assert cmp["rows_lost"] == list(range(4, 12))
    assert result["status"] == "failed"


def test_the_baseline_may_be_a_previous_result_file(tmp_path, settings, prompts_dir):
    two_versions(prompts_dir)
    first = eval_file(tmp_path, 8, "")
    previous = run(settings, first, ByVersion({"NEW": set(range(8))}))
    (tmp_path / "previous.json").write_text(evals.to_json(previous))
    ef = eval_file(tmp_path, 8, '[baseline]\nfile = "previous.json"\n')
    result = run(settings, ef, ByVersion({"NEW": {0, 1}}))
    assert "previous.json" in result["baseline"]
    [cmp] = result["comparisons"]
    assert (cmp["lost"], cmp["gained"], cmp["regressed"]) == (6, 0, True)


def test_the_baseline_may_be_a_stored_compare_run(tmp_path, settings, prompts_dir):
    two_versions(prompts_dir)
    stored = evals.run_eval(settings, eval_file(tmp_path, 6, ""),
                            calls=scripted(settings, ByVersion({"NEW": set(range(6))})))
    ef = eval_file(tmp_path, 6, f"[baseline]\nrun = {stored.run.id}\n")
    result = run(settings, ef, ByVersion({"NEW": set(range(6))}))
    assert f"Compare run {stored.run.id}" in result["baseline"]
    assert result["comparisons"][0]["lost"] == 0 and result["status"] == "passed"


def test_a_pairwise_judge_preferring_the_baseline_is_a_sign_test(tmp_path, settings,
                                                                 prompts_dir):
    two_versions(prompts_dir)
    ef = eval_file(tmp_path, 6, '[baseline]\nref = "production"\n\n[[judges]]\n'
                   'kind = "pairwise"\nprompt = "judge-pairwise"\nref = "production"\n'
                   f'model = "{LOCAL}"\n')
    # Both variants pass the check; the judge always prefers the baseline's reply.
    judge = ScriptedJudge("content")
    provider = ByVersion({"NEW": set(), "Classify": set(range(6))}, judge=judge)
    provider.good_rows = {"NEW": set(), "Classify": set(range(6))}
    result = run(settings, ef, provider)
    [pair] = [c for c in result["comparisons"] if c["test"] == "sign test"]
    assert (pair["lost"], pair["gained"]) == (6, 0)
    assert pair["p"] == pytest.approx(1 / 64) and pair["regressed"]


def test_a_provider_down_after_retries_is_an_error_not_a_regression(tmp_path, settings,
                                                                    prompts_dir):
    two_versions(prompts_dir)
    ef = eval_file(tmp_path, 3, "")
    outcome = evals.run_eval(settings, ef,
                             calls=scripted(settings, ByVersion({"NEW": set()}, down=True)))
    with pytest.raises(EvalError, match="Every call of variant A failed"):
        evals.judge(settings, outcome)


def test_an_eval_run_opens_in_compare_like_any_other(tmp_path, settings, prompts_dir, app):
    two_versions(prompts_dir)
    ef = eval_file(tmp_path, 3, "")
    outcome = evals.run_eval(settings, ef, calls=scripted(settings,
                                                          ByVersion({"NEW": {0, 1, 2}})))
    assert [r[1] for r in compare.list_runs(get_settings().db)] == ["eval e"]
    at = app()
    at.switch_page("app_pages/compare_run.py")
    at.query_params["run"] = str(outcome.run.id)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("eval e" in s.value for s in at.subheader)
    assert sum("good answer" in m.value for m in at.main.markdown) == 3


def test_with_the_cache_on_repeats_are_still_distinct_calls(tmp_path, settings, prompts_dir):
    two_versions(prompts_dir)
    ef = eval_file(tmp_path, 2, "").path
    ef.write_text("repeats = 3\ncache = true\n" + ef.read_text())
    provider = ByVersion({"NEW": {0, 1}})
    run(settings, evals.load(ef), provider)
    assert len(provider.requests) == 6          # 2 rows × 3 repeats, none replayed
    run(settings, evals.load(ef), provider)     # the same eval again: every answer kept
    assert len(provider.requests) == 6
    with settings.db.connect() as conn:
        hits = conn.execute("SELECT COUNT(*) FROM calls WHERE response_cache = 'hit' AND "
                            "page = 'eval'").fetchone()[0]
    assert hits == 6
