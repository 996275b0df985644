"""The Prompts page's grid of declared variables (new prompt and edit), the defaults and task
of a version, and the diff table."""

from __future__ import annotations

import html
import json
from typing import Any

import streamlit as st

from lib.core import PromptLabError, VariableError
from lib.llm import TASK_LABELS, TASKS
from lib.prompts import (
    MAX_TOKENS_LIMIT,
    TEMPERATURE_RANGE,
    VARIABLE_TYPES,
    Variable,
    coerce,
    declared_names,
)
from lib.ui.kit.text import md
from lib.ui.kit.widgets import model_picker

VARIABLE_COLUMNS = ("name", "type", "required", "default", "description")


def _row(var: Variable) -> dict[str, Any]:
    default = "" if var.default is None else (
        json.dumps(var.default, ensure_ascii=False) if var.type in ("list", "json")
        else str(var.default).lower() if var.type == "bool" else str(var.default))
    return {"name": var.name, "type": var.type, "required": var.required, "default": default,
            "description": var.description}


def _cell(value: Any) -> str:
    """A grid cell as text: an untouched cell of an added row is None (or NaN)."""
    return "" if value is None or value != value else str(value)


def _variable(row: dict[str, Any]) -> Variable:
    """One grid row as a declared variable; the default is read as its type reads values."""
    var = Variable(_cell(row.get("name")).strip(), _cell(row.get("type")) or "str",
                   bool(row.get("required")) if row.get("required") is not None else True,
                   None, _cell(row.get("description")))
    raw = _cell(row.get("default"))
    if raw == "":
        return var
    try:  # list: a JSON list or one item per line; json: depth-bounded (lib.core json_loads)
        return Variable(var.name, var.type, var.required, coerce(var, raw), var.description)
    except ValueError as exc:
        raise VariableError(f"The default of '{var.name}' ({var.type}) {exc}.") from None


def undeclared(source: str, variables: list[Variable] | tuple[Variable, ...]) -> list[str]:
    """Names the template reads that no variable declares (none while it does not parse)."""
    try:
        used = declared_names(source)
    except PromptLabError:
        return []  # a syntax error: saving says where
    return sorted(used - {v.name for v in variables})


def variables_editor(variables: tuple[Variable, ...], key: str,
                     source: str | None = None) -> tuple[Variable, ...]:
    """Declared variables as an editable grid (usable from empty: header, Add row), with the
    names `source` uses but nobody declared offered above it, each a click from a row of its
    own (type str, required) whose type and default can then be set in the grid.

    Raises VariableError for a default its type cannot read (after drawing everything)."""
    import pandas as pd

    rows_key, gen_key = f"{key}_rows", f"{key}_gen"
    if rows_key not in st.session_state:
        st.session_state[rows_key] = [_row(v) for v in variables]
    generation = st.session_state.get(gen_key, 0)
    offer = st.container()
    base = st.session_state[rows_key]
    frame = pd.DataFrame({
        "name": pd.Series([r["name"] for r in base], dtype="object"),
        "type": pd.Series([r["type"] for r in base], dtype="object"),
        "required": pd.Series([r["required"] for r in base], dtype="bool"),
        "default": pd.Series([r["default"] for r in base], dtype="object"),
        "description": pd.Series([r["description"] for r in base], dtype="object")})
    edited = st.data_editor(
        frame, key=f"{key}_grid{generation}", num_rows="dynamic", width="stretch",
        hide_index=True,
        column_config={
            "name": st.column_config.TextColumn("name", required=True),
            "type": st.column_config.SelectboxColumn("type", options=VARIABLE_TYPES,
                                                     required=True, default="str"),
            "required": st.column_config.CheckboxColumn("required", default=True),
            "default": st.column_config.TextColumn(
                "default", help="Used when no value is given. list: one JSON list such as "
                                '["a", "b"]; json: JSON; bool: true or false.'),
            "description": st.column_config.TextColumn("description"),
        })
    rows = [r for r in edited.to_dict("records") if _cell(r.get("name")).strip()]
    named = [Variable(_cell(r["name"]).strip()) for r in rows]
    if source is not None and (missing := undeclared(source, named)):
        with offer:
            c1, c2 = st.columns([4, 1], vertical_alignment="center")
            c1.info(md("The template uses {}, which {} not declared yet.", ", ".join(missing),
                       "is" if len(missing) == 1 else "are"), icon=":material/info:")
            if c2.button("Declare it" if len(missing) == 1 else "Declare them",
                         icon=":material/add:", key=f"{key}_declare", width="stretch"):
                st.session_state[rows_key] = [
                    {c: _cell(r.get(c)) if c != "required" else bool(r.get("required", True))
                     for c in VARIABLE_COLUMNS} for r in rows] + [
                    _row(Variable(n)) for n in missing]
                st.session_state[gen_key] = generation + 1  # a fresh grid on the new rows
                st.rerun()
    return tuple(_variable(r) for r in rows)


def reset_variables_editor(key: str) -> None:
    """Start the grid again from the stored variables (after a save)."""
    st.session_state.pop(f"{key}_rows", None)
    st.session_state[f"{key}_gen"] = st.session_state.get(f"{key}_gen", 0) + 1


def defaults_form(model: str, temperature: float, max_tokens: int,
                  key: str) -> tuple[str, float, int]:
    """The prompt's default model, temperature and max tokens: what a run (here, in Compare
    or over the API) uses unless it says otherwise."""
    status = model_picker(f"{key}_model", label="Default model", default=model or None)
    low, high = TEMPERATURE_RANGE
    cap = max(1, min(MAX_TOKENS_LIMIT, status.model.max_output))
    c1, c2 = st.columns(2)
    temp = c1.number_input("Temperature", low, high, min(max(float(temperature), low), high),
                           0.05, key=f"{key}_temperature")
    tokens = c2.number_input("Max tokens", 1, cap, min(max(int(max_tokens), 1), cap), 1,
                             key=f"{key}_max_tokens",
                             help=md("At most {:,} for {}.", cap, status.model.label))
    return status.model.key, float(temp), int(tokens)


def task_select(current: str, key: str) -> str:
    """The prompt's declared task for the Chat page's router; "" for none."""
    options = ["", *TASKS]
    return st.selectbox("Task (for the router)", options, key=key,
                        index=options.index(current) if current in options else 0,
                        format_func=lambda t: f"{t} · {TASK_LABELS[t]}" if t else "None",
                        help="With Router chosen in the Chat page's model picker, a turn whose "
                             "system prompt comes from this prompt goes to this task's model.")


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
