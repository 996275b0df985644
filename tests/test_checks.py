"""Automated checks on outputs."""

from __future__ import annotations

import json

import pytest

from lib.compare import Check, run_check, run_checks
from lib.core import CheckError

SCHEMA = json.dumps({"type": "object", "required": ["name"],
                     "properties": {"name": {"type": "string"}}})


def words(text: str) -> int:
    return len(text.split())


@pytest.mark.parametrize(("check", "output", "passed"), [
    (Check("contains", "LGTM"), "All good. LGTM", True),
    (Check("contains", "LGTM"), "lgtm", False),
    (Check("not_contains", "sorry"), "Here you go", True),
    (Check("not_contains", "sorry"), "I'm sorry", False),
    (Check("regex", r"^\[(BLOCKER|MAJOR|MINOR|NIT)\]"), "[MAJOR] line 3: x -> y", True),
    (Check("regex", r"^\[(BLOCKER|MAJOR|MINOR|NIT)\]"), "Major issue on line 3", False),
    (Check("json"), '{"a": 1}', True),
    (Check("json"), '```json\n{"a": 1}\n```', True),
    (Check("json"), "{a: 1}", False),
    (Check("json_schema", SCHEMA), '{"name": "Ada"}', True),
    (Check("json_schema", SCHEMA), '{"name": 5}', False),
    (Check("json_schema", SCHEMA), "not json", False),
    (Check("max_tokens", "3"), "one two three", True),
    (Check("max_tokens", "3"), "one two three four", False),
])
def test_checks(check, output, passed):
    assert run_check(check.validate(), output, words) is passed


@pytest.mark.parametrize("check", [Check("regex", "(unclosed"), Check("json_schema", "{bad"),
                                   Check("json_schema", '{"type": 5}'),
                                   Check("max_tokens", "many"), Check("nope", "")])
def test_invalid_checks_are_refused_up_front(check):
    with pytest.raises(CheckError):
        check.validate()


def test_run_checks_labels():
    result = run_checks([Check("contains", "a"), Check("json")], "a", words)
    assert result == {'contains "a"': True, "is valid JSON": False}


def test_a_runaway_regex_stops_at_its_timeout():
    import time

    start = time.monotonic()
    assert run_check(Check("regex", r"(a+)+$"), "a" * 40 + "!", words) is False
    assert time.monotonic() - start < 3
