"""Helpers for tests that start real servers."""

from __future__ import annotations

import contextlib


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float = 60.0, proc=None) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


def wait_idle(page) -> None:
    """Wait until Streamlit has finished running the script (no "Running..." indicator)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText"
        ".includes('Running')", timeout=60_000)


def wait_rerun(page, start_within_ms: int = 2_000) -> None:
    """After a widget change: wait for the rerun it starts to finish (wait_idle alone can
    return before the rerun has begun). The app's script state is on stApp."""
    state = "document.querySelector('[data-testid=\"stApp\"]')"
    with contextlib.suppress(Exception):  # it may have run and finished already
        page.wait_for_function(f"() => {state}?.dataset.testScriptState === 'running'",
                               timeout=start_within_ms)
    page.wait_for_function(f"() => {state}?.dataset.testScriptState !== 'running'",
                           timeout=60_000)


def wait_script_idle(page) -> None:
    """Wait until no run is going or asked for (a list opened during a run may be closed by
    the redraw that ends it)."""
    state = "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState"
    page.wait_for_function(f"() => !['running', 'rerunRequested'].includes({state})",
                           timeout=60_000)


def shown(markdown: str) -> str:
    """What a reader sees of Markdown text that lib.ui.text escaped: the backslashes go."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def pick_in_sidebar(page, combobox: str, option: str) -> None:
    """Choose `option` (part of its label will do) in the sidebar's `combobox`."""
    choose(page, page.get_by_test_id("stSidebar").get_by_role("combobox", name=combobox,
                                                               exact=True), option)


def choose(page, box, option: str) -> None:
    """Pick an option of a select box or multiselect as a person does: type part of it, click
    it, move on (which closes a multiselect's list), and let the rerun finish; then check it
    holds, and pick it again if not.

    Not Enter and Escape: on a select box with no default ("Ground in a knowledge base"),
    Enter closes the list and the Escape after it clears the choice. And not while a run is
    going: the redraw that ends it closes a list opened meanwhile; so does a scroll of the
    sidebar, which is why a click alone does not always leave the list open."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    multi = box.locator("xpath=ancestor::*[@data-testid='stMultiSelect']")

    def held() -> bool:
        if multi.count():
            return multi.locator(f'[data-tag][aria-label="{option}"]').count() > 0
        return option in box.input_value()

    for _ in range(4):
        expect(box).to_be_enabled()
        wait_script_idle(page)
        if held():
            return
        box.click()
        box.fill(option[:8])
        with contextlib.suppress(PlaywrightTimeout):  # the list closed under the pointer
            page.get_by_role("option", name=option).first.click(timeout=5_000)
        box.blur()
        wait_rerun(page)
    wait_script_idle(page)
    assert held(), f"{option!r} would not hold"


def chat_box(page, enabled: bool = True):
    """The chat input, once the page shows one (mid-rerun the old input can still be on the
    page beside the new) and it takes text (or, enabled=False, refuses it)."""
    from playwright.sync_api import expect

    box = page.get_by_test_id("stChatInputTextArea")
    expect(box).to_have_count(1)
    if enabled:
        expect(box).to_be_enabled()
    else:
        expect(box).to_be_disabled()
    return box


def send_chat(page, text: str) -> None:
    """Type a chat message and press Enter, as a person would."""
    box = chat_box(page)
    box.fill(text)
    box.press("Enter")
    wait_idle(page)


class ConversationList:
    """The Chat sidebar's list of recent conversations in an AppTest run, read and clicked
    as a person does: `options` are the titles listed, `value` the one marked open,
    `set_value(id)` clicks a conversation (then `.run()`)."""

    def __init__(self, at) -> None:
        self.at = at
        self.buttons = [b for b in at.sidebar.button if b.key and b.key.startswith("conv_open_")]

    @staticmethod
    def _id(button) -> int:
        return int(button.key.removeprefix("conv_open_"))

    @property
    def options(self) -> list[str]:
        return [shown(b.label) for b in self.buttons]

    @property
    def value(self) -> int | None:
        marked = [self._id(b) for b in self.buttons if b.proto.type == "secondary"]
        assert len(marked) <= 1, f"{len(marked)} conversations are marked open"
        return marked[0] if marked else None

    def format_func(self, conversation_id: int) -> str:
        return next(shown(b.label) for b in self.buttons if self._id(b) == conversation_id)

    def set_value(self, conversation_id: int):
        return self.at.button(key=f"conv_open_{conversation_id}").click()


def conversation_list(page):
    """The Chat sidebar's list of recent conversations in a browser; the open one is the
    button drawn as `stBaseButton-secondary`, the others as tertiary."""
    return page.get_by_test_id("stSidebar").locator(".st-key-conv_list")


def picker(at) -> ConversationList:
    """The Chat sidebar's conversation list in an AppTest run."""
    return ConversationList(at)


def together(fn, n: int, prepare=lambda i: i) -> list:
    """Run fn(prepare(i)) in n threads, each released at the same instant once prepared;
    return the results, or the exceptions raised (the caller asserts on them)."""
    import threading

    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        prepared = prepare(i)
        barrier.wait()
        try:
            results[i] = fn(prepared)
        except Exception as exc:  # reported to the caller, which asserts on it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def race(build, n: int) -> list:
    """Build n calls (`build(i)`), release them at one instant and run each to its end: each
    result is the finished call, or the exception it raised (a budget's refusal, say)."""
    def run(call):
        list(call)
        return call

    return together(run, n, prepare=build)


class Heartbeat:
    """A thread that ticks every few milliseconds while the block runs: `largest` is the
    longest gap between two ticks, in seconds. Work that holds the GIL (a runaway regex, a
    huge integer) shows as a long gap; work done elsewhere (another process, a regex engine
    that lets go of the GIL) does not."""

    def __init__(self, every: float = 0.005) -> None:
        import threading

        self.every = every
        self.largest = 0.0
        self._stop = threading.Event()
        self._ticked = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="heartbeat")

    def _run(self) -> None:
        import time

        last = time.perf_counter()
        while not self._stop.wait(self.every):
            now = time.perf_counter()
            self.largest = max(self.largest, now - last)
            last = now
            self._ticked.set()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        self._ticked.wait(5)  # beating before the work starts
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
