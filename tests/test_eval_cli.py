"""`promptlab eval` end to end: exit codes, the files it writes, the run it leaves in Compare,
its ledger rows — on the bundled model where a model answers (offline, no key)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lib import compare, spend
from lib.cli import main
from lib.core import ROOT, get_settings
from lib.prompts import PromptStore

LOCAL = "local/smollm2-135m-instruct"
SCHEMA = ('{"type": "object", "properties": {"name": {"type": "string"}, "email": '
          '{"type": "string"}}, "required": ["name", "email"], "additionalProperties": false}')
EXTRACT = """\
description = "contacts"
{extra}
[dataset]
path = "{data}"

[[variants]]
prompt = "json-extractor"
ref = "latest"
model = "{model}"
temperature = 0.0
max_tokens = 40

[baseline]
ref = "production"

[[checks]]
kind = "json_schema"
value = '{{"type": "object", "required": ["name", "email"]}}'
"""


def write_eval(tmp_path: Path, rows: int = 8, *, model: str = LOCAL, extra: str = "",
               body: str | None = None) -> Path:
    data = tmp_path / "contacts.jsonl"
    lines = (ROOT / "evals" / "data" / "contacts.jsonl").read_text().splitlines()[:rows]
    data.write_text("\n".join(lines) + "\n")
    path = tmp_path / "extract.toml"
    path.write_text(body or EXTRACT.format(data=data.name, model=model, extra=extra))
    return path


def constrained_production(prompts_dir: Path) -> PromptStore:
    """json-extractor v2 replies under a schema (a grammar on the local model): production."""
    store = PromptStore(prompts_dir)
    source = store.source("json-extractor", 1)
    v2 = store.save_version("json-extractor", source, note="schema", output_schema=SCHEMA)
    store.set_label("json-extractor", "production", v2)
    return store


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("body", "where"), [
    (EXTRACT.replace("temperature = 0.0", 'temperature = "hot"'),
     "line 10: variants[0].temperature"),
    (EXTRACT.replace("max_tokens = 40", "max_tokens = 40\ncolour = 3"),
     "line 12: variants[0].colour"),
    (EXTRACT.replace('kind = "json_schema"', 'kind = "vibes"'), "line 16: checks[0]"),
    (EXTRACT.replace("[baseline]", "[baseline\n"), "line 13"),
    (EXTRACT.replace('ref = "production"', 'ref = "production"\nrun = 3'),
     "line 13: baseline"),
])
def test_a_malformed_file_exits_1_naming_its_line_and_key(tmp_path, settings, capsys, body,
                                                          where):
    path = write_eval(tmp_path, body=body.format(data="contacts.jsonl", model=LOCAL, extra=""))
    code, err = run(["eval", str(path), "--out", str(tmp_path / "out")], capsys)
    assert code == 1
    assert where in err
    assert not (tmp_path / "out").exists()   # nothing half-written
    assert spend.count_calls(settings.db) == 0


def test_a_budget_too_small_exits_1_before_any_call(tmp_path, settings, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-sent")
    get_settings.cache_clear()
    spend.set_budget(settings.db, "all", "day", 0.000001)
    path = write_eval(tmp_path, model="openai/gpt-6-luna")
    code, err = run(["eval", str(path), "--out", str(tmp_path / "out")], capsys)
    assert code == 1
    assert "budget refuses this eval before any call" in err
    assert spend.count_calls(get_settings().db) == 0
    assert compare.list_runs(get_settings().db) == []


def test_a_dataset_that_cannot_be_read_exits_1(tmp_path, settings, capsys):
    path = write_eval(tmp_path)
    (tmp_path / "contacts.jsonl").write_text('{"text": "fine"}\nnot json\n')
    code, err = run(["eval", str(path), "--out", str(tmp_path / "out")], capsys)
    assert code == 1 and "contacts.jsonl, line 2: not JSON" in err


@pytest.mark.server
def test_a_harmless_change_passes_and_a_worse_version_fails_naming_the_rows(
        tmp_path, settings, prompts_dir, capsys):
    store = constrained_production(prompts_dir)
    # The newest version is production itself: nothing changed, the gate passes.
    path = write_eval(tmp_path)
    out = tmp_path / "out"
    code, err = run(["eval", str(path), "--out", str(out), "--progress", "lines",
                     "--app-url", "http://127.0.0.1:8501"], capsys)
    assert code == 0, err
    result = json.loads((out / "extract.json").read_text())
    assert result["status"] == "passed" and result["findings"] == []
    assert [v["role"] for v in result["variants"]] == ["candidate", "baseline"]
    assert "cells: 16/16" in err                       # plain progress lines off a terminal
    run_id = result["run_id"]
    assert result["run_url"] == f"http://127.0.0.1:8501/compare_run?run={run_id}"
    assert f"[Compare run {run_id}]({result['run_url']})" in (out / "extract.md").read_text()
    stored = compare.load_run(settings.db, run_id)     # the run is in Compare like any other
    assert stored.status == "done" and len(stored.cells) == 16
    assert _pages(settings) == {"eval"}

    # A deliberately worse version: plain prose, no schema. Every row loses its JSON.
    store.save_version("json-extractor", "Describe this text in one friendly English "
                       "sentence, without any JSON: {{ text }}", note="worse",
                       output_schema="")
    code, err = run(["eval", str(path), "--out", str(out)], capsys)
    assert code == 100, err
    result = json.loads((out / "extract.json").read_text())
    assert result["status"] == "failed"
    [finding] = [f for f in result["findings"] if f["kind"] == "regression"]
    assert finding["variant"] == 0 and len(finding["rows"]) >= 6
    [cmp] = [c for c in result["comparisons"] if c["regressed"]]
    assert cmp["test"] == "McNemar exact" and cmp["p"] < 0.05 and cmp["gained"] == 0
    md = (out / "extract.md").read_text()
    assert "❌" in md and "Why it failed" in md and "regressed" in md and "row 1:" in md
    suites = ET.parse(out / "extract.xml").getroot()
    [gate] = [c for c in suites.iter("testcase") if c.get("name") == "gate"]
    assert "regressed" in gate.find("failure").get("message")
    failed = [c for c in suites.iter("testcase")
              if c.find("failure") is not None and c is not gate]
    assert len(failed) == len(finding["rows"])      # the lost rows, all of the candidate's
    assert all(c.get("name").startswith("row ") and c.get("classname").endswith(".A")
               for c in failed)


def _pages(settings) -> set[str]:
    with settings.db.connect() as conn:
        return {r[0] for r in conn.execute("SELECT DISTINCT page FROM calls")}


@pytest.mark.server
def test_three_repeats_make_three_calls_per_row_never_replayed(tmp_path, settings,
                                                               prompts_dir, capsys):
    constrained_production(prompts_dir)
    path = write_eval(tmp_path, rows=2, extra="repeats = 3\nseed = 11\n",
                      body=EXTRACT.replace("[baseline]\nref = \"production\"\n", "")
                      .format(data="contacts.jsonl", model=LOCAL,
                              extra="repeats = 3\nseed = 11\n")
                      .replace("temperature = 0.0", "temperature = 0.9"))
    code, err = run(["eval", str(path), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    with settings.db.connect() as conn:
        rows = conn.execute("SELECT id, page FROM calls").fetchall()
        payload_seeds = sorted(json.loads(r[0]).get("seed") for r in conn.execute(
            "SELECT request FROM call_payloads"))
    assert len(rows) == 6 and {r[1] for r in rows} == {"eval"}   # 2 rows × 3 repeats
    assert payload_seeds == [11, 11, 12, 12, 13, 13]              # each repeat its own seed
    result = json.loads((tmp_path / "out" / "extract.json").read_text())
    [variant] = result["variants"]
    for row in variant["rows"]:
        assert len(row["repeats"]) == 3
        assert [r["seed"] for r in row["repeats"]] == [11, 12, 13]
        assert {r["temperature"] for r in row["repeats"]} == {0.9}
        assert len({r["call_id"] for r in row["repeats"]}) == 3
        assert 0 <= row["pass_hat_k"] <= row["pass_at_1"] <= row["pass_at_k"] <= 1


@pytest.mark.server
def test_an_interrupted_run_is_marked_incomplete_and_holds_nothing(tmp_path, settings,
                                                                   prompts_dir):
    constrained_production(prompts_dir)
    spend.set_budget(settings.db, "all", "day", 5.0)   # every call holds its bound
    path = write_eval(tmp_path)
    env = {**os.environ, "PROMPTLAB_COMPARE_CONCURRENCY": "1"}
    # Ctrl-C as at a terminal: a suite started in the background (nohup, `&` without job
    # control) passes SIGINT on ignored, and Python then never raises KeyboardInterrupt.
    ctrl_c = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
              "from lib.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", ctrl_c, "eval", str(path), "--out",
                             str(tmp_path / "out"), "--progress", "lines"], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:           # the first finished cell: the run is under way
        if line.startswith("cells:"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "Interrupted" in err
    [(_, _, _, status, _)] = compare.list_runs(settings.db)
    assert status == "incomplete"
    with settings.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
    assert not (tmp_path / "out" / "extract.json").exists()


def test_the_shipped_github_workflow_runs_every_eval_on_pull_requests():
    import yaml

    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "eval.yml").read_text())
    assert flow[True]["pull_request"]["paths"] == ["prompts/**", "evals/**"]  # YAML's `on`
    steps = flow["jobs"]["eval"]["steps"]
    run = next(s["run"] for s in steps if s.get("id") == "evals")
    assert ".venv/bin/promptlab eval \"$file\" --out eval-results" in run
    assert "exit $status" in run                    # a gate's 100 fails the job
    assert any(s.get("with", {}).get("path") == "eval-results/" for s in steps)
    assert any("gh pr comment" in s.get("run", "") for s in steps)


@pytest.mark.parametrize("name", ["extract", "classify"])
def test_the_shipped_eval_files_are_valid(name):
    from lib.evals import load

    ef = load(ROOT / "evals" / f"{name}.toml")
    assert ef.baseline_beside and ef.spec.promote.labels == ("production",)
    assert ef.resolve_path(ef.spec.dataset.path or "").exists()


@pytest.mark.server
def test_the_console_script_runs_a_shipped_example_offline(tmp_path, settings):
    """`promptlab` as pip installed it, on the pairwise-judged example, in CI's plain mode."""
    script = Path(sys.executable).parent / "promptlab"
    env = {**os.environ, "PROMPTLAB_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run([str(script), "eval", "evals/classify.toml", "--out",
                           str(tmp_path / "out")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "judge judge-pairwise v1" in done.stderr and "classify: passed" in done.stderr
    result = json.loads((tmp_path / "out" / "classify.json").read_text())
    [pair] = [c for c in result["comparisons"] if c["test"] == "sign test"]
    with settings.db.connect() as conn:
        pages = dict(conn.execute("SELECT page, COUNT(*) FROM calls GROUP BY page").fetchall())
    assert pages == {"eval": 12, "judge": 12}     # 6 rows × 2 variants; 6 pairs × 2 orders
    verdicts = compare.load_verdicts(settings.db, result["run_id"])
    assert len(verdicts) == 6 and pair["lost"] + pair["gained"] <= 6
