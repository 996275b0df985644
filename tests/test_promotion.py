"""Promotion gated on evals: a guarded label moves only to a version whose required evals'
newest results passed, an override is recorded with who and why, every move is a row; and
`promptlab promote`'s exit codes."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from lib import evals
from lib.core import PromotionError, PromptStoreError
from lib.prompts import PromptStore

GUARD = """
name = "classifier-gate"
[[variants]]
prompt = "classifier"
ref = "latest"
model = "local"
[promote]
labels = ["production"]
"""


@pytest.fixture
def store(prompts_dir: Path) -> PromptStore:
    """The shipped prompts, classifier with a second version (production still on v1)."""
    store = PromptStore(prompts_dir)
    store.save_version("classifier", store.source("classifier", 1) + "\nOne word.")
    assert store.get("classifier").labels == {"production": 1}
    return store


def result(db, version: int, passed: bool, name: str = "classifier-gate", **kw) -> int:
    return evals.record_result(db, evals.EvalRecord(name, "classifier", version, passed,
                                                    eval_path=f"evals/{name}.toml", **kw))


def test_refused_without_a_passing_result(backend, store):
    result(backend, 1, True)  # v1 passed; v2, the one promoted, has no result
    with pytest.raises(PromotionError, match="no result of classifier-gate") as refused:
        evals.promote(backend, store, "classifier", 2, "production",
                      require=["classifier-gate"], by="ci")
    assert refused.value.missing == ("classifier-gate",) and refused.value.failing == ()
    assert store.get("classifier").labels == {"production": 1}
    assert evals.label_moves(backend, "classifier") == []  # a refusal moves nothing


def test_allowed_with_a_passing_result(backend, store):
    passed = result(backend, 2, True, run_id=None, summary={"pass_rate": 0.9})
    move = evals.promote(backend, store, "classifier", 2, "production",
                         require=["classifier-gate"], by="ci")
    assert store.get("classifier").labels == {"production": 2}
    [stored] = evals.label_moves(backend, "classifier")
    assert stored == move
    assert (stored.label, stored.from_version, stored.to_version, stored.moved_by) == \
        ("production", 1, 2, "ci")
    assert (stored.eval_name, stored.eval_result_id, stored.overridden) == \
        ("classifier-gate", passed, False)


def test_an_override_is_recorded_with_who_and_why(backend, store):
    failed = result(backend, 2, False)
    with pytest.raises(PromotionError, match="needs a reason"):
        evals.promote(backend, store, "classifier", 2, "production",
                      require=["classifier-gate"], by="alice", override=True, reason="  ")
    assert store.get("classifier").labels == {"production": 1}
    evals.promote(backend, store, "classifier", 2, "production", require=["classifier-gate"],
                  by="alice", override=True, reason="hotfix; the eval's judge is down")
    assert store.get("classifier").labels == {"production": 2}
    [move] = evals.label_moves(backend, "classifier")
    assert move.overridden and move.moved_by == "alice"
    assert move.reason == "hotfix; the eval's judge is down"
    assert (move.eval_name, move.eval_result_id) == ("classifier-gate", failed)


def test_a_failing_newest_result_beats_an_older_passing_one(backend, store):
    result(backend, 2, True)
    result(backend, 2, False)
    result(backend, 1, True)  # another version's newer pass says nothing of v2
    with pytest.raises(PromotionError, match="failing newest result of classifier-gate") as no:
        evals.promote(backend, store, "classifier", 2, "production",
                      require=["classifier-gate"], by="ci")
    assert no.value.failing == ("classifier-gate",) and no.value.missing == ()
    assert evals.latest_result(backend, "classifier", 2, "classifier-gate").passed is False

    result(backend, 2, True)  # fixed and run again: the newest passes
    evals.promote(backend, store, "classifier", 2, "production",
                  require=["classifier-gate"], by="ci")
    assert store.get("classifier").labels == {"production": 2}


def test_every_required_eval_must_pass_and_an_unguarded_move_is_a_row_too(backend, store):
    result(backend, 2, True)
    with pytest.raises(PromotionError) as refused:
        evals.promote(backend, store, "classifier", 2, "production",
                      require=["classifier-gate", "tone"], by="ci")
    assert refused.value.missing == ("tone",)
    evals.promote(backend, store, "classifier", 2, "staging", require=[], by=None)
    [move] = evals.label_moves(backend, "classifier")
    assert (move.label, move.from_version, move.to_version, move.eval_name,
            move.overridden) == ("staging", None, 2, None, False)
    with pytest.raises(PromptStoreError, match="no version 9"):
        evals.promote(backend, store, "classifier", 9, "staging", require=[], by=None)
    assert len(evals.label_moves(backend, "classifier")) == 1


def test_each_version_shows_its_newest_result_of_any_eval(backend, store):
    result(backend, 1, True, name="tone")
    newest_v1 = result(backend, 1, False, name="classifier-gate", run_id=7,
                       summary={"regressions": [3]}, created_by="ci")
    newest_v2 = result(backend, 2, True)
    latest = evals.latest_by_version(backend, "classifier")
    assert {v: r.id for v, r in latest.items()} == {1: newest_v1, 2: newest_v2}
    v1 = latest[1]
    assert (v1.eval_name, v1.passed, v1.run_id, v1.summary, v1.created_by) == \
        ("classifier-gate", False, 7, {"regressions": [3]}, "ci")
    assert v1.created_at and v1.eval_path == "evals/classifier-gate.toml"
    assert evals.latest_by_version(backend, "summarizer") == {}


def test_guarding_reads_promote_labels_and_variants_and_skips_a_broken_file(tmp_path, caplog):
    unnamed = GUARD.replace('name = "classifier-gate"', "")  # named by its file's stem
    (tmp_path / "gate.toml").write_text(GUARD)
    (tmp_path / "by-stem.toml").write_text(unnamed)
    (tmp_path / "staging-only.toml").write_text(unnamed.replace('["production"]', '["staging"]'))
    (tmp_path / "other-prompt.toml").write_text(unnamed.replace('"classifier"', '"summarizer"'))
    (tmp_path / "no-promote.toml").write_text(unnamed.split("[promote]")[0])
    (tmp_path / "broken.toml").write_text("[promote\nlabels = ")
    with caplog.at_level(logging.WARNING, logger="lib.evals.promotion"):
        assert evals.guarding(tmp_path, "classifier", "production") == \
            ["by-stem", "classifier-gate"]
    assert "broken.toml" in caplog.text
    assert evals.guarding(tmp_path, "classifier", "staging") == ["staging-only"]
    assert evals.guarding(tmp_path, "summarizer", "production") == ["other-prompt"]
    assert evals.guarding(tmp_path / "absent", "classifier", "production") == []


# -- promptlab promote --------------------------------------------------------------------

@pytest.fixture
def cli(data_dir, store, tmp_path, monkeypatch):
    """`promptlab promote ...` on the test's settings; evals/ holds the guarding eval."""
    from lib.core import get_settings

    evals_dir = tmp_path / "evals"
    evals_dir.mkdir()
    (evals_dir / "classifier.toml").write_text(GUARD)
    monkeypatch.setenv("PROMPTLAB_EVALS_DIR", str(evals_dir))
    monkeypatch.delenv("GITHUB_ACTOR", raising=False)
    get_settings.cache_clear()
    parser = argparse.ArgumentParser(prog="promptlab promote")
    evals.add_promote_arguments(parser)

    def run(*argv: str) -> int:
        return evals.promote_main(parser.parse_args(argv))

    return run


def test_the_cli_refuses_with_100_and_moves_with_0(cli, store, capsys):
    from lib.core import get_settings

    db = get_settings().db
    gate = str(get_settings().evals_dir / "classifier.toml")
    assert cli("classifier", "v2", "--label", "production", "--require", gate) == 100
    assert "no result of classifier-gate" in capsys.readouterr().err
    # The label is guarded by evals/classifier.toml: leaving out --require changes nothing.
    assert cli("classifier", "2", "--label", "production") == 100
    assert store.get("classifier").labels == {"production": 1}

    result(db, 2, True)
    assert cli("classifier", "2", "--label", "production", "--require", gate,
               "--by", "release-bot") == 0
    assert "to v2 (was v1)" in capsys.readouterr().out
    assert store.get("classifier").labels == {"production": 2}
    [move] = evals.label_moves(db, "classifier")
    assert (move.moved_by, move.overridden) == ("release-bot", False)


def test_the_cli_records_an_override_by_the_github_actor(cli, store, capsys, monkeypatch):
    from lib.core import get_settings

    assert cli("classifier", "2", "--label", "production", "--override") == 1
    assert "--reason" in capsys.readouterr().err
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    assert cli("classifier", "2", "--label", "production", "--override", "--reason",
               "the eval is flaky today") == 0
    assert "overriding" in capsys.readouterr().out
    [move] = evals.label_moves(get_settings().db, "classifier")
    assert (move.moved_by, move.overridden, move.reason) == \
        ("octocat", True, "the eval is flaky today")


@pytest.mark.parametrize(("argv", "says"), [
    (["nope", "2", "--label", "production"], "no prompt named 'nope'"),
    (["classifier", "7", "--label", "production"], "no version 7"),
    (["classifier", "two", "--label", "production"], "'two' is not a version"),
    (["classifier", "2", "--label", "production", "--require", "evals/absent.toml"],
     "no eval file evals/absent.toml"),
])
def test_the_cli_exits_1_on_an_error_in_plain_words(cli, store, capsys, argv, says):
    assert cli(*argv) == 1
    assert says in capsys.readouterr().err
    assert store.get("classifier").labels == {"production": 1}
