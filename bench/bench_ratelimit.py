"""Client-side rate limits on a Compare run against a server that enforces its own.

A Compare run of 200 rows (one CISI title per row, through the shipped summarizer prompt, one
variant on an OpenAI-compatible model, max 16 output tokens, concurrency =
settings.compare_concurrency) goes through the app's own service (lib.compare: dataset,
resolve, forecast, create_run, execute, as the Compare page calls them) to a fast fake server
on loopback that allows 60 requests per rolling 60 s: a request over the limit gets HTTP 429,
a JSON rate_limit_error body and Retry-After (whole seconds until a slot frees).

A. PROMPTLAB_RATE_LIMITS="compat=60": the wall time against the ideal that the server's rule
   allows (request k goes no earlier than request k-60 plus 60 s: 1-60 at t=0, 61-120 at
   60 s, ...; simulated with the run's concurrency and the server's measured service time),
   the ratio, the 429s received, the cells ok / not ok, and the most requests any 60-s window
   at the server accepted. Goal: zero 429s, every cell ok.
B. The baseline, the same run with no limiter (PROMPTLAB_RATE_LIMITS unset): the 429s, the
   cells ok / not ok and the wall time; the retry loop honours Retry-After (up to 60 s, 3
   attempts). Stopped (the run's cancel) after B_CAP_S; a cell asleep in a Retry-After wait
   finishes that wait first.

The Compare page asks for two to four variants; the bench resolves them as the page does and
runs one, so that 200 rows are 200 requests. Each run has its own scratch data dir and its own
server; the process-wide guards are reset between runs.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import cisi_documents, scratch_data_dir

ROWS = 200
RPM = 60
WINDOW_S = 60.0
MODEL = "bench-rl"
MAX_TOKENS = 16
B_CAP_S = 210.0          # run B is stopped after this long (see the docstring)
REPLY = ("A short ", "summary ", "of the ", "title.")


# -- the server ------------------------------------------------------------------------------
@dataclass
class Limited:
    """The server's state: 60 accepted per rolling 60 s, every request's time on its clock."""

    rpm: int = RPM
    t0: float = 0.0                                        # when the client run started
    accepted: list[float] = field(default_factory=list)
    rejected: list[float] = field(default_factory=list)
    service_s: list[float] = field(default_factory=list)   # accepted: arrival to last byte
    _window: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self) -> tuple[float, float | None]:
        """(arrival time, None) if accepted; (arrival time, retry-after seconds) if not."""
        with self._lock:
            now = time.monotonic()
            while self._window and self._window[0] <= now - WINDOW_S:
                self._window.popleft()
            if len(self._window) >= self.rpm:
                self.rejected.append(now)
                return now, self._window[0] + WINDOW_S - now
            self._window.append(now)
            self.accepted.append(now)
            return now, None

    def done(self, arrived: float) -> None:
        with self._lock:
            self.service_s.append(time.monotonic() - arrived)

    def busiest_window(self, times: list[float]) -> int:
        """The most of `times` inside any 60-s window (each window starts at one of them)."""
        ts, best, j = sorted(times), 0, 0
        for i, t in enumerate(ts):
            while j < len(ts) and ts[j] < t + WINDOW_S:
                j += 1
            best = max(best, j - i)
        return best


def _handler(server_state: Limited) -> type[BaseHTTPRequestHandler]:
    def event(data: dict) -> bytes:
        return f"data: {json.dumps(data)}\n\n".encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # /v1/models: not counted against the limit
            self._json(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "owned_by": "bench"}]})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            arrived, wait = server_state.admit()
            if wait is not None:
                self._json(429, {"error": {
                    "message": f"Rate limit reached: {server_state.rpm} requests per minute.",
                    "type": "rate_limit_error"}}, {"retry-after": str(max(1, math.ceil(wait)))})
                return
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
                    "model": MODEL}
            for text in REPLY:
                self.wfile.write(event({**base, "choices": [
                    {"index": 0, "delta": {"content": text}, "finish_reason": None}]}))
            self.wfile.write(event({**base, "choices": [
                {"index": 0, "delta": {}, "finish_reason": "stop"}]}))
            self.wfile.write(event({**base, "choices": [], "usage": {
                "prompt_tokens": 60, "completion_tokens": 8, "total_tokens": 68}}))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True
            server_state.done(arrived)

        def _json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def limited_server(state: Limited) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


# -- the ideal -------------------------------------------------------------------------------
def ideal_s(n: int, rpm: int, window_s: float, concurrency: int, service_s: float) -> float:
    """The earliest the last of n requests can finish under the server's rule: request k
    starts when a worker is free and no earlier than request k-rpm's start plus the window."""
    starts: list[float] = []
    free = [0.0] * concurrency
    for k in range(n):
        w = min(range(concurrency), key=free.__getitem__)
        at = max(free[w], starts[k - rpm] + window_s if k >= rpm else 0.0)
        starts.append(at)
        free[w] = at + service_s
    return max(free)


# -- one run ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    label: str
    wall_s: float
    cells: dict[str, int]
    server: Limited
    attempts: int
    concurrency: int
    capped: bool = False


def compare_run(label: str, rows_csv: bytes, limits: str, cap_s: float | None) -> Outcome:
    from lib import compare
    from lib.core import load_settings
    from lib.llm import GUARDS, load_catalog, parse_limits
    from lib.prompts import PromptStore
    from lib.spend import get_call

    state = Limited(rpm=RPM)
    with limited_server(state) as url, scratch_data_dir():
        os.environ["PROMPTLAB_OPENAI_BASE_URL"] = url
        os.environ["PROMPTLAB_OPENAI_MODELS"] = MODEL
        if limits:
            os.environ["PROMPTLAB_RATE_LIMITS"] = limits
        else:
            os.environ.pop("PROMPTLAB_RATE_LIMITS", None)
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        GUARDS.reset()                               # breakers closed, limiters empty
        GUARDS.configure(parse_limits(settings.rate_limits))  # {} for the baseline

        # As the Compare page: a CSV upload, resolved variants, a forecast, a saved run.
        dataset = compare.parse_csv(rows_csv, "cisi-titles.csv")
        rows = list(dataset.rows)
        variant = compare.Variant("summarizer", "production", f"compat/{MODEL}", 0.3,
                                  MAX_TOKENS)
        resolved = compare.resolve(PromptStore(settings.prompts_dir), load_catalog(settings),
                                   [variant, variant])[:1]   # the page needs two; run one
        plan = compare.forecast(settings, resolved, rows)
        assert len(plan.cells) == ROWS and not plan.problems, plan.problems[:3]
        ds_id = compare.save_dataset(settings.db, dataset)
        run_id = compare.create_run(settings.db, f"bench {label}", resolved, rows, [], ds_id)

        cancel, capped = threading.Event(), threading.Event()

        def stop() -> None:
            capped.set()
            cancel.set()

        timer = threading.Timer(cap_s, stop) if cap_s else None
        start = time.monotonic()
        if timer:
            timer.start()
        try:
            for _ in compare.execute(settings, run_id, resolved, plan, [],
                                     concurrency=settings.compare_concurrency, cancel=cancel):
                pass
        finally:
            if timer:
                timer.cancel()
        wall = time.monotonic() - start

        run = compare.load_run(settings.db, run_id)
        cells: dict[str, int] = {}
        attempts = 0
        for cell in run.cells.values():
            cells[cell.status] = cells.get(cell.status, 0) + 1
            if cell.call_id is not None and (rec := get_call(settings.db, cell.call_id)):
                attempts += rec.attempts
        for key in ("PROMPTLAB_OPENAI_BASE_URL", "PROMPTLAB_OPENAI_MODELS",
                    "PROMPTLAB_RATE_LIMITS"):
            os.environ.pop(key, None)
        state.t0 = start
        return Outcome(label, wall, cells, state, attempts, settings.compare_concurrency,
                       capped=capped.is_set())


def titles_csv() -> bytes:
    docs = cisi_documents()
    titles = [docs[i][0] for i in sorted(docs) if docs[i][0]][:ROWS]
    assert len(titles) == ROWS
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["text"])
    writer.writerows([t] for t in titles)
    return out.getvalue().encode()


def cells_text(o: Outcome) -> str:
    ok = o.cells.get("ok", 0)
    rest = ", ".join(f"{k} {v}" for k, v in sorted(o.cells.items()) if k != "ok")
    return f"{ok} ok" + (f" / {rest}" if rest else "")


def main() -> int:
    rows_csv = titles_csv()
    print(f"{ROWS} rows (CISI titles), 1 variant compat/{MODEL} via prompts/summarizer, "
          f"max_tokens={MAX_TOKENS}; server allows {RPM} requests per rolling "
          f"{WINDOW_S:.0f} s", flush=True)

    a = compare_run("A: limiter compat=60", rows_csv, f"compat={RPM}", None)
    service = statistics.median(a.server.service_s) if a.server.service_s else 0.0
    ideal = ideal_s(ROWS, RPM, WINDOW_S, a.concurrency, service)
    a_busiest = a.server.busiest_window(a.server.accepted)
    a_sent = a.server.busiest_window(a.server.accepted + a.server.rejected)
    first = min(a.server.accepted + a.server.rejected) - a.server.t0
    print(f"\nRun A (PROMPTLAB_RATE_LIMITS=compat={RPM}, concurrency {a.concurrency})")
    print(f"{'wall time':<34} {a.wall_s:8.2f} s")
    print(f"{'ideal (server rule, simulated)':<34} {ideal:8.2f} s  (service p50 "
          f"{service * 1000:.1f} ms; first request reached the server "
          f"{first * 1000:.0f} ms after the run started)")
    print(f"{'wall / ideal':<34} {a.wall_s / ideal:8.3f}x")
    print(f"{'429s received':<34} {len(a.server.rejected):8d}    (goal: 0)")
    print(f"{'accepted requests':<34} {len(a.server.accepted):8d}")
    print(f"{'attempts (ledger)':<34} {a.attempts:8d}")
    print(f"{'cells':<34} {cells_text(a)}")
    print(f"{'most accepted in any 60-s window':<34} {a_busiest:8d}    (limit {RPM}; all "
          f"requests, 429s included: {a_sent})", flush=True)

    b = compare_run("B: no limiter", rows_csv, "", B_CAP_S)
    b_busiest = b.server.busiest_window(b.server.accepted)
    print(f"\nRun B (no limiter, concurrency {b.concurrency}"
          f"{f'; stopped at {B_CAP_S:.0f} s' if b.capped else ''})")
    print(f"{'wall time':<34} {b.wall_s:8.2f} s"
          + ("  (capped: cells not started by then are cancelled)" if b.capped else ""))
    print(f"{'429s received':<34} {len(b.server.rejected):8d}")
    print(f"{'accepted requests':<34} {len(b.server.accepted):8d}")
    print(f"{'attempts (ledger)':<34} {b.attempts:8d}")
    print(f"{'cells':<34} {cells_text(b)}")
    print(f"{'most accepted in any 60-s window':<34} {b_busiest:8d}")

    print("\n" + " | ".join(f"{h:>14}" for h in ("run", "wall s", "ideal s", "wall/ideal",
                                                 "429s", "cells ok", "cells not ok")))
    for o in (a, b):
        bad = sum(v for k, v in o.cells.items() if k != "ok")
        print(" | ".join(f"{v:>14}" for v in (
            o.label.split(":")[0] + (" (capped)" if o.capped else ""), f"{o.wall_s:.1f}",
            f"{ideal:.1f}", f"{o.wall_s / ideal:.3f}x", len(o.server.rejected),
            o.cells.get("ok", 0), bad)))

    met = not a.server.rejected and a.cells.get("ok", 0) == ROWS and a_busiest <= RPM
    print(f"\ngoal (run A: zero 429s, every cell ok, no window over {RPM}): "
          f"{'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
