"""Several jobs queued on one worker: each keeps its own time limit, and one that runs past
it, crashes the worker or raises fails alone while the jobs after it go on."""

from __future__ import annotations

import pytest

from lib.core import WorkerError, WorkerPool


@pytest.fixture
def pool():
    # exec as the handler: each job is a line of Python, run in the worker process.
    pool = WorkerPool("builtins:exec", 1 << 30, size=1, queue_timeout_s=5)
    yield pool
    pool.close()


def kinds(results: list) -> list[str]:
    def kind(r) -> str:
        if not isinstance(r, WorkerError):
            return "ok"
        return "timeout" if r.timed_out else "crash" if "crashed" in str(r) else "error"
    return [kind(r) for r in results]


def test_each_queued_job_has_the_limit_to_itself(pool):
    # Together they run 2.4 s; each is well within its own 1.5 s.
    jobs = ["import time; time.sleep(0.6)"] * 4
    assert kinds(pool.map(jobs, 1.5)) == ["ok"] * 4


def test_a_job_past_its_limit_is_stopped_and_the_rest_go_on(pool):
    slow = "import time; time.sleep(30)"
    results = pool.map(["x = 1", slow, "x = 2", slow, "x = 3"], 1.0)
    assert kinds(results) == ["ok", "timeout", "ok", "timeout", "ok"]
    assert "longer than 1 s" in str(results[1])


def test_a_job_that_kills_its_worker_or_raises_fails_alone(pool):
    results = pool.map(["x = 1", "import os; os._exit(3)", "x = 2", "raise ValueError('bad')",
                        "x = 3"], 5.0)
    assert kinds(results) == ["ok", "crash", "ok", "error", "ok"]
    assert "exit 3" in str(results[1]) and "ValueError: bad" in str(results[3])


def test_replies_stay_with_their_jobs_when_a_worker_dies_while_jobs_are_queued(pool):
    """A worker that dies at once, while the jobs behind it are still being written: those
    are neither lost nor answered by the wrong job's reply (ten tries, to meet the race)."""
    jobs = ["import os; os._exit(3)", "x = 1", "raise ValueError('bad')", "x = 2"]
    for _ in range(10):
        assert kinds(pool.map(jobs, 5.0)) == ["crash", "ok", "error", "ok"]


def test_long_replies_behind_queued_jobs_do_not_jam_the_pipes():
    pool = WorkerPool("builtins:eval", 1 << 30, size=1)
    try:
        results = pool.map(["'x' * 300_000"] * 40, 10.0)
    finally:
        pool.close()
    assert [len(r) for r in results] == [300_000] * 40


def test_call_is_one_job(pool):
    assert pool.call("x = 1", 5.0) is None
    with pytest.raises(WorkerError) as info:
        pool.call("import time; time.sleep(30)", 0.5)
    assert info.value.timed_out
