"""Structured output: a reply that must be JSON matching a schema — the schema checked before
a call, every reply validated after it (jsonschema), and repairs that send the errors back."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from lib.core import SchemaError, json_loads
from lib.llm.protocol import ChatRequest, Message

MAX_ERRORS = 5   # a repair message lists at most this many problems
STATUSES = ("valid", "repaired", "invalid")


@dataclass(frozen=True)
class Validation:
    """`status`: valid (first time), repaired (valid after a repair) or invalid."""
    status: str
    data: Any = None
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != "invalid"


@dataclass(frozen=True)
class Repair:
    """An event between attempts: the reply failed its schema and is being asked again."""
    attempt: int
    errors: tuple[str, ...] = field(default_factory=tuple)


def check_schema(schema: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON Schema (text or object) checked against its metaschema; None or "" means none."""
    if schema is None or (isinstance(schema, str) and not schema.strip()):
        return None
    if isinstance(schema, str):
        try:
            schema = json_loads(schema)
        except ValueError as exc:
            raise SchemaError(f"The output schema is not valid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise SchemaError("The output schema must be a JSON object, such as "
                          '{"type": "object", "properties": {...}}.')
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(f"The output schema is invalid: {exc.message}") from None
    return schema


def schema_of_model(model: type) -> dict[str, Any]:
    """The JSON Schema of a pydantic model, for code that describes its output that way."""
    return model.model_json_schema()  # type: ignore[attr-defined]


def strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict mode can take the schema: every object closed
    (additionalProperties false) with all of its properties required."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            props = schema.get("properties", {})
            if schema.get("additionalProperties", True) is not False \
                    or set(schema.get("required", ())) != set(props):
                return False
        return all(strict_compatible(v) for v in schema.values())
    if isinstance(schema, list):
        return all(strict_compatible(v) for v in schema)
    return True


def parse_json(text: str) -> Any:
    """JSON from a model's reply, tolerating a ```json fence around it."""
    body = text.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.DOTALL)
    return json_loads(fenced.group(1) if fenced else body)  # nesting bounded: model output


def validate(text: str, schema: dict[str, Any], *, repaired: bool = False) -> Validation:
    """Parse and validate a reply; errors are short, with the path of each problem."""
    import jsonschema

    try:
        data = parse_json(text)
    except ValueError as exc:
        return Validation("invalid", None, (f"not valid JSON: {exc}",))
    found = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data),
                   key=lambda e: list(map(str, e.absolute_path)))
    if found:
        return Validation("invalid", data, tuple(
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in found[:MAX_ERRORS]))
    return Validation("repaired" if repaired else "valid", data)


def repair_message(schema: dict[str, Any] | None, errors: tuple[str, ...]) -> str:
    """What the model is told when its reply failed the schema."""
    return ("Your reply did not match the required JSON Schema:\n"
            + "\n".join(f"- {e}" for e in errors)
            + f"\n\nThe schema: {json.dumps(schema)}\n"
            "Reply again with only the corrected JSON.")


def repair_request(request: ChatRequest, reply: str, errors: tuple[str, ...]) -> ChatRequest:
    """The same request with the failed reply and what was wrong with it appended."""
    ask = repair_message(request.output_schema, errors)
    return replace(request, messages=(*request.messages, Message("assistant", reply),
                                      Message("user", ask)))
