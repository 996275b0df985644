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


def test_checks_against_the_expected_answer():
    count = len
    exact, normal = Check("exact"), Check("normalised")
    assert run_checks([exact, normal], " Bug report\n", count, expected="Bug report") == {
        "exact match": True, "normalised match": True}
    assert run_checks([exact, normal], "bug-report!", count, expected="Bug report") == {
        "exact match": False, "normalised match": True}
    # Without an expected answer on the row, these checks fail rather than pass.
    assert run_checks([exact], "x", count) == {"exact match": False}


def test_json_fields_give_one_result_per_field():
    out = run_checks([Check("json_fields")], '```json\n{"name": "Ada", "age": 36}\n```', len,
                     expected='{"name": "Ada", "age": 37}')
    assert out == {"fields equal": False, "field age": False, "field name": True}
    named = run_checks([Check("json_fields", "name, city.zip")],
                       '{"name": "Ada", "city": {"zip": "N1"}}', len,
                       expected='{"name": "Ada", "city": {"zip": "N1"}, "age": 1}')
    assert named == {"fields name, city.zip equal": True, "field name": True,
                     "field city.zip": True}
    assert run_checks([Check("json_fields")], "not json", len, expected='{"a": 1}') == {
        "fields equal": False, "field a": False}
    assert run_checks([Check("json_fields")], "{}", len, expected="not json") == {
        "fields equal": False, "field (the expected answer is not JSON)": False}


def test_semantic_similarity_uses_its_threshold(settings):
    from lib.compare import similarity_with

    similar = similarity_with(settings)  # the bundled embedder
    assert similar("The app crashes on save.", "The app crashes on save.") > 0.99
    loose, strict = Check("semantic", "0.5"), Check("semantic", "0.99")
    out = run_checks([loose, strict], "The application crashes when saving.", len,
                     expected="The app crashes on save.", similar=similar)
    assert out == {"similar ≥ 0.5": True, "similar ≥ 0.99": False}
    with pytest.raises(CheckError, match="above 0 and at most 1"):
        Check("semantic", "1.5").validate()
