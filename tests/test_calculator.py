"""The calculator tool against hostile arithmetic: every step is sized before it is done,
so each expression gets a plain error at once and no other thread stands still (Python's big
integers hold the GIL: a thread's timeout could not have stopped them); and a calculation
past its time limit is stopped in its worker process."""

from __future__ import annotations

import time

import pytest
from support import Heartbeat

from lib.agents import BUILTINS, calculate, run_tool
from lib.agents import builtins as builtin_tools
from lib.core import WorkerError
from lib.llm import ToolCall

HOSTILE = [
    "round(1, -10**8)", "round(2.5, 10**9)", "round(7, -(10**5))",
    "((9**999)**999)**99", "(9**999)**999", "9**9**9", "2**2**2**2**2**2", "10**10**10",
    "(10**999)**(10**3)", "999999999**999999999", "-(-9)**(9**9)", "max(9**999, 8**999)**999",
    "9**999*9**999*9**999*9**999*9**999", "(2**9000)*(2**9000)", "(2**9999+1)**2",
    "99999999999999999999**99999", "1" + "*99999999999999999999" * 23 + "**999",
    "2^2^2^2^2^2", "9×9^9^9", "abs(" * 90 + "1" + ")" * 90, "-" * 400 + "1",
    "*".join(["9**999"] * 4), "1e308*1e308", "(-8)**(1/3)", "10**-(10**4000)",
]


@pytest.mark.parametrize("expression", HOSTILE)
def test_hostile_arithmetic_is_refused_at_once_and_no_thread_stands_still(expression):
    call = ToolCall("c1", "calculator", {"expression": expression}, "")
    run_tool(BUILTINS["calculator"], ToolCall("c0", "calculator", {"expression": "1+1"}, ""),
             {})  # the worker is started outside the measure
    with Heartbeat() as beat:
        started = time.monotonic()
        outcome = run_tool(BUILTINS["calculator"], call, {})
        took = time.monotonic() - started
    assert outcome.is_error, outcome.content
    assert took < 1.0 and beat.largest < 0.1, (took, beat.largest)
    assert outcome.content.startswith(("calculator failed: ", "Invalid arguments: "))
    assert "Traceback" not in outcome.content


@pytest.mark.parametrize("expression,shown", [
    ("1234*5678", "7006652"), ("2**9999 % 1000", "688"), ("round(2/3, 3)", "0.667"),
    ("round(123456, -3)", "123000"), ("17 × (3 + 4) ÷ 2", "59.5"), ("sqrt(16) ** 2", "16"),
    ("max(1, 2, 3) - min(4, 5)", "-1"), ("10**-3", "0.001"), ("1234*5678, ", "7006652"),
])
def test_ordinary_arithmetic_still_works(expression, shown):
    assert calculate(expression) == shown
    outcome = run_tool(BUILTINS["calculator"], ToolCall("c", "calculator",
                                                        {"expression": expression}, ""), {})
    assert (outcome.content, outcome.is_error) == (shown, False)


@pytest.mark.parametrize("failure,words", [
    (WorkerError("It took longer than 3 s and was stopped.", timed_out=True), "stopped"),
    (WorkerError("It crashed the worker process (exit -9).", timed_out=False), "crashed"),
    (WorkerError("Every worker was busy for 10 s.", busy=True), "busy"),
])
def test_a_worker_that_fails_is_a_plain_error_for_the_model(monkeypatch, failure, words):
    """Whatever slips past the bounds is stopped with its worker process (lib.core.workers
    kills it at the time limit): the model reads what happened."""
    def fails(payload, timeout):
        raise failure

    monkeypatch.setattr(builtin_tools.CALCULATOR_POOL, "call", fails)
    outcome = run_tool(BUILTINS["calculator"], ToolCall("c", "calculator",
                                                        {"expression": "2 + 2"}, ""), {})
    assert outcome.is_error and words in outcome.content


@pytest.mark.parametrize("expression", ["", " ", "2 + 2; import os", "2\n+2",
                                        ".1234.5678", "a" * 201])
def test_what_is_not_an_arithmetic_expression_is_refused_before_it_runs(expression):
    outcome = run_tool(BUILTINS["calculator"], ToolCall("c", "calculator",
                                                        {"expression": expression}, ""), {})
    assert outcome.is_error and outcome.content.startswith("Invalid arguments: expression")
