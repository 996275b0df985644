"""Workflow runs on a fake provider with fixed delays.

1. Fan-out: three independent steps (0.20, 0.25 and 0.30 s) against the slowest one alone,
   wall time, median of a few runs. Goal: ratio <= 1.10x (in turn it would be 2.5x).
2. The machinery's added time per step: a chain of five steps run as a workflow (its checks,
   forecast, threads, events, the stored run and steps) against the same five stored-prompt
   calls made one after another alone (lib.prompts.run: the template rendered, the call
   through the seam), the same ledger under both, interleaved.
   Goal: added p50 <= 2 ms per step.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

from common import paired, scratch_data_dir

MODEL = "openai/gpt-6.1-terra"


class FixedDelay:
    """Answers after the delay its request's text names (`[[0.25]]`), else at once."""

    name = "fixed"

    def stream(self, request) -> Iterator:
        import re

        from lib.llm import Stop, TextDelta, Usage

        m = re.search(r"\[\[([0-9.]+)\]\]", request.messages[-1].content)
        if m:
            time.sleep(float(m[1]))
        yield TextDelta("ok")
        yield Usage(10, 2)
        yield Stop("end_turn")


def step(sid: str, text: str) -> str:
    return (f'[[steps]]\nid = "{sid}"\nkind = "prompt"\nprompt = "summarizer"\n'
            f'model = "{MODEL}"\nmax_tokens = 20\ninputs = {{ text = "{text}" }}\n')


def main() -> None:
    from lib import prompts
    from lib.core import load_settings
    from lib.llm import Calls, LedgerRecorder
    from lib.workflows import WorkflowRun, parse, resolve

    with scratch_data_dir():
        settings = load_settings()
        provider = FixedDelay()
        calls = Calls(settings, recorder=LedgerRecorder(settings.db),
                      provider_for=lambda m: provider)

        def wall(text: str) -> float:
            resolved = resolve(settings, parse("bench", text))
            start = time.perf_counter()
            for _ in WorkflowRun(settings, resolved, {}, calls=calls):
                pass
            return time.perf_counter() - start

        fan = step("a", "[[0.20]]") + step("b", "[[0.25]]") + step("c", "[[0.30]]")
        alone = step("c", "[[0.30]]")
        wall(fan)  # warm: tokenizer, prompt store, database
        fans, alones = [], []
        for _ in range(7):
            fans.append(wall(fan))
            alones.append(wall(alone))
        f, a = statistics.median(fans), statistics.median(alones)
        print(f"{'fan-out of 3 (0.20/0.25/0.30 s)':<34} {f * 1000:8.1f} ms")
        print(f"{'slowest step alone (0.30 s)':<34} {a * 1000:8.1f} ms")
        print(f"{'fan-out / slowest alone':<34} {f / a:8.3f}x  (goal: <= 1.10x; in turn 2.5x)")

        n = 5
        chain = "".join(step(f"s{i}", f"s{i - 1}.output" if i else "go") for i in range(n))
        resolved = resolve(settings, parse("bench", chain))
        model = resolved.models["s0"].model

        def direct() -> float:
            start = time.perf_counter()
            text = "go"
            for _ in range(n):
                response = prompts.run(settings, "summarizer", "latest", {"text": text}, model,
                                       max_tokens=20, calls=calls)
                for _ in response:
                    pass
                text = response.text
            return (time.perf_counter() - start) * 1000 / n

        def workflow() -> float:
            start = time.perf_counter()
            for _ in WorkflowRun(settings, resolved, {}, calls=calls):
                pass
            return (time.perf_counter() - start) * 1000 / n

        for _ in range(5):
            direct(), workflow()
        base, ours = [], []
        for _ in range(100):
            base.append(direct())
            ours.append(workflow())
        paired("added per workflow step", "prompt calls alone, per call", base,
               "as a workflow, per step", ours, "p50 <= 2 ms")


if __name__ == "__main__":
    main()
