"""Structured output on the bundled model, with and without the schema grammar.

The same 50 prompts (titles from the public CISI collection, text we did not write), a
3-field schema, the same instructions in the system prompt (the schema as text) — once
decoded freely, once constrained by the grammar llama.cpp builds from the schema. Prints the
valid-JSON rate of each, and the time cost of the grammar as a ratio (per reply and per
output token). Goal: every constrained reply valid.
"""

from __future__ import annotations

import json
import sys
import time

from common import cisi_documents

SCHEMA = {"type": "object", "properties": {
    "subject": {"type": "string", "maxLength": 80},
    "kind": {"enum": ["study", "review", "method", "history", "other"]},
    "keywords": {"type": "array", "items": {"type": "string", "maxLength": 30},
                 "maxItems": 3}},
    "required": ["subject", "kind", "keywords"], "additionalProperties": False}
N = 50


def main() -> int:
    from lib.core import load_settings
    from lib.llm import ChatRequest, Message, TextDelta, Usage, get_provider, validate

    local = get_provider("local", load_settings())
    titles = [title for _, (title, _) in sorted(cisi_documents().items())][:N]
    system = ("Describe the paper with this title. Reply with JSON matching this schema: "
              + json.dumps(SCHEMA))
    results = {}
    for mode in ("free", "grammar"):
        valid, seconds, tokens = 0, 0.0, 0
        for title in titles:
            request = ChatRequest("smollm2-135m-instruct", (Message("user", title),),
                                  system=system if mode == "free" else "Describe the paper "
                                  "with this title.", temperature=0.0, max_tokens=120,
                                  output_schema=SCHEMA if mode == "grammar" else None)
            start = time.perf_counter()
            text = ""
            for event in local.stream(request):
                if isinstance(event, TextDelta):
                    text += event.text
                elif isinstance(event, Usage):
                    tokens += event.output_tokens
            seconds += time.perf_counter() - start
            valid += validate(text, SCHEMA).ok
        results[mode] = (valid, seconds, tokens)
        print(f"{mode:8s} valid JSON {valid}/{N} ({valid / N:.0%}) · {seconds / N * 1000:,.0f} ms "
              f"per reply · {seconds / max(tokens, 1) * 1000:.1f} ms per output token")
    (fv, fs, ft), (gv, gs, gt) = results["free"], results["grammar"]
    print(f"grammar / free: time per reply x{gs / fs:.2f}, per output token "
          f"x{(gs / max(gt, 1)) / (fs / max(ft, 1)):.2f}; valid {gv}/{N} vs {fv}/{N}")
    return 0 if gv == N else 1


if __name__ == "__main__":
    sys.exit(main())
