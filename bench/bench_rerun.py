"""What a rerun costs: every widget change reruns the whole page, so a page should pay for
what it draws, not for what it re-reads. In a real browser, the time from a widget change to
the page settled (its script run finished, as the browser hears it, and drawn) on:

- Chat, a 20-message conversation open (ten real turns: each reply with its metrics, call
  link and context anatomy, as in use): a sidebar setting changed (Max output tokens);
- Compare, a saved 50-row, 2-variant run open: a rerun (Streamlit's "r" shortcut, the same
  script run a widget change makes, the page has no sidebar setting);
- Costs, 5,000 ledger rows: a rerun;

each against an empty Streamlit app doing the same (a sidebar number changed; a rerun),
interleaved in the same run. Goal: at most 1.5x on each, against a stock empty app
(Streamlit's own settings). Also printed: the same empty app under the lab's settings
(.streamlit/config.toml: no full garbage collection after each run, which is most of what
a stock app's rerun costs). Messages and outputs are CISI abstracts (public, not written
here).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, cisi_documents

sys.path.insert(0, str(ROOT / "tests"))
from support import free_port, wait_for_http

# The last three: a page that is not in front is neither throttled nor paused (the bench
# keeps several open and changes them in turn).
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows"]
EMPTY_APP = """import streamlit as st
st.title("Empty")
st.sidebar.number_input("Max output tokens", 1, 4096, 512, 64)
"""


class Abstracts:
    """Answers each request with the next CISI abstract, streamed as a model would."""

    name = "bench"

    def __init__(self, texts: list[str], most: int = 400) -> None:
        self.texts, self.next, self.most = texts, 0, most

    def stream(self, request):
        from lib.llm import Stop, TextDelta, Usage

        text = self.texts[self.next % len(self.texts)][:self.most]
        self.next += 1
        for word in text.split(" "):
            yield TextDelta(word + " ")
        yield Usage(180, len(text) // 4)
        yield Stop("end_turn")


def seed(data: Path) -> tuple[int, int]:
    """A 20-message conversation, a saved 50-row run and 5,000 ledger rows; their ids."""
    os.environ["PROMPTLAB_DATA_DIR"] = str(data)
    os.environ["PROMPTLAB_SECRETS_FILE"] = os.devnull
    from lib import chat, compare, spend
    from lib.core import get_settings
    from lib.llm import Calls, load_catalog
    from lib.prompts import PromptStore

    settings = get_settings()
    docs = list(cisi_documents().values())
    local = "local/smollm2-135m-instruct"
    conv = chat.create_conversation(settings.db, title="CISI reading list", model=local)
    # Ten real turns (each reply with its call, metrics and "Call details" link, as in use),
    # answered by CISI abstracts.
    model = load_catalog(settings).get(local)
    replies = Abstracts([text for _, text in docs[:10]], most=1200)
    calls = Calls(settings, provider_for=lambda _model: replies)
    for turn in range(10):
        session = chat.ChatSession(settings, chat.get_conversation(settings.db, conv),
                                   calls=calls)
        list(session.draft(chat.TurnOptions(max_tokens=400),
                           chat.Ask(f"Summarise: {docs[turn][0]}"), model).send())
    resolved = compare.resolve(PromptStore(settings.prompts_dir), load_catalog(settings),
                               [compare.Variant("summarizer", "production", local, 0.2, 64),
                                compare.Variant("summarizer", "production", local, 0.9, 64)])
    rows = [{"text": docs[i][1][:600]} for i in range(50)]
    run = compare.create_run(settings.db, "CISI summaries", resolved, rows, [])
    plan = compare.forecast(settings, resolved, rows)
    # The run's cells answered by CISI abstracts through the real engine and ledger.
    answers = Abstracts([text for _, text in docs[50:]])
    list(compare.execute(settings, run, resolved, plan, [], concurrency=2,
                         calls=Calls(settings, provider_for=lambda _model: answers)))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    spend.record_many(settings.db, [spend.CallRecord(
        ts=(start + dt.timedelta(minutes=9 * i)).isoformat(timespec="milliseconds"),
        page=("chat", "compare", "api")[i % 3], provider="local",
        model="smollm2-135m-instruct", attempts=1, status="ok", total_ms=400.0 + i % 50,
        ttft_ms=40.0, input_tokens=100 + i % 300, output_tokens=40 + i % 90,
        prompt_name=("summarizer", None)[i % 2], prompt_version=(1, None)[i % 2])
        for i in range(5000)])
    return conv, run


def serve(script: Path, env: dict[str, str], cwd: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """The app at `script`, under the settings of `cwd`/.streamlit (none: Streamlit's own)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"], cwd=cwd, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/_stcore/health", proc=proc)
    return proc, url


# Timed inside the page, on the page's clock: when the key that starts a rerun went down, and
# when Streamlit's `script_finished` message for that run arrived (field 6 of a ForwardMsg,
# found by walking the message's top-level fields) and the page then drew two frames. Timing
# in the page leaves out what the bench itself costs: Playwright hands every websocket frame
# to Python, and a page of 150 elements sends 150 frames an empty app does not.
TIMER = """(() => {
  const t = window.__runs = {keys: [], finished: []};
  addEventListener('keydown', e => {
    if (e.key === 'Enter' || e.key === 'r') t.keys.push(performance.now());
  }, true);
  const finished = bytes => {
    let i = 0;
    const varint = () => { let v = 0, m = 1, b;
      do { b = bytes[i++]; v += (b & 127) * m; m *= 128; } while (b & 128); return v; };
    while (i < bytes.length) {
      const key = varint(), field = Math.floor(key / 8), wire = key & 7;
      if (field === 6 && wire === 0) return true;
      if (wire === 0) varint(); else if (wire === 1) i += 8; else if (wire === 5) i += 4;
      else if (wire === 2) { const n = varint(); i += n; } else return false;
    }
    return false;
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', e => {
        if (e.data instanceof ArrayBuffer && finished(new Uint8Array(e.data)))
          requestAnimationFrame(() => requestAnimationFrame(
            () => t.finished.push(performance.now())));
      });
    }
  };
})();"""


class Runs:
    """The script runs a page's session finished, as the page heard and drew them (TIMER)."""

    def __init__(self, page) -> None:
        self.page = page
        page.add_init_script(TIMER)

    @property
    def done(self) -> int:
        return self.page.evaluate("() => window.__runs ? window.__runs.finished.length : 0")

    def after(self, seen: int, timeout_s: float = 120.0) -> float:
        """Wait until a run beyond the first `seen` has finished and been drawn; the
        milliseconds from the last key pressed to then (the page's own clock)."""
        self.page.wait_for_function(f"() => window.__runs && window.__runs.finished.length > "
                                    f"{seen}", timeout=timeout_s * 1000)
        return self.page.evaluate("() => window.__runs.finished[window.__runs.finished.length"
                                  " - 1] - window.__runs.keys[window.__runs.keys.length - 1]")


def change(page, runs: Runs, how: str, step: int) -> float:
    """Milliseconds from a widget change to the page settled (its run finished and drawn):
    the sidebar's "Max output tokens" set to 500 or 510 in turn (typed, then Enter), or a
    rerun (Streamlit's "r" shortcut)."""
    seen = runs.done
    if how == "widget":
        box = page.get_by_test_id("stSidebar").get_by_label("Max output tokens")
        box.fill(str(500 + 10 * (step % 2)))
        box.press("Enter")
    else:
        page.keyboard.press("r")
    return runs.after(seen)


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    runs = Runs(page)
    page.goto(url)
    page.locator("h1").first.wait_for(timeout=120_000)
    runs.after(0)
    return page, runs


def main(runs: int, only: str) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="promptlab-bench-") as d:
        root = Path(d)
        shutil.copytree(ROOT / "prompts", root / "prompts")
        os.environ["PROMPTLAB_PROMPTS_DIR"] = str(root / "prompts")
        conv, run = seed(root / "data")
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        (root / "empty_app.py").write_text(EMPTY_APP)
        servers = {"app": serve(ROOT / "Home.py", env),
                   "stock": serve(root / "empty_app.py", env, cwd=root),
                   "lab": serve(root / "empty_app.py", env)}
        cases = [("Chat (20 messages)", f"/chat?c={conv}", "widget"),
                 ("Compare (saved 50-row run)", f"/compare_run?run={run}", "rerun"),
                 ("Costs (5,000 rows)", "/costs", "rerun")]
        cases = [c for c in cases if only.lower() in c[0].lower()]
        worst = 0.0
        try:
            with sync_playwright() as p:
                # A browser each: a page in the background of a browser is throttled. Each
                # empty app has one page per kind of change (a widget that has the keyboard
                # would take the rerun key).
                def browser():
                    return p.chromium.launch(executable_path="/usr/bin/chromium",
                                             headless=True, args=ARGS)
                blanks = {(kind, how): open_page(browser(), servers[kind][1])
                          for kind in ("stock", "lab") for how in ("widget", "rerun")}
                ours_browser = browser()
                for name, path, how in cases:
                    page, page_runs = open_page(ours_browser, servers["app"][1] + path)
                    for i in range(2):  # warm all: the first rerun loads caches
                        for target, target_runs in (page, page_runs), *(
                                blanks[kind, how] for kind in ("stock", "lab")):
                            change(target, target_runs, how, i)
                    ours: list[float] = []
                    base: dict[str, list[float]] = {"stock": [], "lab": []}
                    for i in range(runs):  # interleaved, so load hits all alike
                        ours.append(change(page, page_runs, how, i))
                        for kind in base:
                            base[kind].append(change(*blanks[kind, how], how, i))
                    mine = statistics.median(ours)
                    stock, lab = (statistics.median(base[k]) for k in ("stock", "lab"))
                    worst = max(worst, mine / stock)
                    print(f"{name:<28} {how:<6} median {mine:6.1f} ms (p90 "
                          f"{sorted(ours)[int(0.9 * len(ours))]:.0f}) vs a stock empty app "
                          f"{stock:5.1f} ms: {mine / stock:.2f}x; vs one under the lab's "
                          f"settings {lab:5.1f} ms: {mine / lab:.2f}x (n={runs})")
                    page.close()
        finally:
            for proc, _url in servers.values():
                proc.terminate()
                proc.wait(10)
    print(f"{'worst page':<28} {worst:.2f}x a stock empty app  (goal: <= 1.5x on each)")
    sys.exit(0 if worst <= 1.5 else 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=14, help="changes measured per page")
    parser.add_argument("--only", default="", help="measure only pages whose name has this")
    args = parser.parse_args()
    main(args.runs, args.only)
