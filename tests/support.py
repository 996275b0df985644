"""Helpers for tests that start real servers and drive the app in a browser."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator


def free_port() -> int:
    """A port no socket holds now. Another process may bind it before the server meant for
    it does: a server that can start on port 0 does (see `listening_port`); one whose
    settings must name its port before it starts is started again on another port when it
    finds this one taken."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float = 60.0, proc=None) -> None:
    """Wait until `url` answers (a server still starting refuses, or answers 503)."""
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
            time.sleep(0.1)  # refused or not ready: nothing tells us when it will be
    raise TimeoutError(url)


def listening_port(proc, timeout: float = 60.0) -> int | None:
    """The TCP port the process `proc` listens on, once it does; None if it exits first.

    Read from the system's table of sockets and the process's own file descriptors (Linux),
    so the port is one this process bound, not one another server answers on. A server
    started on port 0 binds a port the system picks, which no other process holds; this is
    how the test learns it (the API logs nothing when it binds)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        ports = _listening(proc.pid)
        if len(ports) > 1:
            raise RuntimeError(f"process {proc.pid} listens on {sorted(ports)}: which?")
        if ports:
            return ports.pop()
        time.sleep(0.05)  # binding makes no event another process can wait on
    raise TimeoutError(f"process {proc.pid} listened on no port within {timeout:.0f} s")


def _listening(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on: its sockets' inodes, found in /proc/net."""
    import os
    from pathlib import Path

    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # a descriptor closed since the listing: not one
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


# The app's script state, as the page shows it on stApp: "initial" until the page's first
# run, then "running", "notRunning" and so on.
STATE = "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState"
BUSY = ("initial", "running", "rerunRequested", "stopRequested")


class Runs:
    """The script runs of a page's Streamlit session, as the browser hears them: each starts
    with a `new_session` message on the app's websocket and ends with a `script_finished`
    (one that ends early for a rerun is followed by the rerun's start). Counted here, since
    the page's running flag can be set and cleared in one React batch for a quick run and
    never show."""

    def __init__(self, page) -> None:
        self.page = page
        self.started = 0      # full script runs started (a fragment's own runs not counted)
        self.going = True     # a run is going, or the page has not heard of one yet
        self.socket = None    # the app's websocket (a reload or a reconnect opens another)
        page.on("websocket", self._opened)

    def _opened(self, socket) -> None:
        if socket.url.endswith("/_stcore/stream"):
            self.socket, self.going = socket, True
            socket.on("framereceived", lambda payload: self._heard(socket, payload))

    def _heard(self, socket, payload: bytes | str) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if socket is not self.socket or isinstance(payload, str):
            return
        msg = ForwardMsg()
        msg.ParseFromString(payload)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.going = True
            if not msg.metadata.run.fragment_ids:
                self.started += 1
        elif kind == "script_finished":
            self.going = msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN

    def wait(self, done: Callable[[], bool], timeout_ms: float) -> None:
        """Block on the websocket's messages until `done()` holds."""
        import time

        from playwright.sync_api import Error as PlaywrightError

        deadline = time.monotonic() + timeout_ms / 1000
        while not done():
            left = (deadline - time.monotonic()) * 1000
            if left <= 0:
                raise TimeoutError(f"the page's script runs did not settle in {timeout_ms} ms")
            socket = self.socket
            if socket is None or socket.is_closed():  # a reconnect opens another
                self.page.wait_for_event("websocket", timeout=left)
                continue
            try:  # our listener has counted each message before this predicate reads it
                socket.wait_for_event("framereceived", predicate=lambda _: done(),
                                      timeout=left)
            except PlaywrightError:
                if not socket.is_closed():
                    raise


RUNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def track_runs(page) -> None:
    """Count the page's script runs (before it opens the app: the count starts with its
    websocket)."""
    RUNS[page] = Runs(page)


def wait_idle(page, timeout_ms: float = 60_000) -> None:
    """Wait until the page's script has run since the page loaded and no run is going or
    asked for. Right after an action this may still hold of the run before it: to wait for
    the run an action starts, wrap the action in `rerun`."""
    page.wait_for_function(f"() => !{list(BUSY)}.includes({STATE})", timeout=timeout_ms)
    if page in RUNS:
        RUNS[page].wait(lambda: not RUNS[page].going, timeout_ms)


@contextlib.contextmanager
def rerun(page, timeout_ms: float = 120_000) -> Iterator[None]:
    """Around an action that reruns the script (a widget changed, a button clicked, Enter in
    a chat box): first the page settles, then the action, then wait until a run that started
    after it has ended and no other is going."""
    runs = RUNS[page]
    wait_idle(page)
    before = runs.started
    yield
    runs.wait(lambda: runs.started > before and not runs.going, timeout_ms)
    # Heard, and now drawn: the page handles the message, then React paints.
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def sidebar_section(page, name: str):
    """The label of a sidebar expander of the page itself (not a navigation link of the same
    name above it, such as the Tools page's)."""
    return page.get_by_test_id("stSidebarUserContent").get_by_text(name, exact=True)


def expand(label) -> None:
    """Open an expander by clicking its label, and wait until it has opened: for half a
    second it grows, scroll anchoring moves what is inside, and a press and release on a
    box there can land on two elements and click neither."""
    label.click()
    details = label.locator("xpath=ancestor-or-self::details[1]").element_handle()
    label.page.wait_for_function(
        "d => d.open && !d.getAnimations().length && !d.style.height", arg=details)


def shown(markdown: str) -> str:
    """What a reader sees of Markdown text that lib.ui.text escaped: the backslashes go."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def pick_in_sidebar(page, combobox: str, option: str) -> None:
    """Choose `option` (part of its label will do) in the sidebar's `combobox`."""
    choose(page, page.get_by_test_id("stSidebar").get_by_role("combobox", name=combobox,
                                                               exact=True), option)


def choose(page, box, option: str) -> None:
    """Pick an option of a select box or multiselect as a person does once the page has
    settled: type part of it, click it, let the rerun it starts finish, move on (which closes
    a multiselect's list); then check it holds.

    Not Enter and Escape: on a select box with no default ("Ground in a knowledge base"),
    Enter closes the list and the Escape after it clears the choice. And not while a run is
    going: the redraw that ends it closes a list opened meanwhile; so does a scroll of the
    sidebar, which is why the box is scrolled to before its list opens."""
    import re

    from playwright.sync_api import expect

    multi = box.locator("xpath=ancestor::*[@data-testid='stMultiSelect']")
    tag = multi.locator(f'[data-tag][aria-label="{option}"]')
    expect(box).to_be_enabled()
    wait_idle(page)
    if tag.count() if multi.count() else option in box.input_value():
        return
    box.scroll_into_view_if_needed()
    box.click()
    box.fill(option[:8])
    with rerun(page):
        page.get_by_role("option", name=option).first.click()
    box.blur()
    if multi.count():
        expect(tag).to_have_count(1)
    else:
        expect(box).to_have_value(re.compile(re.escape(option)))


def chat_box(page, enabled: bool = True):
    """The chat input, once the page shows one (mid-rerun the old input can still be on the
    page beside the new) and it takes text (or, enabled=False, refuses it)."""
    from playwright.sync_api import expect

    box = page.get_by_test_id("stChatInputTextArea")
    # The input in the wanted state first (the new one), then it alone (the old one gone):
    # counting first could see the old input alone just before the new one joins it.
    wanted = box.and_(page.locator(":enabled" if enabled else ":disabled"))
    expect(wanted).to_have_count(1)
    expect(box).to_have_count(1)
    return box


def send_chat(page, text: str) -> None:
    """Type a chat message and press Enter, as a person would."""
    box = chat_box(page)
    box.fill(text)
    with rerun(page):
        box.press("Enter")


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


@contextlib.contextmanager
def serving_asgi(app, port: int = 0, timeout: float = 30.0) -> Iterator[str]:
    """`app` served by uvicorn in a thread on 127.0.0.1 until the block ends: its base URL,
    once it listens. Port 0: one the system picks, which no other process can hold."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:  # set once its socket is bound
            if not thread.is_alive():
                raise RuntimeError("the server stopped before it listened")
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not listen")
            thread.join(0.02)  # returns at once if the server's thread ends
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)


# tools.toml naming the reference MCP time server (installed beside the lab's Python), in UTC.
# Not trusted: its tools ask before they run (append `trusted = true` for one that does not).
TIME_SERVER = """
[[server]]
name = "time"
command = "mcp-server-time"
args = ["--local-timezone", "UTC"]
"""
