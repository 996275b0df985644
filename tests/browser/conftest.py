"""Browser tests: the real app served on 127.0.0.1, driven by Playwright in Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support import free_port, listening_port, track_runs, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PROMPTLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test-deps`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def app_data(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def app_env() -> dict[str, str] | Callable[[int], dict[str, str]]:
    """Extra settings for the app under test; a test module overrides this fixture. Settings
    that must name the app's own address (a sign-in redirect) are a function of its port."""
    return {}


@pytest.fixture
def app_url(tmp_path, app_data, app_env):
    """A fresh app with its own empty data directory, serving on loopback only.

    It starts on port 0 and the test reads the port it bound. Settings that must name the
    port first get one picked beforehand; should another process take it in the meantime,
    Streamlit says the port is not available and exits, and the app starts on another."""
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    base = {**os.environ, "PROMPTLAB_DATA_DIR": str(app_data),
            "PROMPTLAB_PROMPTS_DIR": str(tmp_path / "prompts"),
            "PROMPTLAB_SECRETS_FILE": os.devnull, "HF_HUB_OFFLINE": "1"}

    def start(port: int) -> subprocess.Popen:
        extra = app_env(port) if callable(app_env) else app_env
        env = {**base, **extra}
        for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "PROMPTLAB_OPENAI_BASE_URL"):
            if var not in extra:
                env.pop(var, None)
        return subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    proc = None
    try:
        for _ in range(5):
            proc = start(free_port() if callable(app_env) else 0)
            port = listening_port(proc)
            if port is not None:
                break
            out, _ = proc.communicate()
            if "is not available" not in out:  # Streamlit's words for a port another holds
                raise RuntimeError(f"the app did not start:\n{out}")
        else:
            raise RuntimeError("five ports in a row were taken before the app bound one")
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/_stcore/health", proc=proc)
        yield url
    finally:
        if proc is not None and proc.returncode is None:  # not yet ended and read
            proc.terminate()
            try:
                out, _ = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            if "Traceback" in (out or ""):
                print(out)


@pytest.fixture
def page(browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # first loads warm the model and tokenizers
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    track_runs(pg)
    yield pg
    context.close()



class Beacon:
    """A loopback listener that records every request: an image fetched from untrusted text
    would reach it."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.hits: list[str] = []
        beacon = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                beacon.hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, tag: str) -> str:
        return f"http://127.0.0.1:{self.port}/{tag}"

    def marker(self, tag: str) -> str:
        """The end of a payload's URL, which reads the same however it was escaped."""
        return f"{self.port}/{tag}"

    def payloads(self, tag: str, *, one_line: bool = False,
                 in_name: bool = False) -> dict[str, str]:
        """A Markdown image, a reference-style one, an HTML image and an autolink."""
        def url(kind: str) -> str:
            return self.url(f"{tag}-{kind}")

        ref = (f"![b][r{tag}] [r{tag}]: {url('ref')}" if one_line else
               f"![b][r{tag}]\n\n[r{tag}]: {url('ref')}")
        quote = "" if in_name else '"'  # an upload's name carries " as %22
        return {"md": f"![a]({url('md')})", "ref": ref,
                "html": f"<img src={quote}{url('html')}{quote}>", "auto": f"<{url('auto')}>"}


@pytest.fixture
def beacon():
    b = Beacon()
    yield b
    b.server.shutdown()
    b.server.server_close()


@pytest.fixture
def dialogs(page) -> list[str]:
    """Every alert, confirm or prompt a page raises (none should)."""
    seen: list[str] = []
    page.on("dialog", lambda d: (seen.append(d.message), d.dismiss()))
    return seen
