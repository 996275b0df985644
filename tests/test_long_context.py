"""Today's windows: a 1M-token window with 128K of output and a long history. The plan keeps
the newest turns that fit and no more, its bands add up, the anatomy bar draws them in
proportion, and planning again on a rerun reuses the counts already made."""

from __future__ import annotations

import re
import time

from lib.chat import plan_context
from lib.llm import Message, counter_for, load_catalog
from lib.ui.chat.anatomy import anatomy_html

SONNET = "anthropic/claude-sonnet-5-5"


def history(turns: int, words: int) -> list[Message]:
    return [Message("user" if i % 2 == 0 else "assistant",
                    f"turn {i}: " + " ".join(f"w{i}x{j}" for j in range(words)))
            for i in range(turns)]


def test_a_million_token_window_keeps_what_fits_of_a_longer_history(settings):
    model = load_catalog(settings).get(SONNET)
    assert (model.context_window, model.max_output) == (1_000_000, 128_000)
    counter = counter_for(model, settings)
    past = history(300, 3_000)  # well over the window: the oldest must go
    plan = plan_context(counter, model, "Be brief.", past, "And now?", max_output=128_000,
                        thinking=32_000)
    budget = 1_000_000 - 128_000 - 32_000
    assert 0 < plan.dropped < len(past) and plan.input_tokens <= budget
    # No more was left out than had to be: the next older message (or the pair that keeps
    # the history starting on a user turn) would not have fitted.
    older = sum(counter.count(m.content) + counter.message_overhead()
                for m in past[max(0, plan.dropped - 2):plan.dropped])
    assert plan.input_tokens + older > budget
    assert plan.messages[0].role == "user"
    assert sum(plan.bands().values()) == plan.used == plan.input_tokens + 160_000

    # The anatomy bar: each band's width is its share of the 1M window.
    bands = {k: v for k, v in plan.bands().items()}
    anatomy = {"window": model.context_window, "counter": counter.name,
               "reserved output": bands.pop("reserved output")} | bands
    widths = [float(w) for w in re.findall(r"width:([0-9.]+)%", anatomy_html(anatomy))]
    assert abs(sum(widths) - 100 * plan.used / 1_000_000) < 0.01 * len(widths)

    # A rerun plans again: the texts were counted once (a generous bound: a busy machine).
    start = time.perf_counter()
    again = plan_context(counter, model, "Be brief.", past, "And now?", max_output=128_000,
                         thinking=32_000)
    assert again == plan
    assert time.perf_counter() - start < 1.0
