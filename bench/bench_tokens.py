"""Tokens page with 100k tokens of text: time to first draw in a real browser (Chromium),
from committing the text to its first coloured spans on screen, against the same page with
1k tokens of text. Spans are drawn 2,000 at a time, so the ratio should stay small."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time

from common import ROOT, scratch_data_dir

sys.path.insert(0, str(ROOT / "tests"))
from support import free_port, wait_for_http

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while",
         "seven", "wizards", "quietly", "judge", "boxing", "matches"]


def text_of(tokens: int) -> str:
    """About `tokens` o200k tokens of plain English (one token per word here)."""
    return " ".join(WORDS[i % len(WORDS)] for i in range(tokens))


def first_draw(page, url: str, text: str) -> float:
    page.goto(url + "/tokens")
    box = page.get_by_role("textbox", name="Text")
    box.wait_for(timeout=60_000)
    box.fill(text)
    start = time.perf_counter()
    box.press("Control+Enter")
    page.locator(".pl-tokens .tok").first.wait_for(timeout=120_000)
    return time.perf_counter() - start


def main(runs: int = 3) -> None:
    from playwright.sync_api import sync_playwright

    with scratch_data_dir() as data:
        port = free_port()
        env = {**os.environ, "PROMPTLAB_DATA_DIR": str(data)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_http(url + "/_stcore/health", proc=proc)
            chromium = os.environ.get("PROMPTLAB_CHROMIUM", shutil.which("chromium")
                                      or "/usr/bin/chromium")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=[
                    "--no-sandbox", "--disable-background-networking", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                small, large = text_of(1_000), text_of(100_000)
                first_draw(page, url, small)  # warm the server and the tokenizers
                smalls, larges = [], []
                for _ in range(runs):
                    smalls.append(first_draw(page, url, small))
                    larges.append(first_draw(page, url, large))
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)
    s, big = statistics.median(smalls), statistics.median(larges)
    print(f"{'1k tokens: first draw':<28} median {s * 1000:8.0f} ms over {runs} runs")
    print(f"{'100k tokens: first draw':<28} median {big * 1000:8.0f} ms")
    print(f"{'ratio':<28} {big / s:.2f}x for 100x the text")


if __name__ == "__main__":
    main()
