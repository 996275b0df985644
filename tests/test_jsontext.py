"""JSON from outside: nesting measured in linear time, strings and escapes skipped."""

from __future__ import annotations

import json
import time

import pytest

from lib.core import JSON_MAX_DEPTH as MAX_DEPTH
from lib.core import json_depth as depth
from lib.core import json_loads


@pytest.mark.parametrize(("text", "levels"), [
    ('"x"', 0), ("[]", 1), ('[1, [2, {"a": "]]]"}]]', 3), ('"\\\\"', 0), ('["\\"[[["]', 1),
    ('{"a": "\\\\", "b": [[]]}', 3), ('["\\n]"]', 1), ("[[[", 3),
])
def test_depth_counts_brackets_outside_strings(text, levels):
    assert depth(text) == levels


@pytest.mark.parametrize("payload", [
    '\\"' * 20_000,                 # escaped quotes with no string around them: was 10 s
    '"' + '\\"' * 20_000,           # a string that never closes
    '"\\\\"' * 10_000,              # many short strings of one escaped backslash
    "[" * 100_000,                  # deep and unbalanced
    '["' + "\\" * 40_001,           # a trailing escape
])
def test_depth_is_linear_on_hostile_text(payload):
    started = time.perf_counter()
    depth(payload)
    # Linear: tens of milliseconds. The old regex took seconds on the first payload; the
    # bound is generous so a busy machine cannot fail it.
    assert time.perf_counter() - started < 1.0


def test_loads_refuses_deep_nesting_before_parsing():
    with pytest.raises(ValueError, match="deeper than"):
        json_loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(ValueError, match="deeper than"):
        json_loads('{"ignored": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert json_loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None


def built(value) -> int:
    """The values json.loads built: containers, keys and leaves."""
    if isinstance(value, dict):
        return 1 + sum(1 + built(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(built(v) for v in value)
    return 1


@pytest.mark.parametrize("text", [
    "[]", '["a,b", "[{"]', "[1, 2, 3]", '{"a": [1, {"b": "\\"]"}]}', '"\\\\"', "7",
    '{"k": [true, false, null], "m": {"n": -1.5e3}}', '[[[], []], {"a": {}}]',
])
def test_values_counts_about_what_json_builds_never_fewer(text):
    """Counted from the text (no parse): at least what json.loads builds, at most about
    twice (a key and its value, a comma and a number, are told apart only roughly)."""
    from lib.core import json_values

    assert built(json.loads(text)) <= json_values(text, 1000) <= 2 * built(json.loads(text)) + 1


@pytest.mark.parametrize("payload", [
    "[" + "[]," * 2_000_000 + "[]]",            # two million empty lists: 2 s of json.loads
    "[" + '"",' * 2_000_000 + '""]',            # two million strings
    "[" + "1," * 3_000_000 + "1]",              # three million numbers
    '{"a": "' + "\\\\" * 3_000_000 + '"}',      # one string of escapes: not many values
])
def test_loads_refuses_too_many_values_at_c_speed(payload):
    started = time.perf_counter()
    try:
        json_loads(payload, max_values=50_000)
    except ValueError as exc:
        assert "more than 50,000 values" in str(exc)
    else:
        assert payload.startswith('{"a"')        # the one string is let through
    assert time.perf_counter() - started < 0.5  # C-speed counts: tens of milliseconds
