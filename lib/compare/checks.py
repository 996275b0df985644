"""Automated checks on a compare cell's output, and pass rates."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lib.compare.expected import DEFAULT_THRESHOLD, Similarity, json_fields, normalise
from lib.core import CheckError, SchemaError, json_loads
from lib.llm import check_schema, matches_schema, parse_json

REGEX_TIMEOUT_S = 1.0
KINDS = {
    "contains": "contains",
    "not_contains": "does not contain",
    "regex": "matches regular expression",
    "json": "is valid JSON",
    "json_schema": "is JSON matching schema",
    "max_tokens": "is at most N tokens",
    "called_tool": "called tool X",
    "arguments_match": "called a tool with arguments that include",
    "max_steps": "took at most N steps",
    "exact": "equals the expected answer",
    "normalised": "equals the expected answer, ignoring case, punctuation and spacing",
    "json_fields": "JSON fields equal the expected ones (per field)",
    "semantic": "means the same as the expected answer (embedding similarity)",
}
EXPECTS = ("exact", "normalised", "json_fields", "semantic")  # need an `expected` column


NEEDS_VALUE = {"contains": "some text", "not_contains": "some text",
               "regex": "a regular expression", "json_schema": "a JSON schema",
               "max_tokens": "a number of tokens", "called_tool": "a tool name",
               "arguments_match": 'JSON like {"tool": "calculator", "arguments": {...}}',
               "max_steps": "a number of steps"}


@dataclass(frozen=True)
class Check:
    kind: str
    value: str = ""

    @property
    def label(self) -> str:
        v = self.value
        return {"contains": f'contains "{v}"', "not_contains": f'does not contain "{v}"',
                "regex": f"matches /{v}/", "json": "is valid JSON",
                "json_schema": f"matches JSON schema {v[:40]}", "max_tokens": f"at most {v} tokens",
                "called_tool": f"called {v}", "arguments_match": f"called with {v[:60]}",
                "max_steps": f"at most {v} steps", "exact": "exact match",
                "normalised": "normalised match",
                "json_fields": f"fields {v} equal" if v else "fields equal",
                "semantic": f"similar ≥ {v or DEFAULT_THRESHOLD}"}.get(self.kind, self.kind)

    def validate(self) -> Check:
        """Refuse a check that cannot run (bad regex, schema or number) before a run starts."""
        if self.kind not in KINDS:
            raise CheckError(f"Unknown check {self.kind!r}.")
        if self.kind in NEEDS_VALUE and not self.value.strip():
            raise CheckError(f"The check '{KINDS[self.kind]}' needs {NEEDS_VALUE[self.kind]}.")
        try:
            if self.kind == "regex":
                re.compile(self.value)
            elif self.kind == "json_schema":
                check_schema(self.value, what="The schema")  # no remote $ref, bounded
            elif self.kind == "semantic" and self.value.strip() and not (
                    0 < float(self.value) <= 1):
                raise CheckError("The similarity threshold must be above 0 and at most 1.")
            elif self.kind in ("max_tokens", "max_steps") and (
                    not self.value.strip().isdigit() or int(self.value) < 1):
                raise CheckError(f"The check '{self.label}' needs a whole number, 1 or more.")
            elif self.kind == "arguments_match":
                want = json_loads(self.value)
                if not (isinstance(want, dict) and isinstance(want.get("tool"), str)
                        and isinstance(want.get("arguments", {}), dict)):
                    raise CheckError(f"The check '{self.label}' needs JSON like "
                                     '{"tool": "calculator", "arguments": {"expression": "2+2"}}.')
        except CheckError:
            raise
        except SchemaError as exc:
            raise CheckError(f"The check '{self.label}': {exc}") from None
        except (re.error, ValueError, TypeError) as exc:
            raise CheckError(f"The check '{self.label}' is invalid: {exc}") from None
        return self


def run_check(check: Check, output: str, count_tokens: Callable[[str], int],
              trace: dict[str, Any] | None = None, expected: str | None = None,
              similar: Similarity | None = None) -> bool:
    """`trace`: a tool variant's run ({"steps": n, "calls": [{"name", "arguments"}]});
    `expected`: the row's expected answer (checks against it fail without one)."""
    calls = (trace or {}).get("calls", [])
    if check.kind in EXPECTS:
        if expected is None:
            return False
        if check.kind == "exact":
            return output.strip() == expected.strip()
        if check.kind == "normalised":
            return normalise(output) == normalise(expected)
        if check.kind == "semantic":
            if similar is None:
                raise CheckError("The similarity check needs the embedding model.")
            return similar(output, expected) >= float(check.value or DEFAULT_THRESHOLD)
        return all(field_results(check, output, expected).values())
    if check.kind == "called_tool":
        return any(c["name"] == check.value.strip() for c in calls)
    if check.kind == "max_steps":
        return int((trace or {}).get("steps", 1)) <= int(check.value)
    if check.kind == "arguments_match":
        want = json_loads(check.value)
        return any(c["name"] == want["tool"] and all(
            c.get("arguments", {}).get(k) == v for k, v in want.get("arguments", {}).items())
            for c in calls)
    if check.kind == "contains":
        return check.value in output
    if check.kind == "not_contains":
        return check.value not in output
    if check.kind == "regex":
        import regex  # like re, but a runaway pattern stops at its timeout

        try:
            return regex.search(check.value, output, timeout=REGEX_TIMEOUT_S) is not None
        except TimeoutError:
            return False
    if check.kind == "max_tokens":
        return count_tokens(output) <= int(check.value)
    try:
        data = parse_json(output)
    except ValueError:
        return False
    if check.kind == "json":
        return True
    try:
        return matches_schema(json_loads(check.value), data)
    except SchemaError:  # refused when the check was made: never fetched, never run
        return False


def field_results(check: Check, output: str, expected: str) -> dict[str, bool]:
    """A JSON fields check, field by field; unparseable output fails every field."""
    fields = [f.strip() for f in check.value.split(",") if f.strip()]
    try:
        want = parse_json(expected)
    except ValueError:
        return {"(the expected answer is not JSON)": False}
    try:
        got = parse_json(output)
    except ValueError:
        got = None
    return json_fields(got, want, fields)


def run_checks(checks: list[Check], output: str, count_tokens: Callable[[str], int],
               trace: dict[str, Any] | None = None, expected: str | None = None,
               similar: Similarity | None = None) -> dict[str, bool]:
    """Each check's result by label; a JSON fields check adds one result per field."""
    out = {}
    for c in checks:
        if c.kind == "json_fields" and expected is not None:
            fields = field_results(c, output, expected)  # parsed once for all its results
            out[c.label] = all(fields.values())
            out.update({f"field {k}": v for k, v in fields.items()})
        else:
            out[c.label] = run_check(c, output, count_tokens, trace, expected, similar)
    return out
