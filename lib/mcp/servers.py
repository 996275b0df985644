"""The process's MCP servers, one connection each (lib.mcp.connection), shared by every
session of the process.

The SDK is async: one event loop runs in a background thread, each server's connection is a
task on it, and calls from any thread are handed to it (asyncio.run_coroutine_threadsafe).
A server starts on first use and is stopped at exit; one that died (it exited, or sent
something that is not JSON-RPC) starts again on its next call. Starting and every call are
bounded by the server's timeouts: whatever happens, the caller gets a ToolError in plain
words, never a hang. Its state (stopped, starting, ready, stopping, failed with why and the
end of its stderr) is for the Tools page."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
import time
from collections.abc import Coroutine
from typing import Any

from lib.core import ToolError
from lib.mcp.config import ServerConfig
from lib.mcp.connection import STOP_S, Connection, ServerStatus, last_words
from lib.mcp.protocol import Reply

STATES = ("stopped", "starting", "ready", "stopping", "failed")
RETRY_S = 60.0         # a listing starts a failed server again after this long


class Servers:
    """The process's MCP connections, by server name, in tools.toml's order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: dict[str, Connection] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def _run(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        with self._lock:
            if self._loop is None:  # one loop for the process, started on first use
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="mcp", daemon=True).start()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def configure(self, configs: tuple[ServerConfig, ...]) -> None:
        """Match the servers to `configs`: new ones are added (stopped), a changed one is
        stopped and replaced, one no longer there is stopped (waited for: its process is
        gone when this returns)."""
        wanted = {c.name: c for c in configs}
        with self._lock:
            if {n: c.config for n, c in self._conns.items()} == wanted:
                return
            gone = [c for n, c in self._conns.items() if wanted.get(n) != c.config]
            kept = {n: c for n, c in self._conns.items() if wanted.get(n) == c.config}
            self._conns = {n: kept.get(n) or Connection(c) for n, c in wanted.items()}
        concurrent.futures.wait([self._stop(c) for c in gone], STOP_S + 2)

    def statuses(self) -> list[ServerStatus]:
        with self._lock:
            conns = list(self._conns.values())
        return [c.status() for c in conns]

    def settled(self, name: str) -> ServerStatus:
        """Its status once it is neither starting nor stopping (waits, bounded)."""
        conn = self._get(name)
        conn.settled.wait(conn.config.start_timeout_s + STOP_S)
        return conn.status()

    def _get(self, name: str) -> Connection:
        with self._lock:
            conn = self._conns.get(name)
        if conn is None:
            raise ToolError(f"There is no MCP server named {name!r} in tools.toml.")
        return conn

    def start(self, name: str, *, wait: bool = True, retry_after: float = 0.0) -> ServerStatus:
        """Start it unless it is starting or ready (a failed one: if it failed at least
        `retry_after` seconds ago); with `wait`, until it is ready or failed."""
        conn = self._get(name)
        if conn.state == "stopping":  # its process ends first
            conn.settled.wait(STOP_S)
        with self._lock:
            go = conn.state == "stopped" or (conn.state == "failed"
                                             and time.time() - conn.since >= retry_after)
            if go:
                conn.begin()
        if go:
            self._run(conn.serve())
        if wait:
            conn.settled.wait(conn.config.start_timeout_s + STOP_S)
        return conn.status()

    def start_all(self, *, retry_after: float = RETRY_S) -> list[ServerStatus]:
        """Start every server not ready, at once (one that failed: `retry_after` seconds
        later); wait for those starting for the first time. A retry goes on in the
        background: a server that hangs on start holds up a listing once, not every minute."""
        with self._lock:
            conns = list(self._conns.values())
        for conn in conns:
            self.start(conn.config.name, wait=False, retry_after=retry_after)
        for conn in conns:
            if not conn.tried:
                conn.settled.wait(conn.config.start_timeout_s + STOP_S)
        return [conn.status() for conn in conns]

    def restart(self, name: str) -> ServerStatus:
        self.stop(name)
        return self.start(name)

    def stop(self, name: str) -> ServerStatus:
        conn = self._get(name)
        self._stop(conn).result(STOP_S + 2)
        return conn.status()

    def _stop(self, conn: Connection) -> concurrent.futures.Future[Any]:
        conn.stopping = True

        async def stop() -> None:
            conn.wind_down()
            if conn.scope is not None:
                conn.scope.cancel()
            if conn.task is not None:  # no thread to wait in: at exit none may start
                await asyncio.wait([conn.task], timeout=STOP_S)

        return self._run(stop())

    def call(self, name: str, tool: str, arguments: dict[str, Any]) -> Reply:
        """Call a tool, starting its server first if it is not running (or died). Raises
        ToolError for anything but the tool's own answer."""
        status = self.start(name)
        if status.state != "ready":
            raise ToolError(f"MCP server {name} is not available: "
                            f"{status.error or 'it is ' + status.state}"
                            f"{last_words(status.stderr)}")
        conn = self._get(name)
        future = self._run(conn.call(tool, arguments))
        try:
            return future.result(conn.config.call_timeout_s + STOP_S)
        except concurrent.futures.TimeoutError:  # the loop itself is stuck: say so, go on
            future.cancel()
            raise ToolError(f"MCP server {name} did not answer in time.") from None

    def close(self) -> None:
        """Stop every server (at exit): each one's process ends, none is left behind."""
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
            loop = self._loop
        if loop is None:
            return
        waits = [self._stop(c) for c in conns]
        concurrent.futures.wait(waits, STOP_S + 2)
        loop.call_soon_threadsafe(loop.stop)


_servers: Servers | None = None
_servers_lock = threading.Lock()


def manager() -> Servers:
    """The process-wide connections (stopped at exit)."""
    global _servers
    with _servers_lock:
        if _servers is None:
            _servers = Servers()
            atexit.register(_servers.close)
        return _servers
