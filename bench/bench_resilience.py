"""What the breaker, the rate limiter and the router add to a call's time to first token.

Paired, interleaved requests to llama.cpp's OpenAI-compatible server on loopback:
- bare: a call through the seam to a fixed model whose guard stand-in only streams (no
  breaker consulted, no limiter, no routing decision);
- guarded: the router picks the model (two route() decisions and a token count of the whole
  input, as the Chat page does per turn), then a call through the seam, the process-wide
  breaker and an active (non-binding) rate limiter on requests and tokens.
Each request's time in the server before its first byte (a timing transport under both) is
taken out, so the server's jitter does not count as ours. Goal: added p50 <= 1 ms.
"""

from __future__ import annotations

import os
import time

from bench_chat import Timed
from common import llama_server, paired, scratch_data_dir

PROMPT = "Name one colour."


def added_ttft(n: int) -> float:
    import httpx2

    from lib.core import load_settings
    from lib.llm import (
        GUARDS,
        CallContext,
        Calls,
        CallSpec,
        ChatRequest,
        Guards,
        Message,
        OpenAIProvider,
        RetryPolicy,
        Router,
        RouteRule,
        TextDelta,
        load_catalog,
        model_statuses,
        parse_limits,
        route_messages,
    )

    class Bare(Guards):
        """A call without them: the provider's stream and nothing else."""

        def attempt(self, provider, provider_name, stream, tokens, sleep):
            yield from stream()

    bare_guards = Bare.make()
    with llama_server() as url, scratch_data_dir():
        os.environ["PROMPTLAB_OPENAI_BASE_URL"] = url
        os.environ["PROMPTLAB_OPENAI_MODELS"] = "smollm2"
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        catalog = load_catalog(settings)
        model = catalog.get("compat/smollm2")
        statuses = model_statuses(catalog, settings, check_local=False)  # the page caches it
        router = Router(("compat/smollm2",), (RouteRule("compat/smollm2", task="chat"),))
        GUARDS.configure(parse_limits("compat=100000/1000000000"))  # active, never binding
        bare_net, our_net = Timed(), Timed()
        bare_provider = OpenAIProvider(None, base_url=url, compat=True,
                                       http_client=httpx2.Client(transport=bare_net))
        provider = OpenAIProvider(None, base_url=url, compat=True,
                                  http_client=httpx2.Client(transport=our_net))
        messages = (Message("user", PROMPT),)
        policy = RetryPolicy()
        bare_calls = Calls(settings, provider_for=lambda m: bare_provider, policy=policy,
                           guards=bare_guards)
        calls = Calls(settings, provider_for=lambda m: provider, policy=policy)  # GUARDS

        def first_token(call, net: Timed, start: float) -> float:
            took = None
            for event in call:
                if took is None and isinstance(event, TextDelta):
                    took = (time.perf_counter() - start) * 1000
            assert took is not None, "no text came back"
            return took - net.server_ms()

        def bare() -> float:
            start = time.perf_counter()
            request = ChatRequest(model.id, messages, temperature=0.0, max_tokens=4)
            return first_token(bare_calls.invoke(CallSpec(model, request, CallContext("bench"))),
                               bare_net, start)

        def guarded() -> float:
            start = time.perf_counter()
            routed = route_messages(router, statuses, settings, "chat", "", messages)
            request = ChatRequest(routed.model.id, messages, temperature=0.0, max_tokens=4)
            context = CallContext("bench", route=routed.reason, baseline=routed.baseline)
            return first_token(calls.invoke(CallSpec(routed.model, request, context)), our_net,
                               start)

        for _ in range(10):
            bare(), guarded()
        bares, ours = [], []
        for i in range(n):
            if i % 2:  # alternate which goes first, so neither always follows the other
                bares.append(bare())
                ours.append(guarded())
            else:
                ours.append(guarded())
                bares.append(bare())
    return paired("added TTFT (paired)", "bare call, client side", bares,
                  "breaker+limiter+router", ours, "p50 <= 1 ms")


if __name__ == "__main__":
    import sys

    sys.exit(0 if added_ttft(200) <= 1.0 else 1)
