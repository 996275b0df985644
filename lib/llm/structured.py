"""Structured output: a reply that must be JSON matching a schema — the schema checked before
a call (lib.llm.schemas), every reply validated after it, and repairs that send the errors
back."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from lib.core import SchemaError, json_loads
from lib.llm.protocol import ChatRequest, Message
from lib.llm.schemas import schema_errors

if TYPE_CHECKING:  # pydantic loads with the code that has a model to describe
    from pydantic import BaseModel

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


def schema_of_model(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a pydantic model, for code that describes its output that way."""
    return model.model_json_schema()


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
    try:
        data = parse_json(text)
    except ValueError as exc:
        return Validation("invalid", None, (f"not valid JSON: {exc}",))
    try:
        found = schema_errors(schema, data, MAX_ERRORS)
    except SchemaError as exc:  # the doors refuse such a schema; a reply is never checked by it
        return Validation("invalid", data, (f"the schema cannot be used: {exc}",))
    if found:
        return Validation("invalid", data, tuple(f"{path}: {message}"
                                                 for path, message in found))
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
