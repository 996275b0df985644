"""The cost of a tool call through MCP (stdio) over calling the same Python function.

One function, `word_count`, called three ways, interleaved, a few hundred times each:
- directly, as a lab tool (lib.agents.tool) through run_tool: what a built-in costs;
- through the SDK's own client in this thread's event loop (`mcp.Client`, stdio): the
  protocol's floor (JSON-RPC over pipes to a server process and back);
- as the lab's MCP tool through run_tool: the tool pool, the hand-off to the lab's MCP
  event loop thread, the protocol, the result as text.
Printed: each series' p50/p95 and the paired differences. Goal: the lab's MCP call adds
p50 <= 5 ms over the direct tool (the protocol's cost is most of it).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from common import paired, pct, summary

HERE = Path(__file__).parent
TEXT = "the quick brown fox jumps over the lazy dog " * 20
SERVER = f"""[[server]]
name = "bench"
command = "{sys.executable}"
args = ["{HERE / 'mcp_bench_server.py'}"]
trusted = true
"""


def main(n: int) -> None:
    from mcp import Client, StdioServerParameters
    from mcp_bench_server import word_count

    from lib.agents import run_tool, tool
    from lib.llm import ToolCall
    from lib.mcp import manager, parse_servers, server_tools

    direct = tool(word_count)
    servers = manager()
    servers.configure(parse_servers(SERVER))
    [status] = servers.start_all()
    assert status.state == "ready", status.error
    [ours] = server_tools(status).tools
    expected = str(word_count(TEXT))

    def plain() -> str:
        return run_tool(direct, ToolCall("c", direct.name, {"text": TEXT}, ""), {}).content

    def lab() -> str:
        return run_tool(ours, ToolCall("c", ours.name, {"text": TEXT}, ""), {}).content

    async def measure() -> tuple[list[float], list[float], list[float]]:
        """All three interleaved, in one task (the SDK's client lives in the task that
        entered it); the two blocking calls leave this loop idle while they run."""
        base, floor, mcp = [], [], []
        async with Client(StdioServerParameters(
                command=sys.executable, args=[str(HERE / "mcp_bench_server.py")])) as client:
            for i in range(20 + n):  # the first 20 warm: imports, pools, first calls
                t0 = time.perf_counter()
                a = plain()
                t1 = time.perf_counter()
                b = (await client.call_tool("word_count", {"text": TEXT})).content[0].text
                t2 = time.perf_counter()
                c = lab()
                t3 = time.perf_counter()
                assert a == b == c == expected, (a, b, c)
                if i >= 20:
                    base.append((t1 - t0) * 1000)
                    floor.append((t2 - t1) * 1000)
                    mcp.append((t3 - t2) * 1000)
        return base, floor, mcp

    try:
        base, floor, mcp = asyncio.run(measure())
    finally:
        servers.close()
    print(summary("SDK client call (stdio)", floor))
    added = paired("added by MCP (paired)", "direct tool (run_tool)", base,
                   "MCP tool (run_tool)", mcp, "p50 <= 5 ms")
    ours_over_sdk = [m - f for m, f in zip(mcp, floor, strict=True)]
    print(f"{'lab over the SDK floor':<28} p50={pct(ours_over_sdk, 50):8.3f} ms  "
          f"p95={pct(ours_over_sdk, 95):8.3f} ms")
    print(f"{'MCP / direct, p50':<28} {pct(mcp, 50) / pct(base, 50):.1f}x")
    if added > 5:
        sys.exit(1)


if __name__ == "__main__":
    main(300)
