"""A reply's context anatomy: what its call sent, band by band, against the model's window."""

from __future__ import annotations

import html

# Each band of the window, its colour and what it means (shown on hover and in the legend).
_PARTS = {"system": ("#94a3b8", "the system prompt"),
          "documents": ("#86efac", "retrieved chunks, sent with the system prompt"),
          "summary": ("#f9a8d4", "earlier messages, summarised and sent in their place"),
          "history": ("#c4b5fd", "earlier messages kept in the call"),
          "new message": ("#fdba74", "the message being sent"),
          "framing": ("#fcd34d", "roles, separators and the reply's priming around each "
                                 "message"),
          "reserved output": ("#cbd5e1", "room kept for the reply (max output tokens)"),
          "reserved thinking": ("#a5b4fc", "room kept for the model's thinking (its budget)")}


def anatomy_html(anatomy: dict, reported: int | None = None) -> str:
    """One call's context as a stacked bar against the model's window: every band named, and
    they add up to the total. `reported` is the provider's own input count, if it differs."""
    window = anatomy["window"] or 1
    segments, legend = [], []
    for part, (colour, meaning) in _PARTS.items():
        tokens = int(anatomy.get(part, 0))
        if not tokens:
            continue
        width = 100 * tokens / window
        segments.append(f'<div title="{part}: {tokens:,} tokens — {meaning}" '
                        f'style="width:{width:.2f}%;background:{colour}"></div>')
        legend.append(f'<span title="{meaning}"><i style="background:{colour}"></i>{part} '
                      f"{tokens:,}</span>")
    used = sum(int(anatomy.get(p, 0)) for p in _PARTS)
    sent = used - int(anatomy.get("reserved output", 0)) - int(anatomy.get("reserved thinking",
                                                                          0))
    counted = html.escape(str(anatomy.get("counter", "")))
    note = f" as counted by {counted}" if counted else ""
    if reported is not None and anatomy.get("counter") and reported != sent:
        note += f"; the provider counted {reported:,} input tokens"
    return ('<style>.pl-bar{display:flex;height:18px;border:1px solid rgba(128,128,128,.4);'
            "border-radius:4px;overflow:hidden}.pl-legend{font-size:.8rem;opacity:.85;"
            "margin-top:4px}.pl-legend span{margin-right:12px}.pl-legend i{display:inline-block;"
            "width:10px;height:10px;margin-right:4px;border-radius:2px}</style>"
            f'<div class="pl-bar">{"".join(segments)}</div><div class="pl-legend">'
            f'{"".join(legend)}<span>= {used:,} of a {window:,}-token window '
            f"({used / window:.0%}): {sent:,} sent{note}</span></div>")
