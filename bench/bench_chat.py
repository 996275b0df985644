"""Chat service overhead: added time to first token, and streaming throughput.

1. TTFT: the chat service (a draft sent: history read, context plan, user message saved, retry
   loop, ledger) against the raw openai SDK, both streaming from the same llama.cpp server on
   loopback, requests interleaved. Printed end to end, and client side: each request's time
   in the server (first response byte minus request sent, from a timing transport under
   both clients) taken out, so the server's own jitter does not count as ours.
   Goal: added p50 and p95 <= 2 ms.
2. Throughput: tokens/s through the chat service on the in-process local model against the
   raw llama.cpp token generator on the same prompt (greedy, same tokens). Goal: >= 0.97x.
"""

from __future__ import annotations

import argparse
import time

from common import llama_server, pct, scratch_data_dir, summary

PROMPT = "Name one colour."
SYSTEM = "Answer in one word."


class Timed:
    """A transport that notes when a request is handed to the network and when the first and
    the last response bytes come back, so the time spent in the server can be taken out."""

    def __init__(self) -> None:
        import httpx2

        self._inner = httpx2.HTTPTransport()
        self.sent = self.first_byte = 0.0

    def handle_request(self, request):
        import httpx2

        self.sent, self.first_byte = time.perf_counter(), 0.0
        self.last_byte = self.sent
        response = self._inner.handle_request(request)
        inner, timed = response.stream, self

        class Stream(httpx2.SyncByteStream):
            def __iter__(self):
                for chunk in inner:
                    timed.last_byte = time.perf_counter()
                    timed.first_byte = timed.first_byte or timed.last_byte
                    yield chunk

            def close(self) -> None:
                inner.close()

        response.stream = Stream()
        return response

    def close(self) -> None:
        self._inner.close()

    def server_ms(self) -> float:
        return (self.first_byte - self.sent) * 1000

    def server_total_ms(self) -> float:
        """Request sent to last byte: a whole call's time in the server."""
        return (self.last_byte - self.sent) * 1000


def ttft(n: int) -> tuple[float, float]:
    """Returns (p50, p95) of the added time to first token, end to end."""
    import httpx2
    import openai

    from lib import chat
    from lib.chat import Ask, ChatSession, Text, TurnOptions
    from lib.core import load_settings
    from lib.llm import Calls, OpenAIProvider, load_catalog

    with llama_server() as url:
        import os

        os.environ["PROMPTLAB_OPENAI_BASE_URL"] = url
        os.environ["PROMPTLAB_OPENAI_MODELS"] = "smollm2"
        os.environ["PROMPTLAB_OPENAI_CONTEXT_WINDOW"] = "2048"
        settings = load_settings()
        model = load_catalog(settings).get("compat/smollm2")
        raw_net, our_net = Timed(), Timed()
        client = openai.OpenAI(api_key="x", base_url=url, max_retries=0,
                               http_client=httpx2.Client(transport=raw_net))
        # The service's own adapter, as get_provider builds it, over the timing transport.
        provider = OpenAIProvider(None, base_url=url, compat=True,
                                  read_timeout=settings.read_timeout_s,
                                  http_client=httpx2.Client(transport=our_net))
        calls = Calls(settings, provider_for=lambda m: provider)  # the call seam, over it
        options = TurnOptions(system=SYSTEM, temperature=0.0, max_tokens=8)

        def raw() -> tuple[float, float]:
            start = time.perf_counter()
            stream = client.chat.completions.create(
                model="smollm2", stream=True, temperature=0.0, max_tokens=8,
                messages=[{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": PROMPT}])
            first = None
            for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter()
            total = (first - start) * 1000
            return total, total - raw_net.server_ms()

        def service() -> tuple[float, float]:
            conv = chat.create_conversation(settings.db)  # the page does this, not the turn
            start = time.perf_counter()
            first = None
            draft = ChatSession.open(settings, conv, calls=calls).draft(options, Ask(PROMPT),
                                                                        model)
            for event in draft.send():
                if first is None and isinstance(event, Text):
                    first = time.perf_counter()
            total = (first - start) * 1000
            return total, total - our_net.server_ms()

        for _ in range(10):  # warm both paths and the server's prompt cache
            raw(), service()
        raws, services, controls = [], [], []
        for _ in range(n):
            raws.append(raw())
            services.append(service())
            controls.append(raw())  # an A/A control: the raw SDK against itself
    print(summary("TTFT raw openai SDK", [r for r, _ in raws]))
    print(summary("TTFT chat service", [s for s, _ in services]))
    added = [s - r for (s, _), (r, _) in zip(services, raws, strict=True)]
    print(f"{'added TTFT (paired)':<28} p50={pct(added, 50):8.2f} ms  p95={pct(added, 95):8.2f} ms"
          "  (end to end: includes the server's own jitter)")
    noise = [c - r for (c, _), (r, _) in zip(controls, raws, strict=True)]
    print(f"{'A/A control, raw vs raw':<28} p50={pct(noise, 50):8.2f} ms  "
          f"p95={pct(noise, 95):8.2f} ms"
          "  (the end-to-end noise floor)")
    # The same, with each request's time in the server taken out: what the client adds.
    client_raw = [c for _, c in raws]
    client_ours = [c for _, c in services]
    print(summary("client side, raw SDK", client_raw))
    print(summary("client side, chat service", client_ours))
    added_client = [s - r for s, r in zip(client_ours, client_raw, strict=True)]
    print(f"{'added TTFT, client side':<28} p50={pct(added_client, 50):8.2f} ms  "
          f"p95={pct(added_client, 95):8.2f} ms  (goal: p50 and p95 <= 2 ms)")
    print(f"{'TTFT ratio p50':<28} "
          f"{pct([s for s, _ in services], 50) / pct([r for r, _ in raws], 50):.3f}x")
    return pct(added_client, 50), pct(added_client, 95)


def throughput(runs: int, tokens: int) -> float:
    from lib import chat
    from lib.chat import Ask, ChatSession, ChatTurn, TurnOptions
    from lib.core import load_settings
    from lib.llm import ChatRequest, Message, bundled_model_path, get_local_model, load_catalog

    settings = load_settings()
    model = load_catalog(settings).get("local/smollm2-135m-instruct")
    local = get_local_model(bundled_model_path(), model.context_window)
    text = "Write a long story about a lighthouse keeper and a storm."
    prompt = local.prompt_tokens(ChatRequest(model.id, (Message("user", text),)))

    def raw() -> float:
        start, n = time.perf_counter(), 0
        gen = local.llm.generate(prompt, temp=0.0, top_k=40, top_p=0.95, min_p=0.05,
                                 repeat_penalty=1.1)
        for token in gen:
            if token in local.stop_ids:
                break
            local.llm.detokenize([token])
            n += 1
            if n >= tokens:
                break
        gen.close()
        return n / (time.perf_counter() - start)

    def service() -> float:
        conv = chat.create_conversation(settings.db)
        draft = ChatSession.open(settings, conv).draft(
            TurnOptions(temperature=0.0, max_tokens=tokens), Ask(text), model)
        turn = ChatTurn(draft)   # the draft's turn, kept for its ledger row
        start = time.perf_counter()
        for _event in turn:
            pass
        return turn.record.output_tokens / (time.perf_counter() - start)

    raw(), service()
    raws, services = [], []
    for _ in range(runs):
        raws.append(raw())
        services.append(service())
    r, s = pct(raws, 50), pct(services, 50)
    print(f"{'throughput raw generator':<28} p50={r:8.1f} tok/s")
    print(f"{'throughput chat service':<28} p50={s:8.1f} tok/s")
    print(f"{'throughput ratio':<28} {s / r:.3f}x  (goal: >= 0.97x)")
    return s / r


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--tokens", type=int, default=160)
    args = parser.parse_args()
    with scratch_data_dir():
        ttft(args.requests)
        if not args.skip_throughput:
            throughput(args.runs, args.tokens)
