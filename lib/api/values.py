"""Named values in a request body — a prompt's `variables`, a workflow's `inputs` — checked
one by one against what is declared, so a refusal names its own (422, param `<field>.<name>`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lib.core import ApiError, VariableError
from lib.prompts import Variable, validate


def checked_values(raw: Any, declared: Sequence[Variable], *, owner: str, field: str,
                   noun: str, code: str) -> dict[str, Any]:
    """`raw` (None: no values) if it is an object naming only `declared` values, each valid;
    else an ApiError that names `field` or the value (`noun`: "variable", "input")."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ApiError(f"`{field}` must be a JSON object of name: value.", status=422,
                       code=code, param=field)
    names = [v.name for v in declared]
    for name in raw:
        if name not in names:
            raise ApiError(f"Unknown {noun} '{name}': '{owner}' declares "
                           f"{', '.join(names) or 'none'}.", status=422, code=code,
                           param=f"{field}.{name}")
    for var in declared:
        try:
            validate((var,), {var.name: raw.get(var.name)})
        except VariableError as exc:
            raise ApiError(exc.message.replace("Variable", noun.capitalize()), status=422,
                           code=code, param=f"{field}.{var.name}", hint=exc.hint) from None
    return raw
