"""The API's door: a request body's size, its JSON's depth and number of values, its text,
and the JSON Schemas it carries, checked before anything else reads them.

Everything past the door may walk, count and encode the body freely: what the door lets in
parses in a few tens of milliseconds (json.loads holds the GIL while it builds: unbounded,
one request would freeze every other), nests no deeper than Python can recurse, and encodes
as UTF-8 wherever it is stored or sent.
"""

from __future__ import annotations

from typing import Any

from lib.core import ApiError, SchemaError, json_loads
from lib.llm import check_schema, check_tool_parameters

MAX_BODY = 8 * 2**20    # bytes: a 1M-token window of text, with room for JSON's escapes
MAX_DEPTH = 100         # nesting of the body (a schema inside it nests a few levels less)
MAX_VALUES = 50_000     # strings, numbers, lists, objects: json.loads builds these in ~30 ms


def too_large() -> ApiError:
    return ApiError(f"The body is larger than {MAX_BODY // 2**20} MiB.", status=413,
                    code="body_too_large")


def read_json(raw: bytes) -> Any:
    """The body's JSON, within the door's bounds; ApiError (400) naming what is wrong."""
    if len(raw) > MAX_BODY:
        raise too_large()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("The body is not UTF-8 text.", code="invalid_json") from None
    try:
        body = json_loads(text or "null", max_depth=MAX_DEPTH, max_values=MAX_VALUES)
    except ValueError as exc:
        raise ApiError(f"The body cannot be read as JSON: {exc}.", code="invalid_json"
                       ) from None
    _encodable(body)
    return body


def _encodable(body: Any) -> None:
    """Refuse a string holding half of a surrogate pair (json.loads makes one of a lone
    \\uD800 escape): no UTF-8 writer — the ledger, an SDK, the local tokenizer — takes it.
    A walk of at most MAX_VALUES values; an ASCII string is known clean without a look."""
    stack = [body]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    raise ApiError("The body holds a \\uD800-\\uDFFF escape that is not half "
                                   "of a surrogate pair: it is no character.",
                                   code="invalid_json") from None
        elif isinstance(v, dict):
            stack += v.keys()
            stack += v.values()
        elif isinstance(v, list):
            stack += v


def schema(raw: Any, param: str) -> dict[str, Any]:
    """A JSON Schema from a request, checked by lib.llm's one check (metaschema, size and
    nesting, grammar bounds, references only inside it): refused here, a bad schema never
    reaches a model, a budget or the ledger."""
    if not isinstance(raw, dict):
        raise ApiError("A JSON Schema must be an object, such as "
                       '{"type": "object", "properties": {...}}.', code="invalid_schema",
                       param=param)
    try:
        return check_schema(raw) or {}
    except SchemaError as exc:
        raise ApiError(str(exc), code="invalid_schema", param=param) from None


def tool_parameters(name: str, raw: Any, param: str) -> dict[str, Any]:
    """A tool's parameters from a request: an object schema, through the same one check."""
    if not isinstance(raw, dict):  # a string is a schema only in the app's own forms
        raise ApiError("A tool's parameters must be a JSON Schema of type object, such as "
                       '{"type": "object", "properties": {"city": {"type": "string"}}}.',
                       code="invalid_schema", param=param)
    try:
        return check_tool_parameters(name, raw)
    except SchemaError as exc:
        raise ApiError(str(exc), code="invalid_schema", param=param) from None
