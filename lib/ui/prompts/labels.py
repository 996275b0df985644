"""Labels on the Prompts page: each version's newest eval result, moving a label (a label an
eval guards asks for a passing result of it, or for a confirmed override with a reason), and
the history of label moves."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib import evals
from lib.core import PromptLabError
from lib.prompts import Prompt, PromptStore
from lib.ui.kit import app
from lib.ui.kit.text import md
from lib.ui.kit.widgets import show_error

RUN_PAGE = "/compare_run?run={}"    # app_pages/compare_run.py
EVAL_COLUMNS = {"eval run": st.column_config.LinkColumn("eval run", display_text="open run")}


def eval_columns(prompt: Prompt) -> dict[int, dict[str, Any]]:
    """Per version: its newest eval result (which eval, passed or failed, when, its run)."""
    latest = evals.latest_by_version(app.settings().db, prompt.name)
    return {v.version: {
        "eval": (f"{'passed' if r.passed else 'FAILED'} · {r.eval_name}" if r else ""),
        "eval at": r.created_at[:19] if r else "",
        "eval run": RUN_PAGE.format(r.run_id) if r and r.run_id is not None else None,
    } for v in prompt.versions for r in [latest.get(v.version)]}


def move_label(store: PromptStore, prompt: Prompt, user: str | None) -> None:
    """Point a label at any version; a guarded one needs a passing result or an override."""
    st.markdown("**Move a label** — point it at any version; pointing `production` at an older "
                "version rolls back.")
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    label = c1.text_input("Label", value="production", key="label_name").strip()
    target = c2.selectbox("Version", [v.version for v in reversed(prompt.versions)],
                          key="label_version", format_func=lambda v: f"v{v}")
    settings = app.settings()
    guards = evals.guarding(settings.evals_dir, prompt.name, label) if label else []
    short = evals.shortfall(settings.db, prompt.name, target, guards)
    override, reason = False, ""
    here = prompt.labels.get(label) == target
    if here:
        st.caption(md("`{}` already points at v{}.", label, target))
    elif short:
        st.warning(md("`{}` is guarded by the eval {}, and v{} has {}.", label,
                      ", ".join(guards), target, short.describe()), icon=":material/gpp_maybe:")
        override = st.checkbox("Promote anyway", key="promote_anyway",
                               help="The move is recorded as an override, with who and why.")
        reason = st.text_input("Reason", key="promote_reason", disabled=not override,
                               placeholder="why this version ships without a passing result")
    elif guards:
        st.caption(md("`{}` is guarded by {}: v{} passed.", label, ", ".join(guards), target))
    blocked = here or (bool(short) and not (override and reason.strip()))
    if c3.button("Point label", key="set_label", disabled=blocked):
        try:
            move = evals.promote(settings.db, store, prompt.name, target, label,
                                 require=guards, by=user or "local", override=override,
                                 reason=reason)
            st.toast(md("{} → v{}{}", label, target,
                        " (override recorded)" if move.overridden else ""))
            st.rerun()
        except PromptLabError as exc:
            show_error(exc)
    _history(prompt)


def _history(prompt: Prompt) -> None:
    moves = evals.label_moves(app.settings().db, prompt.name, limit=20)
    if not moves:
        return
    with st.expander("Label moves", icon=":material/history:"):
        st.dataframe([{"moved": m.moved_at[:19], "label": m.label,
                       "from": "" if m.from_version is None else f"v{m.from_version}",
                       "to": f"v{m.to_version}", "by": m.moved_by or "",
                       "eval": m.eval_name or "",
                       "override": f"overrode: {m.reason}" if m.overridden else ""}
                      for m in moves], hide_index=True, width="stretch")
