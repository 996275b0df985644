"""One MCP server's connection through the official `mcp` SDK: started as a task on the
manager's event loop (lib.mcp.servers), it connects (a command over stdio, or a URL over
streamable HTTP), lists the tools, then holds the connection until the server goes away or
is stopped. Its state is read from any thread; its calls run on the loop, each bounded by
the server's call timeout, and every failure is a ToolError in plain words."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import IO, Any

from lib.core import ConfigError, ToolError, redact
from lib.mcp.config import ServerConfig, executable, expand_variables
from lib.mcp.protocol import RemoteTool, Reply, list_tools, result_text, short, watched

log = logging.getLogger(__name__)

STDERR_TAIL = 3000     # characters of a server's stderr kept for its status
# Past a timeout, the SDK's stop takes this long at most: stdin closed, 2 s, SIGTERM, 2 s,
# SIGKILL, 2 s to see it die.
STOP_S = 8.0


@dataclass(frozen=True)
class ServerStatus:
    config: ServerConfig
    state: str                           # stopped, starting, ready, stopping or failed
    error: str = ""                      # why it failed
    stderr: str = ""                     # the end of what it wrote to stderr (stdio servers)
    tools: tuple[RemoteTool, ...] = ()   # as last listed: kept while it is down
    since: float = 0.0                   # time.time() of the last change of state
    start_ms: float | None = None        # how long its last successful start took

    @property
    def name(self) -> str:
        return self.config.name


class Connection:
    """One server: its state, read from any thread; its task and client live on the loop."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.state, self.error, self.since = "stopped", "", time.time()
        self.tools: tuple[RemoteTool, ...] = ()
        self.start_ms: float | None = None
        self.settled = threading.Event()     # set whenever it is not starting or stopping
        self.tried = False                   # a start has ended (ready, or failed)
        self.settled.set()
        self.client: Any = None              # mcp.Client while ready
        self.scope: Any = None               # the anyio CancelScope around the connection
        self.task: Any = None                # the asyncio task serving it
        self.ended: Any = None               # an anyio.Event: the connection is over
        self.broken = ""                     # why the server's output ended it
        self.stopping = False
        self.errlog: IO[str] | None = None   # a stdio server's stderr
        self.http_status: int | None = None  # an HTTP server's last error status

    def status(self) -> ServerStatus:
        return ServerStatus(self.config, self.state, self.error, self.stderr_tail(),
                            self.tools, self.since, self.start_ms)

    def stderr_tail(self) -> str:
        if self.errlog is None:
            return ""
        try:  # pread: the server writes through the same file; its offset must not move
            fd = self.errlog.fileno()
            size = os.fstat(fd).st_size
            data = os.pread(fd, STDERR_TAIL * 4, max(0, size - STDERR_TAIL * 4))
        except (OSError, ValueError):
            return ""
        return redact(data.decode("utf-8", "replace")[-STDERR_TAIL:])

    def begin(self) -> None:
        """Starting (called under the manager's lock, before the task is scheduled)."""
        self.state, self.error, self.since = "starting", "", time.time()
        self.settled.clear()
        self.stopping, self.broken = False, ""

    def wind_down(self, error: str = "") -> None:
        """Going away (on the loop): no new call reaches it, and a start waits until its
        process is gone. `error`: why, for its status."""
        if self.state in ("starting", "ready"):
            self.state, self.error, self.since = "stopping", redact(error), time.time()
            self.client = None
            self.settled.clear()

    def _settle(self, state: str, error: str = "") -> None:
        self.state, self.error, self.since = state, redact(error), time.time()
        self.tried = True
        self.client = None
        self.settled.set()

    def _give_up(self) -> None:
        """The start timeout: stop trying (on the loop)."""
        if self.state == "starting":
            self.wind_down(f"It did not start within {self.config.start_timeout_s:g} s (the "
                           "start_timeout in tools.toml).")
            self.scope.cancel()

    async def serve(self) -> None:
        """Connect, list the tools, then hold the connection until it ends or is stopped."""
        import asyncio

        import anyio
        from mcp import Client, Implementation

        cfg, started = self.config, time.perf_counter()
        self.task = asyncio.current_task()
        timer = asyncio.get_running_loop().call_later(cfg.start_timeout_s, self._give_up)
        try:
            with anyio.CancelScope() as self.scope:
                self.ended = anyio.Event()
                if self.stopping:
                    self.scope.cancel()
                async with AsyncExitStack() as stack:
                    transport = await self._transport(stack)
                    client = await stack.enter_async_context(Client(
                        watched(transport, self.ended), message_handler=self._on_message,
                        client_info=Implementation(name="promptlab", version="0.1")))
                    tools = await list_tools(client)
                    timer.cancel()
                    self.tools, self.client = tools, client
                    self.start_ms = (time.perf_counter() - started) * 1000
                    self.state, self.since, self.tried = "ready", time.time(), True
                    self.settled.set()
                    log.info("MCP server %s is ready with %d tools", cfg.name, len(tools))
                    await self.ended.wait()
                    self.wind_down(self.broken or ("It exited." if cfg.command else
                                                   "It ended the connection."))
        except Exception as exc:  # whatever stopped it is its status, and ours to log
            if self.state != "stopping":
                self.wind_down(_reason(exc, cfg, self.http_status))
                log.warning("MCP server %s failed: %s", cfg.name, self.error,
                            exc_info=None if isinstance(exc, ConfigError) else exc)
        finally:
            timer.cancel()
            # Out of the SDK's context: its process has ended (or was killed).
            self._settle("stopped" if self.stopping else "failed",
                         "" if self.stopping else self.error or "It stopped.")
            log.info("MCP server %s: %s. %s", cfg.name, self.state, self.error)

    async def _transport(self, stack: AsyncExitStack) -> Any:
        cfg = self.config
        if cfg.command:
            from mcp import StdioServerParameters
            from mcp.client.stdio import stdio_client

            env = expand_variables(cfg.env, "env")
            if self.errlog is not None:
                self.errlog.close()
            # Kept past the server's end (its status shows the tail); replaced at the next start.
            self.errlog = tempfile.TemporaryFile(  # noqa: SIM115
                "w+", encoding="utf-8", errors="replace")
            return stdio_client(StdioServerParameters(
                command=executable(cfg.command), args=list(cfg.args), env=env or None),
                errlog=self.errlog)
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        async def note(response: httpx2.Response) -> None:
            if response.status_code >= 400:  # the SDK's error says no more than "an error"
                self.http_status = response.status_code

        self.http_status = None
        http = await stack.enter_async_context(httpx2.AsyncClient(
            headers=expand_variables(cfg.headers, "header"), event_hooks={"response": [note]},
            timeout=httpx2.Timeout(30.0, read=300.0)))  # the SDK's own defaults
        return streamable_http_client(cfg.url, http_client=http)

    async def _on_message(self, message: Any) -> None:
        """The SDK hands the session's transport faults here: a line that is not JSON-RPC
        ends the connection (the call it answered would otherwise wait for nothing)."""
        if isinstance(message, Exception) and self.ended is not None:
            self.broken = "It sent something that is not JSON-RPC: " + short(message)
            log.warning("MCP server %s: %s", self.config.name, self.broken)
            self.ended.set()

    async def call(self, tool: str, arguments: dict[str, Any]) -> Reply:
        import anyio
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED

        name, client = self.config.name, self.client
        if client is None:
            raise ToolError(f"MCP server {name} is not running ({self.error or self.state}).")
        try:
            with anyio.fail_after(self.config.call_timeout_s):
                result = await client.call_tool(tool, arguments)
        except TimeoutError:
            raise ToolError(f"MCP server {name} did not answer within "
                            f"{self.config.call_timeout_s:g} s (the call_timeout in "
                            "tools.toml); the call was abandoned.") from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                why = self.broken or ("It exited" if self.config.command else
                                      "It closed the connection")
                raise ToolError(f"MCP server {name} stopped during the call. {why}. It starts "
                                "again on the next call."
                                + last_words(self.stderr_tail())) from None
            raise ToolError(f"MCP server {name} refused the call: "
                            f"{redact(exc.error.message)}") from None
        except (ValueError, RuntimeError) as exc:  # pydantic's ValidationError is a ValueError
            raise ToolError(f"MCP server {name} answered with something that is not a tool "
                            f"result: {short(exc)}") from None
        return Reply(result_text(result), bool(result.is_error))


def last_words(stderr: str) -> str:
    """The last line a server wrote to stderr, as a sentence to add to an error."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return f" Its stderr ends: {lines[-1][:300]}" if lines else ""


def _reason(exc: BaseException, cfg: ServerConfig, http_status: int | None) -> str:
    """Why a server could not start or went away, in plain words."""
    from mcp import MCPError

    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # anyio's task groups
        exc = exc.exceptions[0]
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, FileNotFoundError) and cfg.command:
        return f"There is no program {cfg.command!r} (on PATH or beside the lab's Python)."
    if isinstance(exc, OSError) and cfg.command:
        return f"{cfg.command!r} could not be started: {exc.strerror or exc}."
    if http_status in (401, 403):
        return (f"It answered HTTP {http_status}: it refused the credentials (the headers in "
                "tools.toml).")
    if http_status is not None:
        return f"It answered HTTP {http_status}."
    if isinstance(exc, MCPError):
        return f"It refused the connection: {redact(exc.error.message)}."
    return short(exc) + "."
