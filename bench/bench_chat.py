"""Chat service overhead: added time to first token, and streaming throughput.

1. TTFT: the chat service (ChatTurn: history read, context plan, user message saved, retry
   loop, ledger) against the raw openai SDK, both streaming from the same llama.cpp server on
   loopback, requests interleaved. Goal: added p50 <= 2 ms.
2. Throughput: tokens/s through the chat service on the in-process local model against the
   raw llama.cpp token generator on the same prompt (greedy, same tokens). Goal: >= 0.97x.
"""

from __future__ import annotations

import argparse
import time

from common import llama_server, pct, scratch_data_dir, summary

PROMPT = "Name one colour."
SYSTEM = "Answer in one word."


def ttft(n: int) -> tuple[float, float]:
    import openai

    from lib import chat
    from lib.chat import ChatTurn, TurnOptions
    from lib.core import load_settings
    from lib.llm import TextDelta, load_catalog

    with llama_server() as url:
        import os

        os.environ["PROMPTLAB_OPENAI_BASE_URL"] = url
        os.environ["PROMPTLAB_OPENAI_MODELS"] = "smollm2"
        os.environ["PROMPTLAB_OPENAI_CONTEXT_WINDOW"] = "2048"
        settings = load_settings()
        model = load_catalog(settings).get("compat/smollm2")
        client = openai.OpenAI(api_key="x", base_url=url, max_retries=0)
        options = TurnOptions(system=SYSTEM, temperature=0.0, max_tokens=8)

        def raw() -> float:
            start = time.perf_counter()
            stream = client.chat.completions.create(
                model="smollm2", stream=True, temperature=0.0, max_tokens=8,
                messages=[{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": PROMPT}])
            first = None
            for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter()
            return (first - start) * 1000

        def service() -> float:
            conv = chat.create_conversation(settings.db_path)  # the page does this, not the turn
            start = time.perf_counter()
            first = None
            for event in ChatTurn(settings, conv, model, PROMPT, options):
                if first is None and isinstance(event, TextDelta):
                    first = time.perf_counter()
            return (first - start) * 1000

        for _ in range(5):  # warm both paths and the server's prompt cache
            raw(), service()
        raws, services = [], []
        for _ in range(n):
            raws.append(raw())
            services.append(service())
    print(summary("TTFT raw openai SDK", raws))
    print(summary("TTFT chat service", services))
    added = [s - r for s, r in zip(services, raws, strict=True)]
    print(f"{'added TTFT (paired)':<28} p50={pct(added, 50):8.2f} ms  p95={pct(added, 95):8.2f} ms"
          f"  (goal: p50 <= 2 ms)")
    print(f"{'TTFT ratio p50':<28} {pct(services, 50) / pct(raws, 50):.3f}x")
    return pct(added, 50), pct(added, 95)


def throughput(runs: int, tokens: int) -> float:
    from lib import chat
    from lib.chat import ChatTurn, TurnOptions
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
        conv = chat.create_conversation(settings.db_path)
        turn = ChatTurn(settings, conv, model, text,
                        TurnOptions(temperature=0.0, max_tokens=tokens))
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
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=160)
    args = parser.parse_args()
    with scratch_data_dir():
        ttft(args.requests)
        throughput(args.runs, args.tokens)
