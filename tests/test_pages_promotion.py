"""AppTest: on the Prompts page each version shows its newest eval result, and moving a label
an eval guards to a version without a passing result asks for confirmation and a reason, and
records who overrode it."""

from __future__ import annotations

import pandas as pd
import pytest
from support import shown
from test_promotion import GUARD

from lib import evals
from lib.core import get_settings
from lib.prompts import PromptStore


@pytest.fixture
def guarded(prompts_dir, data_dir, tmp_path, monkeypatch) -> PromptStore:
    """classifier v1 (production) passed classifier-gate in Compare run 5; v2 failed it."""
    evals_dir = tmp_path / "evals"
    evals_dir.mkdir()
    (evals_dir / "classifier-gate.toml").write_text(GUARD)
    monkeypatch.setenv("PROMPTLAB_EVALS_DIR", str(evals_dir))
    get_settings.cache_clear()
    store = PromptStore(prompts_dir)
    store.save_version("classifier", store.source("classifier", 1) + "\nOne word.")
    db = get_settings().db
    for version, passed, run_id in ((1, True, 5), (2, False, None)):
        evals.record_result(db, evals.EvalRecord("classifier-gate", "classifier", version,
                                                 passed, run_id=run_id))
    return store


def versions_table(at):
    return next(d.value for d in at.dataframe if "eval" in d.value.columns
                and "version" in d.value.columns).set_index("version")


def gate_warnings(at) -> list[str]:
    return [shown(w.value) for w in at.warning if "guarded" in shown(w.value)]


def test_a_guarded_label_asks_before_an_override_and_records_who(app, guarded):
    at = app("app_pages/prompts.py")
    at.selectbox(key="prompt_pick").set_value("classifier").run()
    table = versions_table(at)
    assert table.loc[1, "eval"] == "passed · classifier-gate"
    assert table.loc[1, "eval run"] == "/compare_run?run=5"
    assert table.loc[2, "eval"] == "FAILED · classifier-gate"
    assert pd.isna(table.loc[2, "eval run"]) and table.loc[2, "eval at"]  # no run to link

    at.selectbox(key="label_version").set_value(2).run()
    [warning] = gate_warnings(at)
    assert "guarded by the eval classifier-gate" in warning
    assert "failing newest result" in warning
    assert at.button(key="set_label").disabled
    at.checkbox(key="promote_anyway").check().run()
    assert at.button(key="set_label").disabled  # not without a reason
    at.text_input(key="promote_reason").input("hotfix for the outage").run()
    assert not at.button(key="set_label").disabled
    at.button(key="set_label").click().run()
    assert not at.exception and not at.error

    assert guarded.get("classifier").labels == {"production": 2}
    [move] = evals.label_moves(get_settings().db, "classifier")
    assert (move.from_version, move.to_version, move.overridden, move.moved_by,
            move.reason) == (1, 2, True, "local", "hotfix for the outage")
    history = next(d.value for d in at.dataframe if "override" in d.value.columns)
    assert history.to_dict("records")[0]["override"] == "overrode: hotfix for the outage"
    assert versions_table(at).loc[2, "labels"] == "production"


def test_a_version_that_passed_moves_without_asking(app, guarded):
    at = app("app_pages/prompts.py")
    at.selectbox(key="prompt_pick").set_value("classifier").run()
    at.selectbox(key="label_version").set_value(2).run()
    assert gate_warnings(at)  # v2 failed: asks
    evals.record_result(get_settings().db, evals.EvalRecord("classifier-gate", "classifier", 2,
                                                            True))
    at.selectbox(key="label_version").set_value(1).run()
    at.selectbox(key="label_version").set_value(2).run()
    assert not gate_warnings(at)  # its newest result passed now
    assert "promote_anyway" not in [c.key for c in at.checkbox]
    assert any("v2 passed" in shown(c.value) for c in at.caption)
    at.button(key="set_label").click().run()
    assert guarded.get("classifier").labels == {"production": 2}
    [move] = evals.label_moves(get_settings().db, "classifier")
    assert not move.overridden and move.moved_by == "local"
    assert versions_table(at).loc[2, "eval"] == "passed · classifier-gate"
