"""Declared prompt variables: their types, and checking and converting values against them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lib.core import VariableError, json_loads

VARIABLE_TYPES = ("str", "int", "float", "bool", "list", "json")


@dataclass(frozen=True)
class Variable:
    name: str
    type: str = "str"
    required: bool = True
    default: Any = None
    description: str = ""


def coerce(var: Variable, value: Any) -> Any:
    """One value converted to the variable's type; raises ValueError saying why not."""
    t = var.type
    if t == "str":
        if isinstance(value, str):
            return value
        raise ValueError(f"must be text, got {type(value).__name__}")
    if t == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no",
                                                                "1", "0"):
            return value.strip().lower() in ("true", "yes", "1")
        raise ValueError(f"must be true or false, got {value!r}")
    if t == "int":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"must be a whole number, got {value!r}")
        try:
            return int(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a whole number, got {value!r}") from None
    if t == "float":
        if isinstance(value, bool):
            raise ValueError(f"must be a number, got {value!r}")
        try:
            return float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number, got {value!r}") from None
    if t == "list":
        if isinstance(value, list | tuple):
            return list(value)
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    parsed = json_loads(text)
                except ValueError as exc:
                    raise ValueError(f"is not a valid JSON list ({_why(exc)})") from None
                if isinstance(parsed, list):
                    return parsed
            return [line.strip() for line in text.splitlines() if line.strip()]
        raise ValueError(f"must be a list, got {type(value).__name__}")
    if t == "json":
        if isinstance(value, str):
            try:
                return json_loads(value)
            except ValueError as exc:
                raise ValueError(f"is not valid JSON ({_why(exc)})") from None
        return value
    raise ValueError(f"has an unknown type {t!r}")


def validate(variables: tuple[Variable, ...], values: dict[str, Any]) -> dict[str, Any]:
    """Check and convert values against the declared variables; errors name the variable."""
    out: dict[str, Any] = {}
    for var in variables:
        value = values.get(var.name)
        if value is None or (isinstance(value, str) and value == "" and var.type != "str"):
            if var.default is not None:
                value = var.default
            elif var.required:
                raise VariableError(f"Variable '{var.name}' is required.",
                                    hint=var.description)
            else:
                out[var.name] = None
                continue
        try:
            out[var.name] = coerce(var, value)
        except ValueError as exc:
            raise VariableError(f"Variable '{var.name}' ({var.type}) {exc}.") from None
    return out


def _why(exc: ValueError) -> str:
    """json's message with its position, or ours (nesting too deep)."""
    msg, line = getattr(exc, "msg", None), getattr(exc, "lineno", None)
    return f"{msg} at line {line}" if msg and line else str(exc)
