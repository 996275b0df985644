"""JSON from outside: nesting measured in linear time, strings and escapes skipped."""

from __future__ import annotations

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
