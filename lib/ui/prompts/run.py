"""Preview and run on the Prompts page: a version rendered with the values given and counted
for a model, then run on it: the reply streamed under a Stop button, then its tokens, cost,
time and ledger rows, kept for the session."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib import chat, prompts
from lib.core import PromptLabError, format_cost
from lib.llm import CallEvent, ModelInfo, ModelStatus, Response, counter_for
from lib.prompts import MAX_TOKENS_LIMIT, TEMPERATURE_RANGE, Prompt, PromptStore
from lib.ui.chat.stream import stream_into
from lib.ui.kit import stored_prompts
from lib.ui.kit.app import settings
from lib.ui.kit.structured_output import render_structured
from lib.ui.kit.text import inert, md, plain
from lib.ui.kit.widgets import model_picker, show_error

RESULT = "prompt_run_result"   # session: the last run's outcome, per prompt


def preview_tab(store: PromptStore, prompt: Prompt, user: str | None) -> None:
    """A version (or label) rendered with the values given, its tokens counted for the chosen
    model; then Run."""
    name = prompt.name
    ref = st.selectbox("Version or label", stored_prompts.ref_options(prompt), key="preview_ref",
                       help=stored_prompts.REF_HELP,
                       format_func=lambda r: stored_prompts.ref_label(prompt, r))
    values = stored_prompts.variable_form(prompt.variables, key=f"pv_{name}")
    status = model_picker("preview_model", label="Model", default=prompt.model)
    model = status.model
    try:
        version, text = store.render(name, ref, values)
        counter = counter_for(model, settings())
        kind = "" if counter.exact else " (estimated)"
        st.markdown(md("**v{}** renders to **{:,} tokens**{} for {} — {}, {:,} characters.",
                       version, counter.count(text), kind, model.label, counter.name,
                       len(text)))
        st.code(text, language=None, wrap_lines=True)
        rendered = True
    except PromptLabError as exc:
        show_error(exc)
        rendered = False
    run_panel(prompt, ref, values, status, user, ready=rendered)


def run_panel(prompt: Prompt, ref: str, values: dict[str, Any], status: ModelStatus,
              user: str | None, *, ready: bool = True) -> None:
    """Run the prompt on the chosen model: the reply streamed under a Stop button, then its
    tokens, cost and time (each attempt is a ledger row on page "prompts"). `ready`: the
    prompt renders with these values (else Run waits for them)."""
    model = status.model
    cap = max(1, min(MAX_TOKENS_LIMIT, model.max_output))
    low, high = TEMPERATURE_RANGE
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    temperature = c1.number_input("Temperature", low, high, float(prompt.temperature), 0.05,
                                  key=f"run_temperature_{prompt.name}",
                                  disabled=not model.temperature,
                                  help=plain(model.temperature_reason)
                                  if model.temperature_reason else None)
    max_tokens = c2.number_input("Max tokens", 1, cap, min(prompt.max_tokens, cap), 1,
                                 key=f"run_max_tokens_{prompt.name}")
    go = c3.button("Run", type="primary", icon=":material/play_arrow:", key="run_prompt",
                   disabled=not (status.available and ready), width="stretch")
    results: dict[str, dict[str, Any]] = st.session_state.setdefault(RESULT, {})
    if go:
        try:
            call = prompts.run(settings(), prompt.name, ref, values, model,
                               temperature=float(temperature), max_tokens=int(max_tokens),
                               user=user)
            call.reserve()  # a budget's refusal shows before anything is drawn
            stop = st.empty()
            stop.button("Stop", icon=":material/stop_circle:", key="stop_prompt_run")
            text, error = stream_into(chat.turn_events(call), st.container())
            stop.empty()
            results[prompt.name] = _outcome(call, text, error, model)
        except PromptLabError as exc:
            show_error(exc)
            return
        st.rerun()  # the outcome is drawn below, as on any later run of the page
    if (outcome := results.get(prompt.name)) is not None:
        _show_outcome(outcome)


def _outcome(call: Response[CallEvent], text: str, error: Any, model: ModelInfo
             ) -> dict[str, Any]:
    records = call.records
    validation = call.validation
    return {
        "text": text, "version": records[0].prompt_version if records else None,
        "model": model.label,
        "input": sum(r.input_tokens for r in records),
        "output": sum(r.output_tokens for r in records),
        "estimated": any(r.usage_estimated for r in records),
        "cost": sum(r.cost_micro for r in records),
        "unpriced": sum(not r.priced for r in records),
        "ms": sum(r.total_ms for r in records),
        "ttft": records[0].ttft_ms if records else None,
        "status": records[-1].status if records else "error",
        "rows": [r.id for r in records], "error": str(error) if error else "",
        "structured": None if validation is None else {
            "status": validation.status, "errors": list(validation.errors),
            "repairs": len(records) - 1}}


def _show_outcome(o: dict[str, Any]) -> None:
    with st.container(border=True):
        if o["structured"]:
            render_structured({"structured": o["structured"]}, o["text"], "prompt_run")
        if o["text"]:
            st.markdown(inert(o["text"]))
        if o["error"]:
            st.error(plain(o["error"]), icon=":material/error:")
        first = "" if o["ttft"] is None else f", first token after {o['ttft'] / 1000:.1f} s"
        st.caption(md("v{} on {} · {} · {:,} in + {:,} out tokens{} · {} · {:.1f} s{} · "
                      "ledger row {}", o["version"], o["model"], o["status"], o["input"],
                      o["output"], " (estimated)" if o["estimated"] else "",
                      format_cost(o["cost"], o["unpriced"]), o["ms"] / 1000, first,
                      ", ".join(f"#{i}" for i in o["rows"])))
