"""Agent loop overhead and tool-call reassembly.

1. Added time per agent step: an agent run's step (the loop, the retry layer, the budget
   check, the ledger row with run id and step) against the raw openai SDK making the same
   streamed request (the same tools offered) to the same llama.cpp server on loopback,
   interleaved. Each request's time in the server (request sent to last byte, from a timing
   transport under both) is taken out, so the server's jitter does not count as ours.
   Goal: added p50 <= 2 ms.
2. Reassembly of tool-call arguments delivered one byte per fragment: 1 MB and 2 MB through
   ToolCallParts against joining the same fragments alone (the floor), in MB/s; linear time
   means the 2 MB run takes about twice the 1 MB one.
"""

from __future__ import annotations

import json
import time

from bench_chat import Timed
from common import llama_server, paired, scratch_data_dir

PROMPT = "Name one colour."


def step_overhead(n: int) -> float:
    import httpx2
    import openai

    from lib.agents import BUILTINS, AgentRun, Limits
    from lib.core import load_settings
    from lib.llm import (
        CallContext,
        Calls,
        CallSpec,
        ChatRequest,
        Message,
        OpenAIProvider,
        load_catalog,
    )

    calc = BUILTINS["calculator"]
    tools = [{"type": "function", "function": {"name": calc.name, "description":
              calc.description, "parameters": calc.parameters}}]
    with llama_server() as url, scratch_data_dir():
        import os

        os.environ["PROMPTLAB_OPENAI_BASE_URL"] = url
        os.environ["PROMPTLAB_OPENAI_MODELS"] = "smollm2"
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        model = load_catalog(settings).get("compat/smollm2")
        raw_net, our_net = Timed(), Timed()
        client = openai.OpenAI(api_key="x", base_url=url, max_retries=0,
                               http_client=httpx2.Client(transport=raw_net))
        provider = OpenAIProvider(None, base_url=url, compat=True,
                                  http_client=httpx2.Client(transport=our_net))
        request = ChatRequest(model.id, (Message("user", PROMPT),), temperature=0.0,
                              max_tokens=8, tools=(calc.spec,))
        calls = Calls(settings, provider_for=lambda m: provider)  # the seam, once a process

        def raw() -> float:
            start = time.perf_counter()
            for _ in client.chat.completions.create(
                    model="smollm2", stream=True, temperature=0.0, max_tokens=8, tools=tools,
                    tool_choice="auto", stream_options={"include_usage": True},
                    messages=[{"role": "user", "content": PROMPT}]):
                pass
            return (time.perf_counter() - start) * 1000 - raw_net.server_total_ms()

        def ours() -> float:
            start = time.perf_counter()
            run = AgentRun(calls, CallSpec(model, request, CallContext("bench")),
                           {calc.name: calc}, limits=Limits(1))
            for _ in run:
                pass
            assert len(run.steps) == 1
            return (time.perf_counter() - start) * 1000 - our_net.server_total_ms()

        for _ in range(10):
            raw(), ours()
        raws, steps = [], []
        for _ in range(n):
            raws.append(raw())
            steps.append(ours())
    return paired("added per step (paired)", "raw SDK, client side", raws,
                  "agent step, client side", steps, "p50 <= 2 ms")


def reassembly() -> None:
    from lib.llm import ToolCallParts

    times = {}
    for mb in (1, 2):
        raw = json.dumps({"text": "x" * (mb * 1_000_000 - 12)})
        fragments = list(raw)  # one byte (character) each
        start = time.perf_counter()
        "".join(fragments)
        floor = time.perf_counter() - start
        start = time.perf_counter()
        parts = ToolCallParts()
        parts.add(0, id="c", name="echo")
        for f in fragments:
            parts.add(0, fragment=f)
        call = parts.finish(0)
        took = time.perf_counter() - start
        assert not call.invalid and len(call.raw) == len(raw)
        times[mb] = took
        print(f"{mb} MB in 1-byte fragments     {took * 1000:8.1f} ms  "
              f"({len(raw) / took / 1e6:,.1f} MB/s; joining alone {floor * 1000:.1f} ms)")
    print(f"{'2 MB / 1 MB time':<28} {times[2] / times[1]:.2f}x  (linear: about 2)")


if __name__ == "__main__":
    reassembly()
    step_overhead(100)
