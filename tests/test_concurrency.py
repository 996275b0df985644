"""Shared, process-wide resources under several sessions at once: heavy things load once,
one slow job does not stall other users, and index handles never go stale."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from support import together

from lib import knowledge, prompts
from lib.core import Once, ParseError, RenderError, Worker, WorkerError, WorkerPool

SESSIONS = 8


def test_a_load_once_cache_builds_once_when_sessions_ask_together():
    built = []
    asked: set[int] = set()  # the threads that have looked the key up
    everyone_asked = threading.Condition()

    class Key:
        """A cache key that notes each thread looking it up: the cache hashes it first, so a
        thread noted while the value is still being built has missed the cache."""

        def __hash__(self) -> int:
            with everyone_asked:
                asked.add(threading.get_ident())
                everyone_asked.notify_all()
            return 1

    def load(key: Key, size: int = 1) -> object:
        with everyone_asked:  # every session misses the cache while this one builds
            if not everyone_asked.wait_for(lambda: len(asked) >= SESSIONS, timeout=60):
                raise TimeoutError(f"only {len(asked)} of {SESSIONS} sessions asked")
        built.append(key)
        return object()

    key = Key()
    cached = Once(load)
    results = together(lambda i: cached(key), SESSIONS)
    assert built == [key]
    assert all(r is results[0] for r in results)
    assert cached(key, 1) is results[0]  # a default spelled out is the same call


def test_a_failed_load_is_not_cached():
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk hiccup")
        return "loaded"

    cached = Once(flaky)
    with pytest.raises(OSError):
        cached()
    assert cached() == "loaded" and len(attempts) == 2


def test_the_embedding_model_is_one_object_for_every_session(settings):
    from sentence_transformers import SentenceTransformer

    name = knowledge.model_name(settings)
    results = together(lambda i: knowledge.embedding_model(name), n=4)
    assert isinstance(results[0], SentenceTransformer)  # not None, not an exception
    assert all(r is results[0] for r in results)


def test_keyword_tokens_are_the_same_when_sessions_tokenize_together():
    texts = [f"Serialized objects are serializing {i} times; running runners ran." * 20
             for i in range(SESSIONS)]
    alone = [knowledge.keyword_tokens([t]).vocab for t in texts]
    for _ in range(5):
        assert together(lambda i: knowledge.keyword_tokens([texts[i]]).vocab, SESSIONS) == alone


def in_background(fn) -> tuple[threading.Thread, list[Exception]]:
    """Start fn in a thread; the list collects what it raised."""
    raised: list[Exception] = []

    def run() -> None:
        try:
            fn()
        except Exception as exc:  # asserted on by the caller
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, raised


def handed_over(monkeypatch: pytest.MonkeyPatch, wanted: Callable[[Any], bool]
                ) -> threading.Event:
    """Set once a job that `wanted` picks is written to a worker: from then on that worker
    is its caller's, busy with the job."""
    handed = threading.Event()
    send = Worker.send

    def sending(worker: Worker, payload: Any) -> None:
        send(worker, payload)
        if wanted(payload):
            handed.set()

    monkeypatch.setattr(Worker, "send", sending)
    return handed


def slow_html(paragraphs: int) -> bytes:
    return ("<html><body>" + "".join(
        f"<div><p>Paragraph {i} of a long page.</p></div>" for i in range(paragraphs))
        + "</body></html>").encode()


def test_a_slow_parse_does_not_delay_another_users_small_upload(monkeypatch):
    big = slow_html(100_000)  # about five seconds of HTML parsing, under the size caps
    small = b"A small note.\n\nIt has two paragraphs."
    knowledge.parse(small, "warm.txt")  # the pool is warm, as on a running server
    done: dict[str, float] = {}

    def parse_big() -> None:
        knowledge.parse(big, "big.html")
        done["big"] = time.monotonic()

    parsing = handed_over(monkeypatch, lambda job: job["files"][0]["name"] == "big.html")
    slow = threading.Thread(target=parse_big)
    slow.start()
    assert parsing.wait(60), "the big file never reached a parser"
    start = time.monotonic()
    parsed = knowledge.parse(small, "small.txt")
    done["small"] = time.monotonic()
    slow.join(60)
    assert parsed.kind == "text"
    assert done["small"] - start < 1.0, f"small upload took {done['small'] - start:.2f} s"
    assert done["small"] < done["big"], "the big parse should still have been running"


def test_a_pool_with_every_worker_busy_says_so(tmp_path, monkeypatch):
    import os

    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)  # opening it blocks until a writer comes: the one worker stays busy
    pool = WorkerPool("lib.knowledge.parsers:parse_job", 1 << 30, size=1, queue_timeout_s=0.2)
    holding = handed_over(monkeypatch, lambda job: job["files"][0]["path"] == str(fifo))
    try:
        hold, raised = in_background(lambda: pool.call({"files": [{"path": str(fifo)}]}, 2.0))
        assert holding.wait(60), "the stuck job never reached the worker"
        with pytest.raises(WorkerError) as info:
            pool.call({"files": [{"path": "/dev/null"}]}, 1.0)
        assert info.value.busy
        hold.join(10)
        assert len(raised) == 1 and raised[0].timed_out  # the stuck job was stopped
    finally:
        pool.close()


def test_renders_go_on_while_one_template_runs_away(monkeypatch):
    endless = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    prompts.render("warm {{ x }}", {"x": 1})
    running = handed_over(monkeypatch, lambda job: job[0] == endless)
    runaway, raised = in_background(lambda: prompts.render(endless, {}))
    assert running.wait(60), "the runaway template never reached a worker"
    start = time.monotonic()
    assert prompts.render("Hello {{ name }}", {"name": "Ada"}) == "Hello Ada"
    assert time.monotonic() - start < 1.0
    runaway.join(10)
    assert [e.reason for e in raised if isinstance(e, RenderError)] == ["timeout"]


@pytest.mark.usefixtures("backend")  # the registry on SQLite, then on PostgreSQL
def test_searches_never_see_a_stale_index_while_another_session_rebuilds(settings):
    kb = knowledge.create_kb(settings, "busy")
    knowledge.ingest(settings, kb, [(f"note{i}.md", f"# Note {i}\n\nThe lighthouse keeper "
                                     f"wrote entry {i} about the storm.".encode())
                                    for i in range(6)])
    before = [h.chunk_id for h in knowledge.search(settings, kb, "lighthouse storm", 3,
                                                   "dense")]
    errors: list[Exception] = []
    stop = threading.Event()

    def searching() -> None:
        while not stop.is_set():
            try:
                knowledge.search(settings, kb, "lighthouse storm", 3, "hybrid")
            except Exception as exc:  # collected: the assertion below reports them
                errors.append(exc)

    reader = threading.Thread(target=searching)
    reader.start()
    for _ in range(3):
        assert knowledge.rebuild_index(settings, kb) == 6
    stop.set()
    reader.join(30)
    assert errors == []
    after = [h.chunk_id for h in knowledge.search(settings, kb, "lighthouse storm", 3, "dense")]
    assert after == before
    assert knowledge.index_health(settings, kb).agrees


def test_parse_errors_name_the_file():
    with pytest.raises(ParseError, match=r"empty\.txt"):
        knowledge.parse(b"   ", "empty.txt")


def test_workers_start_when_the_process_has_many_files_open(tmp_path):
    """A long-lived server holds many sockets and files: select() refused descriptors > 1023."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("this machine allows too few open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    pool = WorkerPool("lib.prompts.sandbox:render_job", 512 << 20, size=1)
    try:
        assert pool.call(["{{ 1 + 1 }}", {}], 30) == [True, "2"]
    finally:
        pool.close()
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
