"""The eval machinery's overhead: an eval of 50 rows × 2 variants on the bundled model against
the same 100 generations made directly through llama-cpp-python in one loop.

Rows are titles from the public CISI collection (text we did not write), rendered by the
classifier prompt (both variants: its newest version and the one labelled production, as an
eval against production runs them). The direct loop sends each eval cell's own rendered
text with the lab's sampling (greedy, max 16 tokens), so both make the same tokens; the
generated token counts are printed to show it. Runs alternate (direct, eval, direct, eval)
and the ratio is of the medians. Goal: ≤ 1.05x.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import cisi_documents, scratch_data_dir

ROWS, MAX_TOKENS, ROUNDS = 50, 16, 2
EVAL = """\
[dataset]
path = "rows.jsonl"

[[variants]]
prompt = "classifier"
ref = "latest"
model = "local/smollm2-135m-instruct"
temperature = 0.0
max_tokens = {max_tokens}

[baseline]
ref = "production"

[[checks]]
kind = "max_tokens"
value = "{max_tokens}"
"""


def main() -> int:
    import json

    import llama_cpp

    from lib import compare, evals
    from lib.core import get_settings
    from lib.llm import bundled_model_path

    titles = [t for _, (t, _) in sorted(cisi_documents().items())][:ROWS]
    with scratch_data_dir(), tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        (folder / "rows.jsonl").write_text("".join(json.dumps({"text": t}) + "\n"
                                                   for t in titles))
        (folder / "bench.toml").write_text(EVAL.format(max_tokens=MAX_TOKENS))
        ef = evals.load(folder / "bench.toml")
        settings = get_settings()
        # Warm both: the lab's model loads on its first call, the direct one here.
        evals.judge(settings, evals.run_eval(settings, evals.load(_one_row(folder))))
        direct = llama_cpp.Llama(str(bundled_model_path()), n_ctx=settings.local_context_window,
                                 verbose=False)
        timings: dict[str, list[float]] = {"direct": [], "eval": []}
        tokens: dict[str, int] = {}
        texts: list[str] = []
        for _ in range(ROUNDS):
            if texts:
                t0 = time.perf_counter()
                produced = 0
                for text in texts:
                    out = direct.create_chat_completion(
                        [{"role": "user", "content": text}], max_tokens=MAX_TOKENS,
                        temperature=0.0, top_k=40, top_p=0.95, min_p=0.05,
                        repeat_penalty=1.1)
                    produced += out["usage"]["completion_tokens"]
                timings["direct"].append(time.perf_counter() - t0)
                tokens["direct"] = produced
            t0 = time.perf_counter()
            outcome = evals.run_eval(settings, ef)
            result = evals.judge(settings, outcome)
            timings["eval"].append(time.perf_counter() - t0)
            tokens["eval"] = sum(c.output_tokens for c in outcome.run.cells.values())
            assert result["status"] == "passed", result["findings"]
            texts = [outcome.run.cells[(r, v)].prompt_text for r in range(ROWS)
                     for v in range(2)]
        # One more direct round, so each measured eval has a direct round beside it.
        t0 = time.perf_counter()
        for text in texts:
            direct.create_chat_completion([{"role": "user", "content": text}],
                                          max_tokens=MAX_TOKENS, temperature=0.0, top_k=40,
                                          top_p=0.95, min_p=0.05, repeat_penalty=1.1)
        timings["direct"].append(time.perf_counter() - t0)
        runs = compare.list_runs(settings.db)
    direct_s, eval_s = statistics.median(timings["direct"]), statistics.median(timings["eval"])
    cells = ROWS * 2
    print(f"{cells} cells ({ROWS} CISI titles × 2 variants), max {MAX_TOKENS} tokens each; "
          f"{len(runs)} eval runs stored")
    print(f"direct llama-cpp-python loop  median {direct_s:7.2f} s  ({tokens['direct']} "
          f"tokens generated)  runs: {', '.join(f'{t:.2f}' for t in timings['direct'])}")
    print(f"promptlab eval (+ gate)       median {eval_s:7.2f} s  ({tokens['eval']} tokens "
          f"generated)  runs: {', '.join(f'{t:.2f}' for t in timings['eval'])}")
    ratio = eval_s / direct_s
    print(f"eval / direct = {ratio:.3f}x  (goal ≤ 1.05x)")
    return 0 if ratio <= 1.05 else 1


def _one_row(folder: Path) -> Path:
    (folder / "warm.jsonl").write_text('{"text": "warm up"}\n')
    path = folder / "warm.toml"
    path.write_text(EVAL.format(max_tokens=4).replace("rows.jsonl", "warm.jsonl"))
    return path


if __name__ == "__main__":
    sys.exit(main())
