"""JSON Schemas from outside — the chat sidebar, a tool defined in a page, a stored prompt, the
API — checked the same way before anything uses them, and validated with no way out:

- nothing remote: every `$ref` and `$dynamicRef` stays inside the schema (`#/...`, `#name`),
  and the validator's registry refuses to retrieve anything (jsonschema's default registry
  would fetch a URL, or read a file, and put what it got into its error messages);
- bounded: the schema's size, its nesting and every count (minLength, maxItems, ...) have
  ceilings, checked without recursion before anything recurses into it, so no check and no
  grammar built from it can run away;
- regular expressions (`pattern`, `patternProperties`) are matched with a timeout
  (lib.llm.validator), so a catastrophic pattern such as `^(a|a)*$` costs its
  timeout, never a frozen process.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from typing import Any

from lib.core import SchemaError, json_loads
from lib.llm.validator import refusing_registry, regex_budget, resource, validator_class

log = logging.getLogger(__name__)

MAX_SCHEMA_CHARS = 100_000   # the schema as JSON text
MAX_DEPTH = 32               # objects and arrays inside one another
MAX_COUNT = 1_000_000        # any minLength, maxItems, ...: longer than any model's reply
MAX_PATTERN = 1_000          # characters in one regular expression
MAX_ERRORS = 20              # errors collected from one validation
COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties",
          "minContains", "maxContains")
# `$schema` may name these at the top (validation follows draft 2020-12 whatever it says).
DRAFTS = frozenset(f"{base}{tail}" for tail in ("", "#") for base in (
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2019-09/schema",
    "http://json-schema.org/draft-07/schema",
    "http://json-schema.org/draft-06/schema",
    "http://json-schema.org/draft-04/schema"))


def check_schema(schema: str | dict[str, Any] | None, *, what: str = "The output schema"
                 ) -> dict[str, Any] | None:
    """A JSON Schema (text or object), checked; None or "" means none. Raises SchemaError.

    Checked, in this order: JSON, an object, its nesting and size, the draft 2020-12
    metaschema, references only inside it (and each one found), counts, patterns."""
    if schema is None or (isinstance(schema, str) and not schema.strip()):
        return None
    if isinstance(schema, str):
        try:
            schema = json_loads(schema, max_depth=MAX_DEPTH)
        except ValueError as exc:
            raise SchemaError(f"{what} is not valid JSON: {exc}.") from None
    if not isinstance(schema, dict):
        raise SchemaError(f"{what} must be a JSON object, such as "
                          '{"type": "object", "properties": {...}}.')
    if _depth(schema) > MAX_DEPTH:
        raise SchemaError(f"{what} nests deeper than {MAX_DEPTH} levels.",
                          hint="Flatten it, or move repeated parts to $defs.")
    try:
        text = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"{what} is not plain JSON ({exc}).") from None
    problem = _problem(text)
    if problem:
        raise SchemaError(f"{what} {problem}")
    return schema


def check_tool_parameters(name: str, parameters: Any) -> dict[str, Any]:
    """A tool's parameters: a JSON Schema of type object (`{}` counts as one with no
    parameters), checked as `check_schema` does. Raises SchemaError naming the tool."""
    what = f"Tool {name}'s parameters"
    if isinstance(parameters, str):
        parameters = check_schema(parameters, what=what) or {}
    if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
        raise SchemaError(f"{what} must be a JSON Schema of type object, such as "
                          '{"type": "object", "properties": {"city": {"type": "string"}}}.')
    return check_schema({"type": "object", **parameters}, what=what) or {}


@functools.lru_cache(maxsize=256)
def _problem(text: str) -> str | None:
    """What is wrong with a schema (its canonical JSON), in words that follow its name."""
    if len(text) > MAX_SCHEMA_CHARS:
        return f"is {len(text):,} characters of JSON; the limit is {MAX_SCHEMA_CHARS:,}."
    schema = json.loads(text)
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"is invalid: {exc.message}"
    except RecursionError:
        return f"nests too deeply to check (the limit is {MAX_DEPTH} levels)."
    refs: list[tuple[str, str]] = []
    patterns: list[str] = []
    keywords: set[str] = set()
    for node, top in _nodes(schema):
        keywords |= node.keys()
        for key in ("$ref", "$dynamicRef"):
            if key not in node:
                continue
            ref = node[key]
            if not isinstance(ref, str) or not ref.startswith("#"):
                return (f"refers outside itself ({key} {str(ref)[:80]!r}); only references "
                        "inside the schema, such as #/$defs/name, are allowed.")
            refs.append((key, ref))
        if "$id" in node and not top:
            return "declares $id inside itself; only the top of the schema may have an $id."
        if "$schema" in node and (not top or not isinstance(node["$schema"], str)
                                  or node["$schema"] not in DRAFTS):
            return (f"names $schema {str(node['$schema'])[:80]!r}; only a draft's own "
                    "address, at the top, is allowed (it is checked as draft 2020-12).")
        for key in COUNTS:
            value = node.get(key)
            if isinstance(value, int) and value > MAX_COUNT:
                return (f"asks for {key} {value:,}: more than any reply can hold (the limit is "
                        f"{MAX_COUNT:,}); lower it, or leave it out for no limit.")
        if isinstance(node.get("pattern"), str):
            patterns.append(node["pattern"])
        if isinstance(node.get("patternProperties"), dict):
            patterns += list(node["patternProperties"])
    if "unevaluatedProperties" in keywords and "patternProperties" in keywords:
        return ("combines unevaluatedProperties with patternProperties, which cannot be "
                "checked safely here; use additionalProperties instead.")
    for pattern in patterns:
        if (problem := _pattern_problem(pattern)) is not None:
            return problem
    if refs:
        resolver = refusing_registry().resolver_with_root(resource(schema))
        import referencing.exceptions

        for key, ref in dict.fromkeys(refs):
            try:
                resolver.lookup(ref)
            except referencing.exceptions.Unresolvable:
                return f"has a {key} {ref[:80]!r} that points to nothing in it."
    return None


def _pattern_problem(pattern: str) -> str | None:
    import regex

    if len(pattern) > MAX_PATTERN:
        return f"has a pattern of {len(pattern):,} characters; the limit is {MAX_PATTERN:,}."
    try:
        regex.compile(pattern)
    except (regex.error, ValueError, OverflowError) as exc:
        return f"has a pattern {pattern[:80]!r} that is not a valid regular expression ({exc})."
    return None


def _depth(value: Any) -> int:
    """How deep objects and arrays nest, measured without recursion (stops past the limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if deepest > MAX_DEPTH:
                break
            stack += [(v, level + 1) for v in (node.values() if isinstance(node, dict)
                                               else node)]
    return deepest


def _nodes(schema: Any) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every object in a schema (sub-schemas and data alike), with whether it is the top."""
    stack = [(schema, True)]
    while stack:
        node, top = stack.pop()
        if isinstance(node, dict):
            yield node, top
            stack += [(v, False) for v in node.values()]
        elif isinstance(node, list):
            stack += [(v, False) for v in node]


def schema_validator(schema: dict[str, Any]) -> Any:
    """A validator for a checked schema that never fetches anything and never hangs on a
    pattern. Raises SchemaError for a schema `check_schema` refuses."""
    check_schema(schema)
    # `$schema` would make jsonschema pick its stock class for the draft it names (matching
    # patterns with `re`, without a timeout): validation follows draft 2020-12 here.
    body = {k: v for k, v in schema.items() if k != "$schema"}
    return validator_class()(body, registry=refusing_registry())


def schema_errors(schema: dict[str, Any], data: Any, limit: int = MAX_ERRORS
                  ) -> list[tuple[str, str]]:
    """Where and how data fails the schema: (path, message) pairs, path like `a/0/b` or
    `(root)`, at most `limit`. Raises SchemaError for a schema `check_schema` refuses."""
    import referencing.exceptions

    validator = schema_validator(schema)
    found: list[tuple[str, str]] = []
    try:
        with regex_budget():
            for error in validator.iter_errors(data):
                found.append(("/".join(map(str, error.absolute_path)) or "(root)",
                              error.message))
                if len(found) >= limit:
                    break
    except RecursionError:
        found.append(("(root)", "the value nests too deeply to check against this schema"))
    except referencing.exceptions.Unresolvable as exc:  # refused by check_schema: defence
        log.warning("schema reference could not be resolved: %s", exc)
        raise SchemaError("The schema refers to something outside it, which is not "
                          "allowed.") from None
    return sorted(found)


def matches_schema(schema: dict[str, Any], data: Any) -> bool:
    """Whether data is valid against the schema (see schema_errors)."""
    return not schema_errors(schema, data, limit=1)
