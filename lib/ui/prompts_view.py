"""Prompt widgets shared by the Prompts, Compare and Chat pages."""

from __future__ import annotations

import html
import json
from typing import Any

import streamlit as st

from lib.core import VariableError
from lib.llm import TASK_LABELS, TASKS
from lib.prompts import VARIABLE_TYPES, Prompt, PromptStore, Variable, coerce
from lib.ui.app import settings
from lib.ui.text import md, plain


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


def variables_editor(variables: tuple[Variable, ...], key: str) -> tuple[Variable, ...]:
    """Declared variables as an editable table; defaults are typed like the variable."""
    rows = [{"name": v.name, "type": v.type, "required": v.required,
             "default": "" if v.default is None else (
                 json.dumps(v.default) if v.type in ("list", "json") else str(v.default)),
             "description": v.description} for v in variables]
    edited = st.data_editor(
        rows, key=key, num_rows="dynamic", width="stretch",
        column_config={
            "name": st.column_config.TextColumn("name", required=True),
            "type": st.column_config.SelectboxColumn("type", options=VARIABLE_TYPES,
                                                     required=True, default="str"),
            "required": st.column_config.CheckboxColumn("required", default=True),
            "default": st.column_config.TextColumn("default (JSON for list / json)"),
            "description": st.column_config.TextColumn("description"),
        })
    out = []
    for row in edited:
        if not row.get("name"):
            continue
        var = Variable(str(row["name"]).strip(), row.get("type") or "str",
                       bool(row.get("required", True)), None, row.get("description") or "")
        raw = row.get("default")
        if raw not in (None, ""):
            try:
                parsed = json.loads(raw) if var.type in ("list", "json") else raw
                var = Variable(var.name, var.type, var.required, coerce(var, parsed),
                               var.description)
            except (ValueError, TypeError) as exc:
                raise VariableError(f"The default of '{var.name}' is invalid: {exc}") from None
        out.append(var)
    return tuple(out)


def task_select(current: str, key: str) -> str:
    """The prompt's declared task for the Chat page's router; "" for none."""
    options = ["", *TASKS]
    return st.selectbox("Task (for the router)", options, key=key,
                        index=options.index(current) if current in options else 0,
                        format_func=lambda t: f"{t} · {TASK_LABELS[t]}" if t else "None",
                        help="With Router chosen in the Chat page's model picker, a turn whose "
                             "system prompt comes from this prompt goes to this task's model.")


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


_DIFF_COLOURS = {"=": "transparent", "-": "#fde2e1", "+": "#dcfce7", "~": "#fef3c7"}


def diff_html(rows: list[tuple[str, str, str]], left: str, right: str) -> str:
    """A side-by-side diff table; every line is escaped."""
    cells = []
    for kind, a, b in rows:
        colour = _DIFF_COLOURS[kind]
        ink = "" if kind == "=" else ";color:#111"  # pastel rows stay readable in dark mode
        cells.append(f'<tr style="background:{colour}{ink}"><td class="k">{html.escape(kind)}</td>'
                     f"<td><pre>{html.escape(a)}</pre></td><td><pre>{html.escape(b)}</pre></td>"
                     "</tr>")
    return ('<style>.pl-diff{width:100%;border-collapse:collapse;font-size:0.85rem}'
            ".pl-diff td{vertical-align:top;padding:0 .4rem;"
            "border-bottom:1px solid rgba(128,128,128,.25)}"
            ".pl-diff pre{margin:0;white-space:pre-wrap;font-family:monospace}"
            ".pl-diff .k{width:1.2rem;color:#888}</style>"
            f'<table class="pl-diff"><tr><th></th><th>{html.escape(left)}</th>'
            f"<th>{html.escape(right)}</th></tr>{''.join(cells)}</table>")
