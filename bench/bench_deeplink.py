"""Every page URL as a first visit: a fresh server process, a browser opening the page's URL
directly (a bookmark, a tab left open), and the time from process start to the page's first
heading on screen, against an empty Streamlit app timed the same way. Goal: at most 1.5x for
every page."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

sys.path.insert(0, str(ROOT / "tests"))
from support import free_port

PAGES = ["", "chat", "prompts", "compare", "documents", "retrieval", "tokens", "costs", "traces",
         "api"]
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def first_heading_ms(browser, script: Path, path: str, env: dict[str, str]) -> tuple[float, str]:
    """(ms from starting the server to the first h1 on screen, that heading's text)."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    page = browser.new_page()
    try:
        url = f"http://127.0.0.1:{port}/{path}"
        while True:  # the browser tries as soon as the server listens
            try:
                page.goto(url, timeout=2000)
                break
            except Exception:
                if proc.poll() is not None or time.perf_counter() - start > 60:
                    raise
                time.sleep(0.02)
        heading = page.locator("h1").first
        heading.wait_for(timeout=60_000)
        elapsed = (time.perf_counter() - start) * 1000
        return elapsed, heading.inner_text()
    finally:
        page.close()
        proc.terminate()
        proc.wait(10)


def main(runs: int) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="promptlab-bench-") as d:
        data = Path(d) / "data"
        shutil.copytree(ROOT / "prompts", Path(d) / "prompts")
        env = {**os.environ, "PROMPTLAB_DATA_DIR": str(data), "PROMPTLAB_SECRETS_FILE": os.devnull,
               "PROMPTLAB_PROMPTS_DIR": str(Path(d) / "prompts"), "HF_HUB_OFFLINE": "1"}
        empty = Path(d) / "empty_app.py"
        empty.write_text("import streamlit as st\nst.title('Empty')\n")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=ARGS)
            first_heading_ms(browser, ROOT / "Home.py", "", env)  # create the database
            empties = [first_heading_ms(browser, empty, "", env)[0] for _ in range(runs)]
            base = statistics.median(empties)
            print(f"{'empty app':<12} median {base:7.0f} ms over {runs} fresh servers")
            worst = 0.0
            for path in PAGES:
                times, title = [], ""
                for _ in range(runs):
                    ms, title = first_heading_ms(browser, ROOT / "Home.py", path, env)
                    times.append(ms)
                ratio = statistics.median(times) / base
                worst = max(worst, ratio)
                print(f"{'/' + path:<12} median {statistics.median(times):7.0f} ms  {ratio:.2f}x"
                      f"  first heading: {title!r}")
            browser.close()
    print(f"{'worst page':<12} {worst:.2f}x  (goal: <= 1.5x for every page)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    main(parser.parse_args().runs)
