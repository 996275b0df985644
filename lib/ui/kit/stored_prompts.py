"""Stored prompts on any page: the store, a version picker, a form for a version's variables,
and a system prompt typed or rendered from one (Chat, Compare, Tokens and the Prompts page)."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from lib.prompts import Prompt, PromptStore, Variable
from lib.ui.kit.app import settings
from lib.ui.kit.text import md, plain


def store() -> PromptStore:
    return PromptStore(settings().prompts_dir)


def ref_options(prompt: Prompt) -> list[str]:
    """Labels first (production, staging, ...), then every version, newest first."""
    return [*sorted(prompt.labels), *(f"v{v.version}" for v in reversed(prompt.versions))]


REF_HELP = ("A label such as production follows whichever version it points to; a version "
            "number (v3) is fixed.")


def ref_label(prompt: Prompt, ref: str) -> str:
    """An option of a version select box: "production · label, now v2" or "v2 · production"."""
    if ref in prompt.labels:
        return f"{ref} · label, now v{prompt.labels[ref]}"
    version = int(ref[1:])
    tags = prompt.labels_of(version)
    return f"{ref}" + (f" · {', '.join(tags)}" if tags else "")


def _widget_default(var: Variable) -> Any:
    if var.default is None:
        return None
    if var.type == "list":
        return "\n".join(str(x) for x in var.default)
    if var.type == "json":
        return json.dumps(var.default, indent=2, ensure_ascii=False)
    return var.default


def variable_form(variables: list[Variable] | tuple[Variable, ...], key: str) -> dict[str, Any]:
    """One widget per declared variable, typed; values are returned raw for `validate`."""
    values: dict[str, Any] = {}
    for var in variables:
        label = md("{} ({}{})", var.name, var.type, "" if var.required else ", optional")
        k = f"{key}_{var.name}"
        default = _widget_default(var)
        about = plain(var.description) if var.description else None
        if var.type == "bool":
            values[var.name] = st.checkbox(label, value=bool(default), key=k, help=about)
        elif var.type == "int":
            values[var.name] = st.number_input(label, value=int(default or 0), step=1, key=k,
                                               help=about)
        elif var.type == "float":
            values[var.name] = st.number_input(label, value=float(default or 0.0), key=k,
                                               help=about)
        else:
            hint = {"list": "One item per line, or a JSON list.", "json": "JSON."}.get(var.type, "")
            values[var.name] = st.text_area(label, value=default or "", key=k, height=100,
                                            help=md("{} {}", var.description, hint))
    return values



DEFAULT_PROMPT = "assistant"  # the chat's prompt when "From a prompt" is first chosen


def chosen_prompt(key: str) -> str | None:
    """The prompt `system_from_prompt(key)` will use this run, read before it is drawn (the
    Chat page's router needs its task above it); None for a system prompt typed by hand."""
    if st.session_state.get(f"{key}_source") != "From a prompt":
        return None
    names = store().names()
    name = st.session_state.get(f"{key}_prompt")
    return name if name in names else DEFAULT_PROMPT if DEFAULT_PROMPT in names else (
        names[0] if names else None)


def system_from_prompt(key: str) -> tuple[str, str | None, int | None]:
    """A system prompt typed by hand, or rendered from a stored prompt by label or version.

    Returns (text, prompt name, version); the name and version go to the ledger.
    """
    names = store().names()
    source = st.radio("System prompt", ["Write my own", "From a prompt"], horizontal=True,
                      key=f"{key}_source", disabled=not names)
    if source == "Write my own":
        return st.text_area("System prompt text", key=f"{key}_text", height=100,
                            label_visibility="collapsed"), None, None
    name = st.selectbox("Prompt", names, key=f"{key}_prompt",
                        index=names.index(DEFAULT_PROMPT) if DEFAULT_PROMPT in names else 0)
    prompt = store().get(name)
    ref = st.selectbox("Version", ref_options(prompt), key=f"{key}_ref",
                       help=REF_HELP, format_func=lambda r: ref_label(prompt, r))
    with st.expander("Variables", expanded=False):
        values = variable_form(prompt.variables, key=f"{key}_{name}")
    version, text = store().render(name, ref, values)
    st.caption(md("{} v{}: {}{}", name, version, text[:300], "…" if len(text) > 300 else ""))
    return text, name, version
