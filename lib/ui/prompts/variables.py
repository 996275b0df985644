"""A prompt's declared variables as an editable grid (a new prompt, a new version), offering
the names its template uses but nobody declared."""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

import streamlit as st

from lib.core import PromptLabError, VariableError
from lib.prompts import (
    VARIABLE_TYPES,
    Variable,
    coerce,
    declared_names,
)
from lib.ui.kit.text import md

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


def _variable(row: dict[Hashable, Any]) -> Variable:
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
